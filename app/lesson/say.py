"""The recipe's phases in plain words, each with the step's own numbers: one or two sentences
per phase (0 sample … 4 update, 5 the whole step at once), shown one at a time as the learner
walks the step (templates/partials/recipe.html, ``[data-testid=recipe-say]``).

Read off the recipe's view (app.templating.recipe_view): the tokens as drawn (their labels,
and each predicted one's probability and loss as printed under it) and the raw probabilities
(``probs``) for the −ln p worked out in the loss phase.
"""

import math

BOS = "[BOS]"


def quote(label: str) -> str:
    return label if label == BOS else f"‘{label}’"


def after(labels: list[str], i: int) -> str:
    """Where position i's guess is made: after the character before it."""
    return "at the start of the name" if i == 0 else f"after {quote(labels[i])}"


def worst(probs: list[float]) -> int:
    """The position the model found most surprising (the lowest probability, the first)."""
    return min(range(len(probs)), key=lambda i: probs[i])


def sample(recipe: dict) -> str:
    n = recipe["n_positions"]
    shown = " ".join(t["label"] for t in recipe["tokens"])
    return (
        f"Sample: step {recipe['step']:,} takes the name “{recipe['doc']}” and reads it as "
        f"{shown}: {n} next characters to guess, each from the ones before it."
    )


def forward(recipe: dict) -> str:
    probs, labels = recipe["probs"], [t["label"] for t in recipe["tokens"]]
    preds = [t for t in recipe["tokens"] if t["kind"] == "pred"]
    best = max(range(len(probs)), key=lambda i: probs[i])
    return (
        f"Forward: the model runs over the name and, at each of its {len(probs)} positions, "
        f"gives every possible next character a chance. Its best guess was "
        f"{quote(labels[best + 1])} {after(labels, best)}, at {preds[best]['pct']}."
    )


def loss(recipe: dict) -> str:
    probs, labels = recipe["probs"], [t["label"] for t in recipe["tokens"]]
    i = worst(probs)
    p = probs[i]
    pct = [t for t in recipe["tokens"] if t["kind"] == "pred"][i]["pct"]
    nll = -math.log(p) if p > 0 else math.inf
    return (
        f"Loss: the model gave {quote(labels[i + 1])} a {pct} chance {after(labels, i)}, so "
        f"this position's loss is −ln {p:.3g} = {nll:.2f}. The step's loss is the mean over "
        f"all {len(probs)} positions: {recipe['loss']:.2f}."
    )


def backward(recipe: dict) -> str:
    return (
        f"Backward: every one of the {recipe['num_params']:,} parameters now knows which way "
        f"to move to make “{recipe['doc']}” more likely (all their gradients together: "
        f"‖grad‖ = {recipe['grad_norm']:.3f})"
    )


def update(recipe: dict) -> str:
    return (
        f"Update: Adam moves each of the {recipe['num_params']:,} parameters a little against "
        f"its gradient, by about the learning rate ({recipe['lr']:.3g}) or less. Then the "
        "training loop takes the next name."
    )


def whole(recipe: dict) -> str:
    return (
        f"Step {recipe['step']:,} in one go: it read “{recipe['doc']}”, scored a loss of "
        f"{recipe['loss']:.2f} (the mean −ln p over {recipe['n_positions']} positions), found "
        f"every gradient (‖grad‖ = {recipe['grad_norm']:.3f}) and nudged all "
        f"{recipe['num_params']:,} parameters at learning rate {recipe['lr']:.3g}."
    )


PHASES = (sample, forward, loss, backward, update, whole)


def phase_sentences(recipe: dict) -> list[str]:
    """What to say at each phase of the recipe's step, 0 sample … 4 update, 5 all at once."""
    return [say(recipe) for say in PHASES]
