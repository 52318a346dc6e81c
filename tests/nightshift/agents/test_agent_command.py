"""The command backend with a small fake CLI (a shell script), run in the real sandbox."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from nightshift.agents.backends import build_runner
from nightshift.agents.command import CommandRunner, load_prompts, parse_usage
from nightshift.agents.config import DEFAULT_PRESETS_FILE, AgentConfig, load_presets

FAKE_CLI = r"""#!/bin/sh
# fake-agent MODE PROMPT PROMPT_FILE RESULT_PATH
mode="$1"
printf '%s' "$2" > prompt-seen.txt
cat "$3" > prompt-file-seen.txt
env > env-seen.txt
rm -f prompt-seen.txt.tmp
case "$mode" in
  result)
    printf '{"checkpoint": "%s", "status": "ok", "reason": "via %s"}' "$NIGHTSHIFT_CHECKPOINT" "$4" > "$NIGHTSHIFT_RESULT" ;;
  claude)
    printf '{"checkpoint": "%s", "status": "ok"}' "$NIGHTSHIFT_CHECKPOINT" > "$NIGHTSHIFT_RESULT"
    echo '{"type":"result","result":"done","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7},"total_cost_usd":0.25}' ;;
  edit)
    echo "# edited" >> src/utils.py ;;
  edit-fail)
    echo "# edited" >> src/utils.py; exit 2 ;;
  say)
    echo "The scope is src/utils.py only." ;;
  claude-429)
    echo '{"type":"result","is_error":true,"api_error_status":429,"result":"API Error: 429 Please try again in 30s.","usage":{"input_tokens":3,"output_tokens":0}}'
    exit 1 ;;
  claude-answer)
    echo '{"type":"result","is_error":false,"result":"Scope: {\"checkpoint\": \"C0\", \"status\": \"ok\", \"scope\": {\"files\": [\"src/utils.py\"]}}","usage":{"input_tokens":3,"output_tokens":1},"total_cost_usd":0.01}' ;;
