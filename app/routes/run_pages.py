"""The page's runs: the run bar's list, the new-run form (with its parameter count and time
estimate), rename and delete (asked first). Forms are validated by the API's own ``RunIn``."""

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from app import limits as L
from app.contract.api import DatasetText, RunIn
from app.deps import RunsDep, identity
from app.errors import describe_validation_error
from app.runs.checkpoints import shipped_names
from app.runs.errors import ServiceError
from app.runs.estimates import estimate_step_seconds
from app.runs.registry import Runs
from app.templating import duration, templates
from engine import GPTConfig
from engine.data import EXAMPLES, MAX_TEXT_BYTES, load_example
from engine.model import num_params

router = APIRouter(prefix="/ui/runs", include_in_schema=False)

SHAPE_FIELDS = ("n_embd", "n_head", "n_layer", "block_size")
INT_FIELDS = ("seed", "steps", *SHAPE_FIELDS)
LIMITS = {
    "seed": L.SEED,
    "lr": L.LR,
    "steps": L.STEPS,
    "n_embd": L.N_EMBD,
    "n_head": L.N_HEAD,
    "n_layer": L.N_LAYER,
    "block_size": L.BLOCK_SIZE,
}


def render(name: str, **context: Any) -> str:
    return templates.get_template(f"partials/{name}.html").render(**context)


def go_to_run(request: Request, run_id: int) -> Response:
    """Open run ``run_id``'s page: htmx follows HX-Redirect, a plain form post a 303."""
    url = f"/?run={run_id}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def shape_text(n_embd: int, n_head: int, n_layer: int, block_size: int) -> str:
    layers = "layer" if n_layer == 1 else "layers"
    return f"{n_embd} wide · {n_head} heads · {n_layer} {layers} · context {block_size}"


def runs_view(runs: Runs, current: int) -> dict:
    listing = runs.listing()
    rows = []
    for r in listing.runs:
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "queue": r.queue_position,
                "step": r.step,
                "loss": None if r.loss is None else f"{r.loss:.3f}",
                "shape": shape_text(r.n_embd, r.n_head, r.n_layer, r.block_size),
                "num_params": r.num_params,
                "lr": f"{r.lr:g}",
                "seed": r.seed,
                "current": r.id == current,
            }
        )
    training = sum(1 for r in listing.runs if r.status == "training")
    return {
        "rows": rows,
        "current": current,
        "count": len(rows),
        "workers": listing.workers,
        "training": training,
        "queued": len(listing.queue),
    }


EXAMPLE_WORDS = {"elements": "chemical elements", "countries": "countries", "states": "US states"}


@lru_cache
def dataset_choices() -> list[tuple[str, str]]:
    """The new-run form's data choices: the names, each example (its size read from its
    file), or a list of one's own."""
    examples = [(n, f"{len(load_example(n)):,} {EXAMPLE_WORDS[n]}") for n in EXAMPLES]
    names = f"{shipped_names()[1]:,} names (microgpt's)"
    return [("names", names), *examples, ("own", "my own list…")]


@lru_cache
def example_vocab(name: str) -> int:
    return len(set("".join(load_example(name)))) + 1


def vocab_of(spec: RunIn) -> int | None:
    """The vocabulary the run will have (None: its own text's, not known before it is read)."""
    if isinstance(spec.dataset, DatasetText):
        return None
    return 27 if spec.dataset == "names" else example_vocab(spec.dataset)


def estimate(spec: RunIn) -> dict:
    vocab = vocab_of(spec)
    config = GPTConfig(
        vocab_size=vocab or 27,
        n_embd=spec.n_embd,
        n_head=spec.n_head,
        n_layer=spec.n_layer,
        block_size=spec.block_size,
    )
    per_step = estimate_step_seconds(config)
    return {
        "num_params": num_params(config),
        "step_ms": max(1, round(per_step * 1000)),
        "run": duration(per_step * spec.steps),
        "steps": spec.steps,
        "vocab": vocab,
    }


def new_run_form(spec: RunIn, values: dict | None = None, error: str | None = None) -> dict:
    values = values or {k: getattr(spec, k) for k in LIMITS}
    return {
        "typed": {
            "dataset": "names",
            "text": "",
            **values,
            "name": values.get("name") or "",
        },
        "datasets": dataset_choices(),
        "limits": {k: {"lo": b.lo, "hi": b.hi} for k, b in LIMITS.items()},
        "estimate": estimate(spec),
        "error": error,
        "name_max": L.RUN_NAME_CHARS,
    }


def parse_form(fields: dict[str, str | None]) -> tuple[RunIn, dict]:
    """The form's strings as ``RunIn`` (a ValueError naming the first bad field)."""
    values: dict[str, Any] = {}
    fields = dict(fields)
    text = fields.pop("text", None)
    if fields.get("dataset") == "own":
        fields.pop("dataset")
        values["dataset"] = {"text": text or ""}
    for key, raw in fields.items():
        raw = (raw or "").strip()
        if raw == "":
            continue
        if key in INT_FIELDS:
            try:
                values[key] = int(raw)
            except ValueError:
                raise ValueError(
                    f"{key} {raw[:40]!r} is not a whole number: {LIMITS[key].allowed()}"
                ) from None
        elif key == "lr":
            try:
                values[key] = float(raw)
            except ValueError:
                raise ValueError(f"lr {raw[:40]!r} is not a number: {L.LR.allowed()}") from None
        else:
            values[key] = raw
    try:
        return RunIn(**values), values
    except ValidationError as e:
        first = e.errors()[0]
        message = describe_validation_error({**first, "loc": ("form", *first["loc"])})
        raise ValueError(message) from None


