"""The dataset (one document per line) and the character-level tokenizer."""

import math
import random
import unicodedata
from functools import lru_cache
from importlib import resources

from engine.errors import EngineError

BOS_LABEL = "[BOS]"

# A dataset of one's own (pasted or uploaded text): what a checkpoint can carry
MAX_TEXT_BYTES = 1024 * 1024
MAX_DOCS = 100_000
MAX_DOC_CHARS = 1_000
MAX_CHARS = 200  # distinct characters (the vocabulary, [BOS] aside)
EXAMPLES = ("elements", "countries", "states")  # engine/data/examples/<name>.txt

# Held-out documents: the last tenth of the shuffled list (at least one, when there are two or
# more) is never trained on; a fixed sample of it (its first VALIDATION_SAMPLE) scores the model.
HELD_OUT_FRACTION = 0.1
VALIDATION_SAMPLE = 32


def held_out_count(n):
    """How many of n documents are kept apart: 32,033 names → 3,204 (28,829 to train on)."""
    return 0 if n < 2 else max(1, math.ceil(n * HELD_OUT_FRACTION))


def train_count(n):
    return n - held_out_count(n)


def parse_docs(text):
    """Documents are the lines stripped of whitespace, empty lines dropped, in file order."""
    return [line.strip() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=1)
def _shipped_names():
    text = resources.files("engine").joinpath("data/names.txt").read_text(encoding="utf-8")
    return tuple(parse_docs(text))


def load_names():
    """The 32,033 names shipped with the package (names.txt, MIT licence), a new list (read
    and parsed once per process)."""
    return list(_shipped_names())


@lru_cache(maxsize=8)
def names_in_order(seed):
    """The shipped names in the order a model of ``seed`` trains on them, and the state of
    its random stream after that shuffle (its first use of the stream, as in the original;
    the weights are drawn next). A model made and then loaded, or a class's students made one
    after another, shuffle 32,033 names (~30 ms) once, not each time; the newest few kept."""
    docs = load_names()
    rng = random.Random(seed)
    rng.shuffle(docs)
    return tuple(docs), rng.getstate()


def load_example(name):
    """One of the small example datasets shipped with the package (engine/data/examples)."""
    if name not in EXAMPLES:
        raise EngineError(f"no example dataset {name!r}: the examples are {', '.join(EXAMPLES)}")
    path = resources.files("engine").joinpath(f"data/examples/{name}.txt")
    return parse_docs(path.read_text(encoding="utf-8"))


def _char_name(ch):
    kind = {"Cc": "a control character", "Cf": "an invisible format character"}
    name = unicodedata.name(ch, "") or kind.get(unicodedata.category(ch), "unassigned")
    return f"U+{ord(ch):04X} ({name})"


def check_text(text):
    """The documents of a dataset typed or uploaded: one per line (surrounding spaces and
    blank lines dropped), each line checked; an EngineError names the line, the character or
    the limit that is wrong."""
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise EngineError(f"the text is {size:,} bytes; a dataset holds at most {MAX_TEXT_BYTES:,}")
    docs, chars = [], set()
    for number, line in enumerate(text.split("\n"), start=1):
        doc = line.strip()
        if not doc:
            continue
        if len(doc) > MAX_DOC_CHARS:
            raise EngineError(
                f"line {number:,} has {len(doc):,} characters; a document has at most "
                f"{MAX_DOC_CHARS:,}"
            )
        for ch in doc:
            if unicodedata.category(ch)[0] in "CZ" and ch != " ":
                raise EngineError(
                    f"line {number:,} holds {_char_name(ch)}, which is not a printable "
                    "character: a document holds letters, digits, punctuation and spaces"
                )
            if ch not in chars:
                chars.add(ch)
                if len(chars) > MAX_CHARS:
                    raise EngineError(
                        f"line {number:,} brings a {MAX_CHARS + 1}st distinct character, "
                        f"{ch!r}: a dataset uses at most {MAX_CHARS}"
                    )
        docs.append(doc)
        if len(docs) > MAX_DOCS:
            raise EngineError(
                f"line {number:,} is document {len(docs):,}: a dataset holds at most "
                f"{MAX_DOCS:,} documents"
            )
    if not docs:
        raise EngineError("the dataset has no documents: every line is blank")
    return docs


def read_docs(path):
    """Documents from a text file of one document per line."""
    try:
        with open(path, encoding="utf-8") as f:
            docs = parse_docs(f.read())
    except (OSError, UnicodeDecodeError) as e:
        raise EngineError(f"cannot read dataset {path}: {e}") from None
    if not docs:
        raise EngineError(f"dataset {path} has no documents (every line is empty)")
    return docs


@lru_cache(maxsize=1)
def _names_chars():
    return tuple(sorted(set("".join(_shipped_names()))))


def names_tokenizer():
    """The shipped names' tokenizer (``Tokenizer.from_docs(load_names())``, its characters
    found once per process)."""
    return Tokenizer(_names_chars())


class Tokenizer:
    """Characters get ids 0..len-1 in sorted order; BOS (begin/end of a document) comes last."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_docs(cls, docs):
        if not docs:
            raise EngineError("the dataset is empty: at least one non-empty document is needed")
        return cls(sorted(set("".join(docs))))

    def allowed(self):
        return "".join(self.chars)

    def encode(self, text):
        ids = []
        for ch in text:
            if ch not in self._ids:
                raise EngineError(
                    f"character {ch!r} is not in the vocabulary; allowed: {self.allowed()}"
                )
            ids.append(self._ids[ch])
        return ids

    def tokens(self, doc):
        """A document's token ids as a step reads them: BOS, its characters, BOS."""
        return [self.bos, *self.encode(doc), self.bos]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def label(self, token_id):
        return BOS_LABEL if token_id == self.bos else self.chars[token_id]

    def labels(self):
        """Display labels of the whole vocabulary, in id order."""
        return [*self.chars, BOS_LABEL]
