"""A CRI log path below the sandbox's log directory cannot be turned against a host file.

A container that mounts its pod's log folder can plant symlinks, FIFOs and
hard links there before the shim (re)opens a log; none of them may make the
shim write, truncate or block on anything else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shim import hostfs
from shim.logs.copier import LogFile, LogFileBusy
from shim.logs.resume import parse as parse_line

LINE = b"2026-01-01T00:00:00.000000001Z stdout F hello\n"


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    victim = tmp_path / "host" / "passwd"
    victim.parent.mkdir()
    victim.write_bytes(b"root:x:0:0\n")
    return victim


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pods" / "ns_pod_uid"
    directory.mkdir(parents=True)
    return directory


def test_a_symlink_at_the_log_path_is_refused_and_its_target_untouched(
    log_dir: Path, host_file: Path
) -> None:
    (log_dir / "app").mkdir()
    (log_dir / "app" / "0.log").symlink_to(host_file)
    with pytest.raises(hostfs.UnsafePath, match="symbolic link"):
        LogFile(str(log_dir), "app/0.log").open()
    assert host_file.read_bytes() == b"root:x:0:0\n"


def test_a_symlinked_directory_below_the_log_directory_is_refused(
    log_dir: Path, host_file: Path
) -> None:
    (log_dir / "app").symlink_to(host_file.parent)
    with pytest.raises(hostfs.UnsafePath, match="not a directory"):
        LogFile(str(log_dir), "app/passwd").open()
    assert host_file.read_bytes() == b"root:x:0:0\n"
    assert sorted(os.listdir(host_file.parent)) == ["passwd"]


def test_a_rotation_that_plants_a_symlink_is_refused_on_reopen(
    log_dir: Path, host_file: Path
) -> None:
    file = LogFile(str(log_dir), "0.log")
    file.open()
    (log_dir / "0.log").rename(log_dir / "0.log.1")
    (log_dir / "0.log").symlink_to(host_file)
    with pytest.raises(hostfs.UnsafePath):
        file.reopen()
    file.close()
    assert host_file.read_bytes() == b"root:x:0:0\n"


def test_a_fifo_at_the_log_path_is_refused_without_blocking(log_dir: Path) -> None:
    os.mkfifo(log_dir / "0.log")
    with pytest.raises(hostfs.UnsafePath, match="not a regular file"):
        LogFile(str(log_dir), "0.log").open()


def test_a_hard_link_at_the_log_path_is_refused(log_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.log"
    outside.write_bytes(LINE + b"2026-01-01T00:00:01")
    os.link(outside, log_dir / "0.log")
    with pytest.raises(hostfs.UnsafePath, match="hard links"):
        LogFile(str(log_dir), "0.log").open()
    assert outside.read_bytes() == LINE + b"2026-01-01T00:00:01"


def test_a_file_that_is_no_cri_log_is_neither_truncated_nor_written(log_dir: Path) -> None:
    (log_dir / "0.log").write_bytes(b"precious data without a newline")
    with pytest.raises(hostfs.UnsafePath, match="not a CRI log"):
        LogFile(str(log_dir), "0.log").open()
    assert (log_dir / "0.log").read_bytes() == b"precious data without a newline"


def test_a_torn_last_line_of_a_cri_log_is_cut(log_dir: Path) -> None:
    (log_dir / "0.log").write_bytes(LINE + b"2026-01-01T00:00:01.0000Z std")
    file = LogFile(str(log_dir), "0.log")
    resume = file.open()
    file.close()
    assert (log_dir / "0.log").read_bytes() == LINE
    assert resume is not None


def test_a_log_file_another_writer_holds_is_refused_and_its_torn_line_kept(
    log_dir: Path,
) -> None:
    """Two shims on one dockerd: the second leaves the log alone (it would double every line)."""
    writer = LogFile(str(log_dir), "0.log")
    writer.open()
    half_written = LINE + b"2026-01-01T00:00:01.0000Z std"
    (log_dir / "0.log").write_bytes(half_written)
    with pytest.raises(LogFileBusy, match="another log copier"):
        LogFile(str(log_dir), "0.log").open()
    assert (log_dir / "0.log").read_bytes() == half_written
    writer.close()
    # The lock goes with its holder (a killed shim's too): the next writer resumes.
    successor = LogFile(str(log_dir), "0.log")
    assert successor.open() is not None
    successor.close()


def test_a_reopen_onto_a_file_another_writer_holds_is_refused(log_dir: Path) -> None:
    file = LogFile(str(log_dir), "0.log")
    file.open()
    (log_dir / "0.log").rename(log_dir / "0.log.1")
    other = LogFile(str(log_dir), "0.log")
    other.open()
    with pytest.raises(LogFileBusy):
        file.reopen()
    assert file.is_open  # still writing the rotated file, as before the request
    other.close()
    file.reopen()
    file.close()


def test_a_reopen_without_a_rotation_keeps_writing_the_same_file(log_dir: Path) -> None:
    """ReopenContainerLog with nothing renamed: the copier's own lock is no other writer's."""
    file = LogFile(str(log_dir), "0.log")
    file.open()
    file.reopen()
    file.reopen()
    file.write([parse_line(LINE)])
    file.close()
    assert (log_dir / "0.log").read_bytes() == LINE


def test_missing_directories_below_the_log_directory_are_created(log_dir: Path) -> None:
    file = LogFile(str(log_dir), "app/sub/0.log")
    file.open()
    file.close()
    assert (log_dir / "app" / "sub" / "0.log").is_file()


@pytest.mark.parametrize(
    "relative", [".", "..", "a/../b", "foo/", "a//b", "/abs", "a\x00b", "", "x" * 256]
)
def test_log_paths_that_name_no_file_inside_are_refused(relative: str) -> None:
    assert hostfs.relative_path_problem(relative)
    with pytest.raises(hostfs.UnsafePath):
        LogFile("/tmp", relative)


def test_read_regular_file_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "profile.json")
    with pytest.raises(hostfs.UnsafePath, match="not a regular file"):
        hostfs.read_regular_file(str(tmp_path / "profile.json"), 1024)


def test_read_regular_file_refuses_a_file_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b"x" * 2048)
    with pytest.raises(hostfs.UnsafePath, match="larger"):
        hostfs.read_regular_file(str(tmp_path / "big.json"), 1024)
    assert hostfs.read_regular_file(str(tmp_path / "big.json"), 4096) == b"x" * 2048