FormStr = Annotated[str | None, Form()]


@router.get("", response_class=HTMLResponse)
async def ui_runs(runs: RunsDep, current: int = 0) -> HTMLResponse:
    """The run bar's list (polled while open)."""
    return HTMLResponse(render("runs", runs=runs_view(runs, current)))


class RunFields(BaseModel):
    """The new-run form's fields as typed: strings, turned into ``RunIn`` by ``parse_form``
    (an empty field takes microgpt's default)."""

    name: str | None = None
    dataset: str | None = None  # names, an example, or "own": then text (or a file) is the list
    text: str | None = None
    seed: str | None = None
    lr: str | None = None
    steps: str | None = None
    n_embd: str | None = None
    n_head: str | None = None
    n_layer: str | None = None
    block_size: str | None = None


@router.get("/estimate", response_class=HTMLResponse)
async def ui_estimate(fields: Annotated[RunFields, Query()]) -> HTMLResponse:
    """The new-run form's parameter count and time estimate, as its fields change."""
    try:
        spec, _ = parse_form(fields.model_dump(exclude={"name", "text"}))
    except ValueError as e:
        return HTMLResponse(render("run_estimate", estimate=None, error=str(e)))
    return HTMLResponse(render("run_estimate", estimate=estimate(spec), error=None))


@router.post("", response_class=HTMLResponse)
async def ui_create_run(
    request: Request, runs: RunsDep, fields: Annotated[RunFields, Form()]
) -> Response:
    """Create a run from the form (validated by RunIn) and open it; a bad field is named in the
    form, which keeps what was typed."""
    typed, spec = fields.model_dump(), None
    try:
        if typed["dataset"] == "own":
            typed["text"] = await uploaded_text(request) or typed["text"]
        spec, _ = parse_form(typed)
        service = await runs.create(spec)
    except (ValueError, ServiceError) as e:
        typed = {k: (v or "") for k, v in typed.items()}
        form = new_run_form(spec or RunIn(), typed, getattr(e, "detail", None) or str(e))
        return HTMLResponse(render("run_form", form=form), status_code=422)
    return go_to_run(request, service.id)


async def uploaded_text(request: Request) -> str | None:
    """The list in the form's file field ``file``, if one was chosen (UTF-8 text)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    raw = await upload.read(MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        raise ValueError(f"the file {upload.filename} is over {MAX_TEXT_BYTES:,} bytes (1 MiB)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"the file {upload.filename} is not UTF-8 text: {e.reason} at byte {e.start}"
        ) from None


@router.post("/{run_id}/rename", response_class=HTMLResponse)
async def ui_rename_run(
    request: Request, runs: RunsDep, run_id: int, name: FormStr = None
) -> HTMLResponse:
    name = (name or "").strip()
    try:
        request.app.state.classes.check_control(runs.get(run_id), identity(request))
        if not name or len(name) > L.RUN_NAME_CHARS:
            raise ValueError(f"a run's name has 1 to {L.RUN_NAME_CHARS} characters")
        service = await runs.rename(run_id, name)
    except (ValueError, ServiceError) as e:
        service = runs.services.get(run_id)
        message = getattr(e, "detail", None) or str(e)
        return HTMLResponse(
            render("run_manage", run=manage_view(service, message) if service else None),
            getattr(e, "status_code", 422),
        )
    return HTMLResponse(render("run_manage", run=manage_view(service, "renamed")))


def manage_view(service, message: str | None = None, ask: bool = False) -> dict:
    return {
        "id": service.id,
        "name": service.name,
        "step": service.step,
        "status": service.status,
        "message": message,
        "ask": ask,
    }


@router.get("/{run_id}/manage", response_class=HTMLResponse)
async def ui_manage_run(runs: RunsDep, run_id: int, ask: str | None = None) -> HTMLResponse:
    """Rename and delete for one run; ``ask=delete`` puts the question in the button's place."""
    try:
        service = runs.get(run_id)
    except ServiceError as e:
        return HTMLResponse(render("run_manage", run=None, message=e.detail), 404)
    return HTMLResponse(render("run_manage", run=manage_view(service, ask=ask == "delete")))


@router.post("/{run_id}/delete", response_class=HTMLResponse)
async def ui_delete_run(
    request: Request, runs: RunsDep, run_id: int, confirm: FormStr = None
) -> Response:
    """Delete the run once confirmed (``confirm=yes``), then open the default run."""
    try:
        service = runs.get(run_id)
    except ServiceError as e:
        return HTMLResponse(render("run_manage", run=None, message=e.detail), 404)
    try:
        request.app.state.classes.check_control(service, identity(request))
    except ServiceError as e:
        return HTMLResponse(render("run_manage", run=manage_view(service, e.detail)), 403)
    if confirm != "yes":
        return HTMLResponse(render("run_manage", run=manage_view(service, ask=True)))
    await runs.delete(run_id)
    return go_to_run(request, runs.default_id)
