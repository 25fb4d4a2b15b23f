"""crypto.atomic: the target is the old file or the whole new one; temporaries never stay."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from crypto.atomic import atomic_open, atomic_write_bytes, atomic_write_text


def test_writes_and_replaces_with_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "key.json"
    atomic_write_text(target, "一\n")
    assert target.read_bytes() == "一\n".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write_bytes(target, b"\x00\x01", mode=0o644)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["key.json"]


def test_a_failure_mid_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk"):
        with atomic_open(target, "binary") as fh:
            fh.write(b"half of the new")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_text_mode_writes_unix_line_ends(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    with atomic_open(target) as fh:
        fh.write("a,b\r\n1,2\n")
    assert target.read_bytes() == b"a,b\r\n1,2\n"
