"""The one atomic writer: the previous file or the new one, never a torn file; modes kept."""

from __future__ import annotations

import os
import stat

import pytest

from streamgmm._io.atomic import atomic_path, current_umask, write_bytes


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_the_umask_mode(tmp_path):
    path = tmp_path / "new.bin"
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        write_bytes(path, b"data")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"data" and mode(path) == 0o640


@pytest.mark.parametrize("before", [0o644, 0o600, 0o664])
def test_replacing_a_file_keeps_its_mode(tmp_path, before):
    path = tmp_path / "kept.bin"
    path.write_bytes(b"old")
    os.chmod(path, before)
    write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and mode(path) == before


def test_a_failure_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.bin"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="computation failed"), atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"half of the new")
        raise RuntimeError("computation failed")
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["result.bin"]


def test_a_missing_folder_is_named(tmp_path):
    path = tmp_path / "no" / "such" / "out.bin"
    with pytest.raises(FileNotFoundError, match=f"cannot write {path}: its folder does not exist"):
        write_bytes(path, b"x")
