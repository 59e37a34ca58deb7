"""Host files whose path a client influences, opened without being tricked.

A container with a hostPath mount of its pod's log folder can plant a
symlink, a FIFO or a hard link where the shim will write its log; a client
can name a FIFO or a device as a seccomp profile. Everything here therefore
opens with ``O_NOFOLLOW`` below a trusted directory (one component at a time,
``openat``-style, so no symlink anywhere below it is followed), never blocks
on a special file (``O_NONBLOCK``, then ``fstat``), and refuses what is not a
regular file. Blocking calls: run them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

# The kernel's own limits on a path and on one of its components.
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(Exception):
    """A path that would leave its directory, or names something that is not a plain file."""


def relative_path_problem(value: str) -> str | None:
    """Why ``value`` is no plain relative file path (``a/b.log``), or None if it is one."""
    if "\x00" in value:
        return "must not contain a NUL byte"
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"must be at most {MAX_PATH_BYTES} bytes"
    if value.startswith("/"):
        return "must be a relative path inside the sandbox log directory"
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "must name a file: no empty, '.' or '..' components and no trailing '/'"
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in parts):
        return f"each component must be at most {MAX_NAME_BYTES} bytes"
    return None


def absolute_path_problem(value: str) -> str | None:
    """Why ``value`` is no usable absolute path, or None."""
    if "\x00" in value:
        return "must not contain a NUL byte"
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"must be at most {MAX_PATH_BYTES} bytes"
    if not value.startswith("/"):
        return "must be an absolute path"
    return None


@contextlib.contextmanager
def directory_below(root: str, parts: list[str], create: bool) -> Iterator[int]:
    """A descriptor of ``root/parts...``, no symlink followed below ``root``.

    ``root`` itself is trusted (the kubelet made it) and may be reached
    through symlinks; it is created when missing and ``create`` is set.
    """
    if create:
        os.makedirs(root, mode=0o755, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(f"{part!r} below {root} is not a directory") from exc
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def split_relative(relative: str) -> tuple[list[str], str]:
    """(directories, file name) of a relative path that passed ``relative_path_problem``."""
    problem = relative_path_problem(relative)
    if problem:
        raise UnsafePath(f"{relative!r}: {problem}")
    *dirs, name = relative.split("/")
    return dirs, name


def open_regular(name: str, flags: int, dir_fd: int, mode: int = 0o640) -> int:
    """Open ``name`` in ``dir_fd`` without following a symlink; refuse anything but a file
    with one link (a hard link would let a write land in a file outside the directory)."""
    try:
        fd = os.open(
            name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dir_fd
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{name!r} is a symbolic link") from exc
        if exc.errno in (errno.ENXIO, errno.ENODEV, errno.EISDIR):
            raise UnsafePath(f"{name!r} is not a regular file") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f"{name!r} is not a regular file")
        if info.st_nlink > 1:
            raise UnsafePath(f"{name!r} has other hard links")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular_file(path: str, limit: int) -> bytes:
    """The content of the regular file at ``path`` (symlinks allowed), at most ``limit`` bytes.

    Raises UnsafePath for a FIFO, socket, device or directory (without
    blocking on it) and for a file larger than ``limit``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f"{path!r} is not a regular file")
        if info.st_size > limit:
            raise UnsafePath(f"{path!r} is larger than {limit} bytes")
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise UnsafePath(f"{path!r} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
