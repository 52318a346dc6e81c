"""What each agent CLI reports about its own run, read from its output (the contract adapter per preset).

Agent CLIs do not speak Nightshift's contract by themselves. For each preset (`usage_format` in
nightshift/defaults/agents.yaml) this module reads, from what the CLI printed or left in the out folder:
  - token usage (input incl. cached, cached, output) and the cost when the CLI computes one;
  - its final answer (used as the checkpoint's result when it holds a result JSON, else as the text of
    a synthesised C0/C1 result);
  - whether the run ended on the model API's rate limit (HTTP 429), and the reset time when the
    output names one ("retry-after: 7", "try again in 7s");
  - the CLI's own error message, so a crash says why.

Formats, as checked against the real CLIs (tests/agentcli):
  claude-json  Claude Code `-p --output-format json`: one `{"type": "result", ...}` object with
               `usage`, `total_cost_usd`, `modelUsage`, `is_error`, `api_error_status`, `result`.
  codex-jsonl  Codex `exec --json`: JSON events, `turn.completed.usage` per turn (no cost),
               `item.completed` agent_message items, `error`/`turn.failed` events.
  aider-text   aider prints "Tokens: 1.2k sent, 20 received. Cost: $0.01 message, ..." per reply.
  mini-traj    mini-swe-agent's trajectory file ($out_dir/traj.json): litellm responses with `usage`,
               `info.model_stats.instance_cost`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightshift.agents.contract import TokenUsage

_RETRY_PATTERNS = (
    re.compile(r"retry[-_ ]after[\"']?\s*[:=]?\s*[\"']?(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds|m|min)?", re.I),
    re.compile(r"try again in\s+(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds|m|min)", re.I),
)
_RATE_LIMIT_SIGNS = re.compile(r"\b429\b|rate[ _-]?limit|RateLimitError|too many requests", re.I)
_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "seconds": 1.0, "m": 60.0, "min": 60.0}
_AIDER_TOKENS = re.compile(
    r"Tokens:\s*([\d.]+k?)\s+sent(?:,\s*([\d.]+k?)\s+cache write)?(?:,\s*([\d.]+k?)\s+cache hit)?,\s*"
    r"([\d.]+k?)\s+received\.(?:\s*Cost:\s*\$([\d.]+)\s+message)?"
)
#: Longest rate-limit wait taken from an agent's output; beyond it the batch's default applies.
MAX_RESET_SECONDS = 6 * 3600


@dataclass
class AgentReport:
    usage: TokenUsage | None = None
    final_answer: str | None = None
    rate_limited: bool = False
    reset_at: dt.datetime | None = None
    error: str | None = None


def read_report(
    fmt: str, stdout: bytes, stderr: bytes, out_dir: Path | None, now: dt.datetime
) -> AgentReport:
    """Everything the CLI said about its run, in the preset's format ("none": nothing)."""
    text = stdout.decode(errors="replace")
    err = stderr.decode(errors="replace")
    if fmt == "claude-json":
        report = _claude(text)
    elif fmt == "codex-jsonl":
        report = _codex(text)
    elif fmt == "aider-text":
        report = _aider(text + "\n" + err)
    elif fmt == "mini-traj":
        report = _mini(out_dir / "traj.json" if out_dir is not None else None, text + "\n" + err)
    else:
        report = AgentReport()
    if report.rate_limited:
        report.reset_at = reset_time(report.error or "", now) or reset_time(text + "\n" + err, now)
    return report


def reset_time(text: str, now: dt.datetime) -> dt.datetime | None:
    """`now` plus the wait the output names (retry-after, "try again in 7s"), if any."""
    for pattern in _RETRY_PATTERNS:
        match = pattern.search(text)
        if match:
            seconds = float(match.group(1)) * _UNITS.get((match.group(2) or "s").lower(), 1.0)
            if 0 < seconds <= MAX_RESET_SECONDS:
                return now + dt.timedelta(seconds=seconds)
    return None


