"""Replacing a file atomically: readers see the old content or the new, never half a file.

Usage:
    replace_file(Path("schemas/crds/index.json"), data, mode=0o644)      # durable: fsync before the rename
    replace_file(cache_index, data, durable=False)                        # a cache: a lost write only costs time
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["replace_file"]


def replace_file(path: Path, data: bytes, mode: int | None = None, durable: bool = True) -> None:
    """Write `data` to a temp file beside `path`, then `os.replace` it over `path`; the temp file is removed on
    any failure. `mode` sets the permissions (default: owner-only, as the temp file is created); `durable`
    flushes the data to disk before the rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
