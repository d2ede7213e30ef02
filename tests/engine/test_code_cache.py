"""Compiled steps kept on disk (engine.code_cache): the second process to train a shape loads
its step instead of compiling it, and gets the same step; a damaged file, a folder that cannot
be written or no folder at all only mean compiling as before."""

import pytest

from engine import code_cache
from engine.compiled import compiled_step, object_loss_and_grads
from engine.model import GPTConfig, num_params

SMALL = GPTConfig(n_embd=8, n_head=2, block_size=4)
SOURCE = "def f(x):\n    return 3 * x + 1\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(folder))
    return folder


def run(code) -> int:
    namespace = {}
    exec(code, namespace)
    return namespace["f"](2)


def no_compiling(monkeypatch):
    def refuse(*args):
        raise AssertionError("compiled again instead of loaded")

    monkeypatch.setattr(code_cache, "compile", refuse, raising=False)


def test_a_compiled_source_is_kept_and_loaded_back_instead_of_compiled(cache, monkeypatch):
    assert run(code_cache.cached_compile(SOURCE, "<f>")) == 7
    assert len(list(cache.glob("step-*.bin"))) == 1
    no_compiling(monkeypatch)
    loaded = code_cache.cached_compile(SOURCE, "<f>")
    assert run(loaded) == 7 and loaded.co_filename == "<f>"
    # another source, or the same under another name, is not that file
    with pytest.raises(AssertionError, match="compiled again"):
        code_cache.cached_compile(SOURCE.replace("3", "4"), "<f>")
    with pytest.raises(AssertionError, match="compiled again"):
        code_cache.cached_compile(SOURCE, "<g>")


def test_a_step_loaded_from_the_cache_is_the_object_engines_step(cache, monkeypatch):
    compiled_step.__wrapped__(SMALL)  # compiles, and keeps it
    no_compiling(monkeypatch)
    step = compiled_step.__wrapped__(SMALL)  # loaded (lru_cache passed by)
    w = [((i * 7919) % 201 - 100) / 1000 for i in range(num_params(SMALL))]
    tokens = [26, 4, 12, 12, 0, 26]
    loss, probs, grads = step(w, tokens)
    assert (loss, list(probs), list(grads)) == object_loss_and_grads(SMALL, w, tokens)


@pytest.mark.parametrize(
    "damage", [b"", b"\x00garbage", b"\xe3" * 10], ids=["empty", "garbage", "cut"]
)
def test_a_damaged_file_is_compiled_again_and_replaced(cache, damage):
    code_cache.cached_compile(SOURCE, "<f>")
    (path,) = cache.glob("step-*.bin")
    path.write_bytes(damage)
    assert run(code_cache.cached_compile(SOURCE, "<f>")) == 7
    assert path.read_bytes() != damage


def test_a_folder_that_cannot_be_written_only_means_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(blocker / "cache"))
    assert run(code_cache.cached_compile(SOURCE, "<f>")) == 7
    assert list(tmp_path.iterdir()) == [blocker]


def test_an_empty_cache_dir_setting_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert code_cache.cache_dir() is None
    assert run(code_cache.cached_compile(SOURCE, "<f>")) == 7
    assert list(tmp_path.iterdir()) == []


def test_the_cache_keeps_the_newest_files_only(cache, monkeypatch):
    monkeypatch.setattr(code_cache, "MAX_FILES", 2)
    for k in range(4):
        code_cache.cached_compile(SOURCE.replace("1", str(k + 10)), "<f>")
    assert len(list(cache.glob("step-*.bin"))) == 2
    no_compiling(monkeypatch)
    code_cache.cached_compile(SOURCE.replace("1", "13"), "<f>")  # the newest is kept