def answer_result(answer: str, checkpoint: str) -> str | None:
    """A contract result JSON inside the agent's final answer (bare, in a ```json fence, or one object
    inside prose), if any."""
    candidates = [*re.findall(r"```(?:json)?\s*(\{.*?\})\s*```", answer, re.S), answer.strip()]
    if "{" in answer and "}" in answer:  # an object inside prose: from the first "{" to the last "}"
        candidates.append(answer[answer.index("{") : answer.rindex("}") + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("checkpoint") == checkpoint and "status" in data:
            return candidate
    return None


def _json_objects(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    if not out:
        try:
            value = json.loads(text)
        except ValueError:
            return []
        if isinstance(value, dict):
            out.append(value)
    return out


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _claude(text: str) -> AgentReport:
    results = [o for o in _json_objects(text) if o.get("type") == "result" or "usage" in o]
    if not results:
        return AgentReport()
    data = results[-1]
    usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
    cached = _int(usage.get("cache_read_input_tokens"))
    inputs = _int(usage.get("input_tokens")) + _int(usage.get("cache_creation_input_tokens")) + cached
    models: dict[str, Any] = data["modelUsage"] if isinstance(data.get("modelUsage"), dict) else {}
    cost = data.get("total_cost_usd")
    report = AgentReport(
        usage=TokenUsage(
            input_tokens=inputs,
            output_tokens=_int(usage.get("output_tokens")),
            cached_input_tokens=cached,
            cost_usd=float(cost or 0.0),
            cost_source="agent" if cost is not None else "none",
            model=",".join(sorted(models)),
        ),
        final_answer=str(data["result"]) if data.get("result") is not None else None,
    )
    if data.get("is_error"):
        report.error = str(data.get("result") or data.get("subtype") or "error")[:2000]
    status = data.get("api_error_status")
    if status == 429 or (data.get("is_error") and _RATE_LIMIT_SIGNS.search(report.error or "")):
        report.rate_limited = True
    return report


def _codex(text: str) -> AgentReport:
    report = AgentReport()
    usage = TokenUsage()
    found = False
    errors: list[str] = []
    for event in _json_objects(text):
        kind = event.get("type")
        if kind == "turn.completed" and isinstance(event.get("usage"), dict):
            found = True
            usage.input_tokens += _int(event["usage"].get("input_tokens"))
            usage.cached_input_tokens += _int(event["usage"].get("cached_input_tokens"))
            usage.output_tokens += _int(event["usage"].get("output_tokens"))
        elif kind == "item.completed" and isinstance(event.get("item"), dict):
            item = event["item"]
            if item.get("type") == "agent_message":
                report.final_answer = str(item.get("text") or "")
        elif kind in ("error", "turn.failed"):
            detail = event.get("message") or (event.get("error") or {}).get("message") or json.dumps(event)
            if str(detail) not in errors:
                errors.append(str(detail))
    if found:
        report.usage = usage
    if errors:
        report.error = "\n".join(errors)[-2000:]
        report.rate_limited = bool(_RATE_LIMIT_SIGNS.search(report.error))
    return report


def _tokens(value: str | None) -> int:
    if not value:
        return 0
    return round(float(value[:-1]) * 1000) if value.endswith("k") else int(float(value))


def _aider(text: str) -> AgentReport:
    report = AgentReport()
    matches = list(_AIDER_TOKENS.finditer(text))
    if matches:
        usage = TokenUsage(cost_source="agent")
        for m in matches:
            usage.input_tokens += _tokens(m.group(1)) + _tokens(m.group(2)) + _tokens(m.group(3))
            usage.cached_input_tokens += _tokens(m.group(3))
            usage.output_tokens += _tokens(m.group(4))
            usage.cost_usd += float(m.group(5) or 0.0)
        report.usage = usage
    if re.search(r"RateLimitError|rate limit", text, re.I):
        report.rate_limited = True
        report.error = _error_lines(text)
    return report


def _mini(traj: Path | None, text: str) -> AgentReport:
    report = AgentReport()
    if traj is not None and traj.is_file() and not traj.is_symlink():
        try:
            data = json.loads(traj.read_text(encoding="utf-8", errors="replace")[: 50 * 1024 * 1024])
        except ValueError:
            data = None
        if isinstance(data, dict):
            usage = TokenUsage()
            for found in _usages(data.get("messages") or []):
                usage.input_tokens += _int(found.get("prompt_tokens"))
                usage.output_tokens += _int(found.get("completion_tokens"))
                details = found.get("prompt_tokens_details")
                if isinstance(details, dict):
                    usage.cached_input_tokens += _int(details.get("cached_tokens"))
            stats = (data.get("info") or {}).get("model_stats") or {}
            cost = float(stats.get("instance_cost") or 0.0) if isinstance(stats, dict) else 0.0
            if cost > 0:
                usage.cost_usd, usage.cost_source = cost, "agent"
            report.usage = usage
            info = data.get("info") or {}
            if isinstance(info, dict) and info.get("submission"):
                report.final_answer = str(info["submission"])
    if re.search(r"RateLimitError", text):
        report.rate_limited = True
        report.error = _error_lines(text)
    return report


def _usages(node: Any) -> list[dict[str, Any]]:
    """Every `usage` mapping (litellm responses) nested in a trajectory's messages."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "usage" and isinstance(value, dict) and "prompt_tokens" in value:
                out.append(value)
            else:
                out.extend(_usages(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_usages(value))
    return out


def _error_lines(text: str) -> str:
    lines = [line for line in text.splitlines() if _RATE_LIMIT_SIGNS.search(line)]
    return "\n".join(lines[-5:])[-2000:]
