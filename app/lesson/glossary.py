"""The lesson's words, each in at most two sentences a 15-year-old can read.

The page serves them as a glossary (``templates/partials/glossary.html``); every panel that shows
one of these words links it here by its ``slug`` (``#term-<slug>``).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    slug: str
    term: str
    text: str


GLOSSARY: tuple[Term, ...] = (
    Term(
        "parameter",
        "parameter",
        "One of the model's 4,064 adjustable numbers. Training is nothing but nudging all of "
        "them, a little at a time.",
    ),
    Term(
        "loss",
        "loss",
        "How surprised the model was by the right answer: 0 means it was sure and right. "
        "A step's loss is the mean over the positions of its name.",
    ),
    Term(
        "neg-log",
        "−ln p",
        "The loss at one position: minus the natural log of the chance p the model gave the "
        "right next character. p = 0.5 costs 0.69, p = 0.06 costs 2.81, p = 1 costs nothing.",
    ),
    Term(
        "gradient",
        "gradient",
        "For each parameter, how much the loss would change if that parameter grew a tiny bit. "
        "Its sign says which way to move to lower the loss.",
    ),
    Term(
        "grad-norm",
        "‖grad‖",
        "The size of all the gradients together (the square root of the sum of their squares). "
        "Big means this step pushed the model hard.",
    ),
    Term(
        "backward",
        "backward",
        "The pass that walks the step's computation from the loss back to every parameter, "
        "using the chain rule, to find each one's gradient.",
    ),
    Term(
        "learning-rate",
        "learning rate",
        "How big a nudge each update may give (0.01 by default, shrinking to 0 by the last step). "
        "Too big and training jumps around; too small and it crawls.",
    ),
    Term(
        "adam",
        "Adam (m, √v)",
        "The rule that turns gradients into nudges. It keeps m, a running average of each "
        "gradient, and √v, of its typical size, and moves each parameter by about lr · m / √v.",
    ),
    Term(
        "update",
        "update",
        "The change Adam makes to every parameter at the end of a step. After it, the same name "
        "would get a slightly lower loss.",
    ),
    Term(
        "training-step",
        "training step",
        "One round of the recipe on one name: sample it, run the model forward, measure the "
        "loss, go backward, update every parameter.",
    ),
    Term(
        "training-loop",
        "training loop",
        "The code that repeats the training step num_steps times (500 by default). Each time "
        "round, the model sees the next name.",
    ),
    Term(
        "epoch",
        "epoch",
        "One pass over every training name. 500 steps see 500 names: under 2% of one epoch "
        "over the 28,829 names the default model trains on.",
    ),
    Term(
        "held-out",
        "held-out",
        "Names kept apart and never trained on. The loss on them shows whether the model learned "
        "names in general or just memorised its own.",
    ),
    Term(
        "logits",
        "logits",
        "The model's raw score for each possible next character, before softmax turns the "
        "scores into chances.",
    ),
    Term(
        "softmax",
        "softmax",
        "Turns scores into chances that add up to 100%: it raises e to each score and divides "
        "by the total, so higher scores get bigger shares.",
    ),
    Term(
        "attention-head",
        "attention head",
        "A part of the model that looks back at the earlier characters and decides which ones "
        "matter for guessing the next. This model has 4, each looking in its own way.",
    ),
    Term(
        "bos",
        "BOS",
        "A special token that marks where a name begins and ends (“beginning of sequence”). "
        "Every name is read as BOS, its letters, BOS.",
    ),
    Term(
        "matrices",
        "wte, wpe, lm_head",
        "The model's main tables: wte holds a vector for each character (token embedding), wpe "
        "one for each position, and lm_head turns the final vector into logits.",
    ),
)

TERMS = {t.slug: t for t in GLOSSARY}
