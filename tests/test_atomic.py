"""sg2tf.utils.atomic: outputs appear complete or not at all."""

import os

import pytest

from sg2tf.utils import atomic


def _siblings(folder):
    return sorted(os.listdir(folder))


def test_dir_appears_when_complete(tmp_path):
    final = tmp_path / "out" / "snap"
    with atomic.atomic_dir(final) as tmp:
        assert not final.exists() and os.path.isdir(tmp) and not os.listdir(tmp)
        assert os.path.dirname(tmp) == str(final.parent) and os.path.basename(tmp).startswith(".snap.tmp-")
        with open(os.path.join(tmp, "a.txt"), "w") as f:
            f.write("new")
    assert (final / "a.txt").read_text() == "new"
    assert _siblings(final.parent) == ["snap"]


def test_dir_replaces_existing_only_when_complete(tmp_path):
    final = tmp_path / "snap"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(final) as tmp:
            open(os.path.join(tmp, "half.txt"), "w").close()
            raise RuntimeError("failed half-way")
    assert _siblings(tmp_path) == ["snap"] and _siblings(final) == ["old.txt"]
    with atomic.atomic_dir(final, durable=True) as tmp:
        os.makedirs(os.path.join(tmp, "sub"))
        (tmp_path / tmp / "sub" / "new.txt").write_text("new")
    assert _siblings(tmp_path) == ["snap"] and _siblings(final) == ["sub"]


def test_dir_interrupt_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_dir(tmp_path / "x"):
            raise KeyboardInterrupt
    assert _siblings(tmp_path) == []


def test_check_runs_before_and_after(tmp_path):
    calls = []

    def check():
        calls.append(1)
        if (tmp_path / "x").exists():
            raise FileExistsError("x exists")

    with pytest.raises(FileExistsError):
        with atomic.atomic_dir(tmp_path / "x", check=check):
            (tmp_path / "x").mkdir()  # someone else made it meanwhile
    assert len(calls) == 2 and _siblings(tmp_path) == ["x"]
    with pytest.raises(FileExistsError):
        with atomic.atomic_dir(tmp_path / "x", check=check):
            pytest.fail("the block must not run when the first check refuses")


def test_file_keeps_suffix_and_replaces(tmp_path):
    final = tmp_path / "grid.png"
    final.write_bytes(b"old")
    with atomic.atomic_file(final) as tmp:
        assert tmp.endswith(".png") and os.path.basename(tmp).startswith(".grid.png.tmp-")
        assert final.read_bytes() == b"old"
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert final.read_bytes() == b"new" and _siblings(tmp_path) == ["grid.png"]
    with pytest.raises(ValueError):
        with atomic.atomic_file(final) as tmp:
            open(tmp, "wb").close()
            raise ValueError
    assert final.read_bytes() == b"new" and _siblings(tmp_path) == ["grid.png"]


def test_empty_path_is_refused():
    with pytest.raises(ValueError, match="empty output path"):
        with atomic.atomic_dir(""):
            pass
