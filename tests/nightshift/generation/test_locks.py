"""The per-ticket lock run_checkpoint and publish hold (the run-twice reliability row exercises it
with two real workers; these pin where it lives and that it excludes another process)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from nightshift.artifacts import ArtifactStore
from nightshift.generation.locks import lock_path, ticket_lock

_TRY = "import fcntl,sys; f=open(sys.argv[1],'a+'); fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)"


def _other_process_can_lock(path: Path) -> bool:
    return subprocess.run([sys.executable, "-c", _TRY, str(path)], capture_output=True).returncode == 0


def test_the_lock_excludes_another_process_until_released(tmp_path: Path) -> None:
    batch = ArtifactStore(f"file://{tmp_path}").batch("2026-01-05-overnight")
    path = lock_path(batch, "P-1")
    assert path == tmp_path / "2026-01-05-overnight" / "tickets" / "P-1" / ".lock"
    with ticket_lock(batch, "P-1"):
        assert not _other_process_can_lock(path)
        assert batch.list("tickets/P-1") == [], "the lock file is no record"
    assert _other_process_can_lock(path)


def test_a_remote_store_locks_on_the_host(tmp_path: Path) -> None:
    batch = ArtifactStore("memory://nightshift-lock-test").batch("2026-01-05-overnight")
    path = lock_path(batch, "P-1")
    assert path.is_relative_to(tempfile.gettempdir()) and path.name == "P-1.lock"
    with ticket_lock(batch, "P-1"):
        assert not _other_process_can_lock(path)
