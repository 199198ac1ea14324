"""Atomic file writes: a reader (another process, a parallel test worker, a resumed run) sees
either the previous complete file or the new complete one, never a partial file.

Every writer goes through :func:`atomic_path`: it hands out a temporary name in the target's
folder (``.<name>.<pid>.<n>.tmp``, so that a crashed writer's leftovers are recognisable and
``rglob(".*.tmp")`` finds them), and when the block ends without an error it flushes the data to
disk (``fsync``) and renames the file onto the target with :func:`os.replace`, which POSIX makes
atomic within one file system. On an error the temporary file is removed and the target is left
as it was.

This module sits at the bottom of the stage order (beside :mod:`hfaccel.errors`, imports only
the standard library) so that every stage, from model/ to the CLI, writes files the same way.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]

_counter = itertools.count()  # two writers of one process (threads) never share a name


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to (by any writer that takes a path:
    ``fig.savefig``, ``torch.save``, ``Path.write_text``); renamed onto ``path`` on success.

    The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_counter)}.tmp")
    try:
        yield tmp
        # fsync through a fresh descriptor: the writer may have closed its own already
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the block or the rename failed


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