esac
exit 0
"""


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "fake-agent"
    path.parent.mkdir()
    path.write_text(FAKE_CLI)
    path.chmod(0o755)
    return path


@pytest.fixture
def command(fake_cli: Path):
    def make(mode: str, **overrides: object) -> CommandRunner:
        cfg = AgentConfig(backend="command", command=["$agent", "$mode", "$prompt", "$prompt_file", "$result_path"],
                          command_vars={"agent": str(fake_cli), "mode": mode}, grace_seconds=1, **overrides)
        runner = build_runner(cfg)
        assert isinstance(runner, CommandRunner)
        return runner
    return make


def test_prompt_and_result_path_reach_the_cli(command, make_request, worktree, tmp_path):
    request = make_request(worktree, "C0", description="Make double() faster. Keep $title and ${result_path} literal.",
                           acceptance_criteria=["double(2) == 4"])
    result = command("result").run(request, tmp_path / "run")
    assert result.status == "ok"
    assert result.reason == "via /nightshift/out/result.json"
    prompt = (tmp_path / "run" / "prompt.md").read_text()
    assert prompt == (worktree / "prompt-seen.txt").read_text() == (worktree / "prompt-file-seen.txt").read_text()
    assert "ticket PROJ-1" in prompt and "checkpoint C0" in prompt and "Title: Add a helper" in prompt
    assert "Keep $title and ${result_path} literal." in prompt  # substituted once, never re-expanded
    assert "- double(2) == 4" in prompt and "/nightshift/out/result.json" in prompt
    assert '"scope"' in prompt  # the result format for C0


def test_environment_is_the_allowlist_only(command, make_request, worktree, tmp_path, monkeypatch, canaries):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-allowlisted-0000000000000000")
    monkeypatch.setenv("UNLISTED_VAR", "not-for-the-agent")
    runner = command("result", env_allowlist=["OPENAI_API_KEY"], env={"AGENT_CONFIG_DIR": "$home/.agent"})
    assert runner.run(make_request(worktree, "C0"), tmp_path / "run").status == "ok"
    seen = dict(line.split("=", 1) for line in (worktree / "env-seen.txt").read_text().splitlines() if "=" in line)
    assert seen["OPENAI_API_KEY"] == "sk-test-allowlisted-0000000000000000"
    assert seen["AGENT_CONFIG_DIR"] == "/home/agent/.agent"
    assert "UNLISTED_VAR" not in seen
    assert not any(value in (worktree / "env-seen.txt").read_text() for value in canaries.values())
    # The allowlisted key is a secret by name: the evidence never shows it.
    run_text = "".join(p.read_text() for p in (tmp_path / "run").glob("*.json"))
    assert "sk-test-allowlisted" not in run_text


def test_secrets_in_the_ticket_are_redacted_from_the_prompt(command, make_request, worktree, tmp_path):
    request = make_request(worktree, "C0", description="use glpat-abcdefghijklmnopqrst123 to deploy")
    command("result").run(request, tmp_path / "run")
    assert "glpat-abcdefghij" not in (worktree / "prompt-seen.txt").read_text()
    assert "use [REDACTED] to deploy" in (tmp_path / "run" / "prompt.md").read_text()


def test_c2_result_is_synthesised_from_exit_code_and_git(command, make_request, worktree, tmp_path):
    ok = command("edit").run(make_request(worktree), tmp_path / "ok")
    assert ok.status == "ok" and ok.reason == "synthesised: the agent wrote no result.json"
    assert ok.implementation.files_changed == ["env-seen.txt", "prompt-file-seen.txt", "prompt-seen.txt",
                                               "src/utils.py"]
    assert ok.implementation.tests_passed is None


def test_c2_nonzero_exit_without_result_fails(command, make_request, worktree, tmp_path):
    failed = command("edit-fail").run(make_request(worktree), tmp_path / "fail")
    assert (failed.status, failed.reason) == ("failed", "the agent exited with code 2 and wrote no result")
    assert "src/utils.py" in failed.implementation.files_changed


def test_no_change_and_no_result_fails(make_request, worktree, tmp_path, fake_cli):
    runner = build_runner(AgentConfig(backend="command", command=["/bin/true"]))
    result = runner.run(make_request(worktree), tmp_path / "run")
    assert (result.status, result.reason) == ("failed", "the agent exited 0, wrote no result and changed no file")


def test_missing_result_outside_the_synthesis_list_fails(command, make_request, worktree, tmp_path):
    result = command("say").run(make_request(worktree, "C0"), tmp_path / "a")
    assert result.status == "failed"
    assert result.reason == "the agent wrote no result to /nightshift/out/result.json (exit code 0)"
    result = command("say", synthesise_results=["C0", "C2"]).run(make_request(worktree, "C0"), tmp_path / "b")
    assert result.status == "ok" and result.scope.files == ["src/utils.py"]
    assert result.scope.summary == "The scope is src/utils.py only."


def test_missing_binary_is_a_failed_checkpoint(make_request, worktree, tmp_path):
    runner = build_runner(AgentConfig(backend="command", command=["no-such-agent-cli", "$prompt"]))
    result = runner.run(make_request(worktree, "C0"), tmp_path / "run")
    assert result.status == "failed" and "exit code 1" in result.reason
    assert "no-such-agent-cli" in (tmp_path / "run" / "stderr.txt").read_text()


def test_usage_from_claude_json(command, make_request, worktree, tmp_path):
    result = command("claude", usage_format="claude-json").run(make_request(worktree, "C1"), tmp_path / "run")
    assert result.status == "ok"
    assert json.loads((tmp_path / "run" / "usage.json").read_text()) == {
        "input_tokens": 15, "output_tokens": 7, "cost_usd": 0.25, "cached_input_tokens": 5, "model": "",
        "cost_source": "agent"}


def test_usage_from_codex_events():
    events = b"\n".join([
        b'{"type":"thread.started","thread_id":"t"}',
        b'{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":20,"output_tokens":30}}',
        b"not json",
        b'{"type":"turn.completed","usage":{"input_tokens":5,"output_tokens":6}}',
    ])
    usage = parse_usage("codex-jsonl", events)
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (105, 36)
    assert parse_usage("codex-jsonl", b"nothing") is None
    assert parse_usage("none", events) is None


def test_template_errors_are_caught_when_the_runner_is_built(tmp_path, fake_cli):
    with pytest.raises(ValueError, match="nope"):
        build_runner(AgentConfig(backend="command", command=["$agent", "$nope"], command_vars={"agent": "x"}))
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name in ("C0", "C1", "C2"):
        (prompts / f"{name}.md").write_text("Ticket $ticket_id costs $$5\n")
    assert load_prompts(prompts)
    (prompts / "C1.md").write_text("Ticket $ticket_id $unknown_field\n")
    with pytest.raises(ValueError, match="unknown_field"):
        load_prompts(prompts)


def test_every_preset_validates_and_builds():
    presets = load_presets(DEFAULT_PRESETS_FILE)
    assert {"scripted", "claude-code", "codex", "aider", "mini-swe-agent"} <= set(presets)
    for name in presets:
        config = AgentConfig(preset=name)
        if config.backend == "command":
            CommandRunner(config)  # checks every placeholder in the command template and prompts
            assert config.network == "allow" and config.allowed_hosts
            assert "$prompt" not in config.command  # handed over by file or stdin, never as an argument
            assert config.prompt_stdin or any("$prompt_file" in a or "$prompt_yaml_file" in a for a in config.command)
    mini = AgentConfig(preset="mini-swe-agent", command_vars={"api_base": "http://127.0.0.1:9/v1"},
                       env={"EXTRA": "1"}, allowed_hosts=["127.0.0.1:9"])
    assert mini.command_vars["model"] == "openai/gpt-4o-mini" and mini.command_vars["api_base"].endswith(":9/v1")
    assert mini.env["MSWEA_CONFIGURED"] == "true" and mini.env["EXTRA"] == "1"


def test_a_rate_limit_the_cli_reports_is_rate_limited_with_its_reset_time(command, make_request, worktree, tmp_path):
    result = command("claude-429", usage_format="claude-json").run(make_request(worktree, "C2"), tmp_path / "run")
    assert result.status == "rate_limited" and "429" in result.reason
    assert result.rate_limit_reset_at is not None
    wait = (result.rate_limit_reset_at - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 0 < wait <= 30
    assert result.usage.input_tokens == 3


def test_a_result_json_in_the_final_answer_becomes_the_result(command, make_request, worktree, tmp_path):
    result = command("claude-answer", usage_format="claude-json").run(make_request(worktree, "C0"), tmp_path / "run")
    assert result.status == "ok" and result.scope is not None and result.scope.files == ["src/utils.py"]
    assert result.usage.cost_usd == 0.01 and result.usage.cost_source == "agent"
