"""The world of the kill-and-retry and run-twice rows: the GitLab stand-in served by the test process,
a scripted agent whose runs journal themselves, and worker processes (tests/reliability/_fault_worker.py)
that are killed and retried as Airflow would.

What is counted is what the forge and the batch hold afterwards: agent runs per checkpoint (the agent's
own journal, and the evidence folders under tickets/<id>/runs/), agent/* branches on the stand-in, MRs,
follow-up issues and marked notes per kind on the ticket's issue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nightshift.artifacts import ArtifactStore
from nightshift.generation.state import BatchState, TicketOutcome
from nightshift.trackers.base import hidden_marker, marker_key
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin
from tests.reliability._fault_worker import APP, KILLED, TICKET, WorkerSpec

REPO = Path(__file__).resolve().parents[2]
BATCH = "2026-01-05-overnight"
#: A sleep no other process on the machine runs: the agent that waits to be killed.
PARKED = "97.25"
_JOURNAL = 'echo {cp} >> "$NIGHTSHIFT_STATE_DIR/starts"'


def behaviour(*, park_after_edit: bool = False) -> dict[str, Any]:
    """C0-C2 journal their start; C2 edits, runs its tests and reports partial work (so publish also
    creates a follow-up issue and a "partial" note). `park_after_edit`: the first C2 run stops after
    its edit and sleeps, so the test can kill the worker there."""
    c2_steps: list[dict[str, Any]] = [
        {"run": _JOURNAL.format(cp="C2")},
        {"write": {"path": "src/utils.py", "content": "def double(x):\n    return x + x\n"}},
    ]
    if park_after_edit:
        c2_steps.append(
            {
                "run": 'if [ ! -e "$NIGHTSHIFT_STATE_DIR/edited" ]; then '
                f'touch "$NIGHTSHIFT_STATE_DIR/edited"; sleep {PARKED}; fi'
            }
        )
    c2_steps.append(
        {
            "run": {
                "cmd": 'grep -q "x + x" src/utils.py && echo pass >> "$NIGHTSHIFT_STATE_DIR/tests"',
                "check": True,
            }
        }
    )
    return {
        "checkpoints": {
            "C0": {"steps": [{"run": _JOURNAL.format(cp="C0")}]},
            "C1": {"steps": [{"run": _JOURNAL.format(cp="C1")}]},
            "C2": {
                "steps": c2_steps,
                "partial": ["document double()"],
                "result": {"implementation": {"summary": "double by addition", "tests_run": ["grep"]}},
            },
        }
    }


@dataclass
class FaultWorld:
    root: Path
    gitlab: GitLabStandin

    @property
    def agent_state(self) -> Path:
        return self.root / "state" / BATCH / TICKET

    @property
    def batch_dir(self) -> Path:
        return self.root / "artifacts" / BATCH

    def spec(self, **kwargs: Any) -> WorkerSpec:
        return WorkerSpec(
            root=str(self.root), gitlab_url=self.gitlab.base_url, token=self.gitlab.token, **kwargs
        )

    def start(self, spec: WorkerSpec) -> subprocess.Popen[str]:
        """A worker process in its own session (so a kill reaches it and nothing of the test)."""
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._fault_worker", spec.model_dump_json()],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(self, spec: WorkerSpec, timeout: float = 300) -> tuple[int, str]:
        proc = self.start(spec)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out + err

    def run_and_kill_when(self, spec: WorkerSpec, signal_file: Path, timeout: float = 120) -> int:
        """Start a worker and SIGKILL it (no cleanup runs) as soon as `signal_file` appears."""
        proc = self.start(spec)
        deadline = time.monotonic() + timeout
        while not signal_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out, err = proc.communicate()
                raise AssertionError(f"the worker ended before {signal_file.name} appeared:\n{out}{err}")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return proc.returncode

    # -- what was done --------------------------------------------------------------------------
    def agent_starts(self) -> Counter[str]:
        """Agent processes started per checkpoint, from the agent's own journal."""
        journal = self.agent_state / "starts"
        return Counter(journal.read_text().split()) if journal.exists() else Counter()

    def evidence_runs(self) -> Counter[str]:
        """Agent runs whose evidence reached tickets/<id>/runs/, per checkpoint."""
        runs = self.batch_dir / "tickets" / TICKET / "runs"
        return Counter(p.name.split("-", 1)[0] for p in runs.iterdir()) if runs.is_dir() else Counter()

    def agent_branches(self) -> list[str]:
        return [b.name for b in self.gitlab.repos.branches(APP) if b.name.startswith("agent/")]

    def merge_requests(self) -> list[dict[str, Any]]:
        return [mr for mr in self.gitlab.merge_requests(APP) if mr["source_branch"] == f"agent/{TICKET}"]

    def followups(self) -> list[dict[str, Any]]:
        return [issue for issue in self.gitlab.issues(APP) if issue["iid"] != 1]

    def notes_per_kind(self) -> dict[str, int]:
        """Marked notes on the ticket's issue per kind of this (ticket, batch)."""
        notes = self.gitlab.notes(APP, issue_iid=1)
        kinds = ("partial", "escalation", "followup")
        return {
            kind: sum(hidden_marker(marker_key(batch=BATCH, ticket=TICKET, kind=kind)) in n for n in notes)
            for kind in kinds
        }

    def outcome(self) -> TicketOutcome | None:
        return BatchState(ArtifactStore(f"file://{self.root}/artifacts").batch(BATCH)).outcome(TICKET)

    def parked_agents(self, settle: float = 10.0) -> int:
        """Agent processes still sleeping where a killed worker left them (orphans), once the kernel
        has had `settle` seconds to deliver the sandbox's parent-death signal."""
        deadline = time.monotonic() + settle
        while (count := self._parked()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return count

    @staticmethod
    def _parked() -> int:
        count = 0
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if cmdline.read_bytes().split(b"\0")[:2] == [b"sleep", PARKED.encode()]:
                    count += 1
            except OSError:
                continue
        return count

    def duplicates(self) -> dict[str, int]:
        """Objects beyond the one each should exist as."""
        kinds = self.notes_per_kind()
        return {
            "branches": max(0, len(self.agent_branches()) - 1),
            "MRs": max(0, len(self.merge_requests()) - 1),
            "follow-ups": max(0, len(self.followups()) - 1),
            "notes": max(0, kinds["partial"] - 1) + kinds["escalation"] + kinds["followup"],
        }

    def check_consistent(self) -> None:
        """The batch's records agree with the forge: one partial outcome naming the one MR and follow-up."""
        outcome = self.outcome()
        assert outcome is not None and outcome.state.value == "partial", outcome
        (mr,) = self.merge_requests()
        assert (outcome.merge_request_iid, outcome.branch) == (mr["iid"], f"agent/{TICKET}")
        (followup,) = self.followups()
        assert outcome.followup_key == f"{APP}#{followup['iid']}"
        assert f"#{followup['iid']}" in mr["description"], "the MR links its follow-up"
        for record in self.batch_dir.rglob("*.json"):
            json.loads(record.read_text())  # no half-written record


@contextmanager
def fault_world(tmp_path: Path) -> Iterator[FaultWorld]:
    """The stand-in (bot and reporter, group/app with src/utils.py and the ticket's issue #1) running."""
    seed = {
        "users": [{"username": "nightshift-bot"}, {"username": "alice"}],
        "tokens": [{"token": "glpat-fault-bot", "user": "nightshift-bot"}],
        "projects": [
            {
                "path_with_namespace": APP,
                "repository": {"files": {"src/utils.py": "def double(x):\n    return 2 * x\n"}},
                "issues": [{"title": "double it", "labels": ["ready-for-agent"], "author": "alice"}],
            }
        ],
    }
    (tmp_path / "behaviours").mkdir()
    with running_gitlab(seed) as gitlab:
        yield FaultWorld(tmp_path, gitlab)


def write_behaviour(world: FaultWorld, **kwargs: Any) -> None:
    (world.root / "behaviours" / f"{TICKET}.yaml").write_text(yaml.safe_dump(behaviour(**kwargs)))


__all__ = ["KILLED", "FaultWorld", "fault_world", "write_behaviour"]
