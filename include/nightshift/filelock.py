"""One exclusive file lock (flock) for every "one at a time" rule: a mirror's git operations, a ticket's
checkpoint and publish steps, a pinned tool's install, a repository toolchain's build.

flock locks belong to an open file description, so two threads of one process that each open the file
wait for each other as two processes do. They hold on one host, or on a file system that shares flock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock on `path` (created if missing), waiting for its holder to let go first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
