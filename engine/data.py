"""The dataset (one document per line) and the character-level tokenizer."""

from importlib import resources

from engine.errors import EngineError

BOS_LABEL = "[BOS]"


def parse_docs(text):
    """Documents are the lines stripped of whitespace, empty lines dropped, in file order."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_names():
    """The 32,033 names shipped with the package (names.txt, MIT licence)."""
    text = resources.files("engine").joinpath("data/names.txt").read_text(encoding="utf-8")
    return parse_docs(text)


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

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def label(self, token_id):
        return BOS_LABEL if token_id == self.bos else self.chars[token_id]

    def labels(self):
        """Display labels of the whole vocabulary, in id order."""
        return [*self.chars, BOS_LABEL]
