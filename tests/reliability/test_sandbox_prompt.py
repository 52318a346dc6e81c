"""Issue 9, item 12: a large multi-byte ticket reaches a command-backend agent intact, through every
preset's real command line: by file or on stdin, never as one huge argument (E2BIG).

The fake CLI stands in for each real one and takes the prompt where that CLI takes it: stdin
(`claude -p`, `codex exec -`), `--message-file` (aider), a `-c` config file with run.task
(mini-swe-agent). It also records the size of its longest argument.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nightshift.agents.command import MAX_ARG_BYTES, CommandRunner
from nightshift.agents.config import AgentConfig
from nightshift.agents.runner import build_runner
from tests.nightshift.agents.conftest import (  # noqa: F401 - fixtures
    canaries,
    make_request,
    origin,
    workspaces,
    worktree,
)

FAKE_CLI = r"""#!/bin/sh
longest=0
prev=""
source=stdin
for arg in "$@"; do
  n=$(printf '%s' "$arg" | wc -c)
  [ "$n" -gt "$longest" ] && longest=$n
  [ "$prev" = "--message-file" ] && { cp "$arg" received.txt; source=message-file; }
  case "$arg" in */prompt.yaml) cp "$arg" received.yaml; source=yaml;; esac
  prev="$arg"
done
[ "$source" = stdin ] && cat > received.txt
echo "$source $longest" > received-meta.txt
"""
#: 44,000 CJK characters: 132,000 bytes of UTF-8, over the kernel's 128 KiB limit for one argument.
BODY = ("夜間作業の票" * 8000)[:44000]
BINARIES = {"claude-code": "claude", "codex": "codex", "aider": "aider", "mini-swe-agent": "mini"}


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "fake-cli"
    path.parent.mkdir()
    path.write_text(FAKE_CLI)
    path.chmod(0o755)
    return path


@pytest.mark.reliability
def test_a_44k_cjk_ticket_reaches_every_preset_intact(make_request, worktree, tmp_path, fake_cli,  # noqa: F811
                                                      reliability_row):
    assert len(BODY) == 44000 and len(BODY.encode()) > 128 * 1024
    intact, failures = 0, {}
    for preset, binary in BINARIES.items():
        for name in ("received.txt", "received.yaml", "received-meta.txt"):
            (worktree / name).unlink(missing_ok=True)
        runner = build_runner(AgentConfig(preset=preset, command_vars={binary: str(fake_cli)}, grace_seconds=1))
        assert isinstance(runner, CommandRunner)
        run_dir = tmp_path / "runs" / preset
        runner.run(make_request(worktree, "C2", description=BODY), run_dir)
        run = json.loads((run_dir / "run.json").read_text())
        if (worktree / "received.yaml").is_file():
            received = yaml.safe_load((worktree / "received.yaml").read_text(encoding="utf-8"))["run"]["task"]
        elif (worktree / "received.txt").is_file():
            received = (worktree / "received.txt").read_text(encoding="utf-8")
        else:
            received = ""
        prompt = (run_dir / "prompt.md").read_text(encoding="utf-8") if (run_dir / "prompt.md").is_file() else None
        ok = run.get("exit_code") == 0 and BODY in received and received == prompt
        meta = (worktree / "received-meta.txt").read_text().split() if ok else ["-", "0"]
        ok = ok and int(meta[1]) < MAX_ARG_BYTES
        intact += ok
        if not ok:
            failures[preset] = {"exit_code": run.get("exit_code"), "reason": run.get("reason"),
                                "stderr": (run_dir / "stderr.txt").read_text()[-500:]
                                if (run_dir / "stderr.txt").is_file() else None, "received": len(received)}
    reliability_row(row="Huge multi-byte ticket body reaches the agent (item 12)",
                    injection=f"44,000 CJK characters ({len(BODY.encode())} bytes) through {len(BINARIES)} presets",
                    figure=f"{intact} of {len(BINARIES)} received it intact", criterion=f"{len(BINARIES)}",
                    passed=intact == len(BINARIES))
    assert failures == {}


def test_prompt_as_an_argument_is_refused_before_exec_when_too_big(make_request, worktree, tmp_path, fake_cli):  # noqa: F811
    runner = build_runner(AgentConfig(backend="command", command=[str(fake_cli), "$prompt"]))
    result = runner.run(make_request(worktree, "C2", description=BODY), tmp_path / "run")
    assert result.status == "failed" and "$prompt_file" in result.reason and "bytes" in result.reason
    small = runner.run(make_request(worktree, "C2", description="a small ticket"), tmp_path / "run2")
    assert json.loads((tmp_path / "run2" / "run.json").read_text())["exit_code"] == 0, small.reason


def test_prompt_cap_counts_bytes(make_request, worktree, tmp_path, fake_cli):  # noqa: F811
    from nightshift.agents import command

    runner = build_runner(AgentConfig(backend="command", command=[str(fake_cli)], prompt_stdin=True))
    huge = "界" * 200_000  # 600,000 bytes, 200,000 characters
    runner.run(make_request(worktree, "C2", description=huge), tmp_path / "run")
    received = (worktree / "received.txt").read_bytes()
    assert len(received) <= command.MAX_PROMPT_BYTES
    assert received.decode("utf-8").endswith("[prompt truncated by Nightshift]\n")
