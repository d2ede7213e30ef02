"""A new run's checkpoint and settings: fresh, like another run (Reset), or from one of its
steps (Fork)."""

import asyncio
import json

from app import limits as L
from app.contract.api import DATASETS, DatasetText, ForkIn, RunIn
from app.runs.checkpoints import LoadedModel, loaded_model, validate_checkpoint
from app.runs.errors import BadInput
from app.runs.service import RunService
from engine import EngineError, GPTConfig, Trainer
from engine.checkpoint import at_step
from engine.data import check_text, load_example


def documents(spec: RunIn) -> list[str] | None:
    """The run's documents: None for the shipped names, an example's, or the text given
    (checked line by line: an EngineError names what is wrong)."""
    if isinstance(spec.dataset, DatasetText):
        return check_text(spec.dataset.text)
    return None if spec.dataset == "names" else load_example(spec.dataset)


def fresh_checkpoint(spec: RunIn) -> tuple[str, LoadedModel]:
    """A new model of ``spec``: its checkpoint's JSON, and the model as loading it would give
    (made here from the trainer: a class's joins do not parse what they just wrote)."""
    config = GPTConfig(
        n_embd=spec.n_embd, n_head=spec.n_head, n_layer=spec.n_layer, block_size=spec.block_size
    )
    trainer = Trainer(docs=documents(spec), config=config, seed=spec.seed, lr=spec.lr)
    d = trainer.to_dict()
    return json.dumps(d), loaded_model(d, trainer.predictor())


def settings_of(spec: RunIn) -> dict:
    """What the run list shows of its settings (its own text is in its checkpoint)."""
    dataset = "own" if isinstance(spec.dataset, DatasetText) else spec.dataset
    return {**spec.model_dump(exclude={"name", "dataset"}), "dataset": dataset}


def checkpoint_settings(d: dict, steps: int) -> dict:
    """The run settings an uploaded checkpoint amounts to."""
    c = d["config"]
    return {
        "seed": d["seed"],
        "lr": d["lr"],
        "steps": steps,
        **{k: c[k] for k in ("n_embd", "n_head", "n_layer", "block_size")},
        "dataset": d.get("dataset", "names"),
    }


def reset_spec(source: RunService, seed: int | None) -> RunIn:
    """A fresh run with ``source``'s settings and data (and maybe another seed)."""
    rs = source.run_settings
    dataset = rs.get("dataset", "names")
    if dataset not in DATASETS:  # its own text (or a model file's): the same documents
        dataset = DatasetText(text="\n".join(sorted(source.documents)))
    return RunIn(
        seed=source.seed if seed is None else seed,
        lr=rs.get("lr", source.lr),
        steps=rs.get("steps", L.STEPS.default),
        n_embd=source.config.n_embd,
        n_head=source.config.n_head,
        n_layer=source.config.n_layer,
        block_size=source.config.block_size,
        dataset=dataset,
    )


async def forked_checkpoint(source: RunService, spec: ForkIn) -> str:
    """``source``'s checkpoint as it was after step ``spec.step``: its weights and Adam
    moments there (rebuilt by app.past), validated like an upload."""
    step = spec.step
    frame = await source.params_at(step)  # BadInput naming the range if not in the history
    if frame.m is None:
        raise BadInput(
            f"step {step}'s Adam moments were not kept (the model was stored before they "
            f"were), so a run cannot go on from it exactly; fork from step "
            f"{source.checkpoint_step} or later"
        )
    data, _ = await source.checkpoint()

    def build() -> tuple[str, int]:
        forked = at_step(json.loads(data), step, frame.values, frame.m, frame.v)
        if spec.lr is not None:
            forked["lr"] = spec.lr
        return validate_checkpoint(json.dumps(forked, allow_nan=False).encode())

    try:
        data, _ = await asyncio.to_thread(build)
    except EngineError as e:
        raise BadInput(str(e)) from None
    return data


def fork_settings(source: RunService, spec: ForkIn) -> dict:
    """The forked run's settings: its own for what follows, and where it came from."""
    rs = source.run_settings
    return {
        **rs,
        "seed": source.seed,
        "lr": spec.lr if spec.lr is not None else source.lr,
        "steps": spec.steps or rs.get("steps", L.STEPS.default),
        "dataset": rs.get("dataset", source.dataset),
        "parent": source.id,
        "parent_step": spec.step,
    }
