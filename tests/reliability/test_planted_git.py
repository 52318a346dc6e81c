"""Security fact 11: a `.git` the agent plants below its worktree must never be obeyed by host git.

The agent is a command-backend script in the real bubblewrap sandbox. At C2 it turns the registered
submodule folder `vendor/lib` and a new folder `sub` into repositories whose config points
`core.fsmonitor`, `filter.x.clean/smudge`, `diff.x.textconv`, `remote.origin.uploadpack` and
`core.sshCommand` at a script that appends to a marker file on the host (a path the sandbox cannot
write). Every line in the marker is a command the host ran for the agent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nightshift.agents.contract import Checkpoint
from nightshift.generation import flow
from nightshift.models import TicketState
from tests.reliability.conftest import git

PLANT = r"""
marker="$1"
cp="$NIGHTSHIFT_CHECKPOINT"
if [ "$cp" = C2 ]; then
  for d in vendor/lib sub; do
    mkdir -p "$d"
    git init -q "$d"
    hook="$PWD/$d/.git/evil.sh"
    printf '#!/bin/sh\necho "host ran $0 $*" >> "%s"\ncat\n' "$marker" > "$hook"
    chmod +x "$hook"
    git -C "$d" config core.fsmonitor "$hook"
    git -C "$d" config filter.x.clean "$hook"
    git -C "$d" config filter.x.smudge "$hook"
    git -C "$d" config diff.x.textconv "$hook"
    git -C "$d" config remote.origin.url "$PWD/$d"
    git -C "$d" config remote.origin.uploadpack "$hook"
    git -C "$d" config core.sshCommand "$hook"
    printf '* filter=x diff=x\n' > "$d/.gitattributes"
    echo one > "$d/f"
    git -C "$d" add f .gitattributes 2>/dev/null
    echo two > "$d/f"
  done
  echo "# faster" >> src/utils.py
  printf '{"checkpoint": "C2", "status": "ok", "implementation": {"summary": "faster", "files_changed": ["src/utils.py"]}}' > "$NIGHTSHIFT_RESULT"
else
  printf '{"checkpoint": "%s", "status": "ok"}' "$cp" > "$NIGHTSHIFT_RESULT"
fi
"""


def _host_runs(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


@pytest.mark.reliability
def test_planted_git_below_the_worktree_runs_nothing_on_the_host(
    tmp_path, remote_with_submodule, agent_script, flow_context, reliability_row
):
    marker = tmp_path / "host-only" / "marker"
    marker.parent.mkdir()
    ctx = flow_context(remote_with_submodule, agent_script(PLANT), {"marker": str(marker)})
    for cp in (Checkpoint.C0, Checkpoint.C1):
        assert flow.before_checkpoint(ctx, "P-1", cp).action == "continue"
        assert flow.run_checkpoint(ctx, "P-1", cp, "try1").action == "continue"
    assert flow.escalation_decision(ctx, "P-1").action == "continue"
    try:
        failed = flow.run_checkpoint(ctx, "P-1", Checkpoint.C2, "try1").action == "fail"
    except Exception:  # the unhardened flow crashed in git after running the planted hooks
        failed = False
    ran = _host_runs(marker)
    pushed = git(remote_with_submodule, "branch", "--list", "agent/*")
    reliability_row(
        row="An agent-planted .git (filters, fsmonitor, uploadpack) below the worktree",
        injection="sandboxed agent plants vendor/lib/.git and sub/.git with filter, fsmonitor, textconv, "
        "uploadpack, sshCommand",
        figure=f"{ran} commands run on the host",
        criterion="0",
        passed=ran == 0 and failed and not pushed,
    )
    assert ran == 0, marker.read_text()
    assert failed
    outcome = ctx.state.outcome("P-1")
    assert outcome.state == TicketState.FAILED
    assert "nested .git at sub/.git, vendor/lib/.git" in outcome.reason
    assert pushed == ""  # nothing reached the forge
