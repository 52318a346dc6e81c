"""One worker at a time per ticket: the lock a checkpoint and publish hold while they act.

Airflow runs a task at least once, and sometimes twice at the same moment (a worker taken for dead is
still running when the scheduler starts the task again). Two runs of C2 share the ticket's worktree: one
resets it while the other's agent works, commits nothing and fails the ticket. Holding this lock, the
second run waits, then finds the first one's records and resumes from them.

The lock is an flock (released by the kernel when its holder dies, so a killed worker never leaves it
held) on `tickets/<id>/.lock` in the batch folder when the artifact store is local, else on a file in
the host's temporary folder: the worktree two runs could share is host-local either way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nightshift import layout
from nightshift.artifacts import BatchArtifacts
from nightshift.filelock import exclusive


def lock_path(artifacts: BatchArtifacts, ticket_id: str) -> Path:
    local = artifacts.local_path(layout.ticket_dir(ticket_id))
    if local is not None:
        return local / ".lock"
    return Path(tempfile.gettempdir()) / "nightshift-locks" / artifacts.batch_id / f"{ticket_id}.lock"


@contextmanager
def ticket_lock(artifacts: BatchArtifacts, ticket_id: str) -> Iterator[None]:
    """Hold the ticket's lock (waiting for another run of it to finish first)."""
    with exclusive(lock_path(artifacts, ticket_id)):
        yield
