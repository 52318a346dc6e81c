"""The command backend: any coding-agent CLI, one invocation per checkpoint, in the sandbox.

The argv template (`command:` in config, or a preset from include/nightshift/defaults/agents.yaml) and the
prompt templates (include/nightshift/defaults/prompts/C0.md, C1.md, C2.md) use string.Template `$name`
placeholders, filled per checkpoint. Template values are substituted once: a `$title` inside a
ticket's text stays literal. Argument lists are never passed through a shell.

Variables: $prompt (the rendered prompt text), $prompt_file (the same text in a file),
$prompt_yaml_file (a YAML file holding the prompt at the dotted key `prompt_yaml_key`, for CLIs that
read their task from a config file), $result_path (where the agent must write its result JSON; also in
NIGHTSHIFT_RESULT), $request_path (the request JSON; also NIGHTSHIFT_REQUEST), $workspace, $checkpoint,
$ticket_id, $home, and every `command_vars` entry. Prompts additionally get $title, $description,
$acceptance_criteria, $estimated_files, $test_cases, $open_questions, $previous, $escalation_answer,
$batch_id and $result_format.

The prompt reaches the agent by file ($prompt_file, $prompt_yaml_file) or on stdin (`prompt_stdin:
true`); every preset does that. A ticket body can be large and multi-byte (44k CJK characters are over
128 KiB of UTF-8): the prompt is capped in BYTES (MAX_PROMPT_BYTES), and a command whose one argument
would exceed the kernel's per-argument limit (E2BIG) is refused before anything starts, naming the fix.

After the run, the preset's adapter (`usage_format`, nightshift.agents.adapters) reads the CLI's own
report. The result is, in this order: the result.json the agent wrote; a result JSON in the CLI's final
answer (Claude Code's `result`, Codex's last agent message); `rate_limited` (with the reset time when
the output names one) when the CLI ended on the API's rate limit; else, when the checkpoint is in
`synthesise_results` (default: C2 only), a synthesised result, exactly as follows:
  files = paths from `git status --porcelain --untracked-files=all` in the worktree
          (i.e. `git diff --name-only HEAD` plus untracked files)
  C2: exit 0 and files    -> status ok, implementation.files_changed = files,
                             summary says it was synthesised, tests_passed = null
      exit 0 and no files -> failed "the agent exited 0, wrote no result and changed no file"
      exit != 0           -> failed "the agent exited with code N and wrote no result"
                             (files_changed still lists what it left behind)
  C0: exit 0              -> ok, scope.files = the ticket's estimated_files, summary = the final
                             answer (or the end of stdout)
  C1: exit 0              -> ok, plan.plan = the final answer (or the end of stdout)
  A process killed by a signal says so ("was killed by SIGKILL"); a timeout is "timed out after Ns".
Usage (tokens, cached tokens, cost) comes from the adapter; without a cost from the CLI it is priced
from the price table (nightshift.agents.prices) for `price_model` or command_vars.model.
  not a git worktree      -> failed (changes cannot be listed)
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from collections.abc import Mapping
from pathlib import Path
from string import Template

import yaml

from nightshift.agents.adapters import answer_result, read_report
from nightshift.agents.config import BUILTIN_VARS, AgentConfig
from nightshift.agents.contract import (
    Checkpoint,
    CheckpointResult,
    ImplementResult,
    PlanResult,
    ScopeResult,
    TokenUsage,
    parse_result,
)
from nightshift.agents.prices import PriceTable
from nightshift.agents.runner import SANDBOX_IO, AgentRunner, Invocation, PrepareError, RunContext
from nightshift.agents.sandbox import Mount, ProcessOutcome, python_runtime_paths
from nightshift.forge.git import GitError, status_paths

#: The rendered prompt is cut (on a character boundary) beyond this many UTF-8 bytes.
MAX_PROMPT_BYTES = 512 * 1024
#: One argv string may not exceed MAX_ARG_STRLEN (32 pages = 128 KiB) or exec fails with E2BIG.
MAX_ARG_BYTES = 100 * 1024
_TRUNCATED = "\n\n[prompt truncated by Nightshift]\n"
_STDOUT_TAIL = 4000

RESULT_FORMATS: dict[Checkpoint, dict[str, object]] = {
    Checkpoint.C0: {
        "checkpoint": "C0",
        "status": "ok",
        "scope": {"summary": "what the ticket touches", "files": ["src/example.py"]},
    },
    Checkpoint.C1: {
        "checkpoint": "C1",
        "status": "ok",
        "plan": {
            "plan": "the approach",
            "risks": ["what could break"],
            "complexity": "small",
            "escalation_reason": None,
            "open_questions": [],
        },
    },
    Checkpoint.C2: {
        "checkpoint": "C2",
        "status": "ok",
        "implementation": {
            "summary": "what changed",
            "bullets": ["one line per change"],
            "files_changed": ["src/example.py"],
            "tests_run": ["pytest tests/"],
            "tests_passed": True,
            "remaining_work": [],
        },
    },
}


def load_prompts(prompts_dir: Path) -> dict[Checkpoint, Template]:
    """Read C0.md, C1.md and C2.md and check every placeholder is one we fill in."""
    prompts: dict[Checkpoint, Template] = {}
    for checkpoint in Checkpoint:
        path = prompts_dir / f"{checkpoint.value}.md"
        template = Template(path.read_text(encoding="utf-8"))
        try:
            template.substitute(dict.fromkeys(_PROMPT_FIELDS, "x"))
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"{path}: unknown or malformed placeholder {exc} (write $$ for a literal $)"
            ) from None
        prompts[checkpoint] = template
    return prompts


_PROMPT_FIELDS = (
    "ticket_id",
    "title",
    "description",
    "acceptance_criteria",
    "estimated_files",
    "test_cases",
    "open_questions",
    "checkpoint",
    "workspace",
    "result_path",
    "request_path",
    "previous",
    "escalation_answer",
    "batch_id",
    "result_format",
    "home",
)


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else "- (none given)"


def render_prompt(template: Template, ctx: RunContext) -> str:
    request = ctx.request
    ticket = request.ticket
    previous = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in request.previous.items()}
    fields = {
        "ticket_id": ticket.id,
        "title": ticket.title or "(untitled)",
        "description": ticket.description or "(no description)",
        "acceptance_criteria": _bullets(ticket.acceptance_criteria),
        "estimated_files": _bullets(ticket.estimated_files),
        "test_cases": _bullets(ticket.test_cases),
        "open_questions": _bullets(ticket.open_questions),
        "checkpoint": request.checkpoint.value,
        "workspace": str(ctx.workspace),
        "result_path": str(ctx.paths.result),
        "request_path": str(ctx.paths.request),
        "previous": json.dumps(previous, indent=2) if previous else "{}",
        "escalation_answer": request.escalation_answer or "(none)",
        "batch_id": request.batch_id,
        "result_format": json.dumps(RESULT_FORMATS[request.checkpoint], indent=2),
        "home": str(ctx.paths.home),
    }
    text = template.substitute(fields)
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) > MAX_PROMPT_BYTES:
        text = encoded[: MAX_PROMPT_BYTES - len(_TRUNCATED)].decode("utf-8", errors="ignore") + _TRUNCATED
    return ctx.redactor.text(text)


def prompt_yaml(prompt: str, key: str) -> str:
    """The prompt nested at a dotted key (`run.task` -> {run: {task: prompt}}), as YAML."""
    data: dict[str, object] = {}
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        child: dict[str, object] = {}
        node[part] = child
        node = child
    node[leaf] = prompt
    return yaml.safe_dump(data, allow_unicode=True, default_flow_style=False, width=1_000_000)


def changed_files(workspace: Path) -> list[str] | None:
    """Paths changed in the worktree (tracked changes and untracked files); None if not a git worktree.

    Host git on the agent's tree runs hardened (nightshift.forge.git): a `.git` the agent planted below
    the worktree is refused, never obeyed (None here; the flow fails the checkpoint naming the path)."""
    try:
        return status_paths(workspace)
    except GitError:
        return None


def parse_usage(fmt: str, stdout: bytes) -> TokenUsage | None:
    """Token usage the CLI printed itself (see nightshift.agents.adapters for the formats)."""
    return read_report(fmt, stdout, b"", None, utcnow()).usage


def npm_prefix(binary: Path) -> Path | None:
    """The npm prefix folder of PREFIX/node_modules/.bin/NAME (a link into a package that needs its
    whole install, native binaries included), so the sandbox mounts all of it; else None."""
    parent = binary.parent
    if parent.name == ".bin" and parent.parent.name == "node_modules":
        return parent.parent.parent
    return None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def exit_description(code: int | None) -> str:
    """How the process ended, telling a crash by signal apart from an exit code (a timeout is
    reported by the runner before this is asked)."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


class CommandRunner(AgentRunner):
    """Runs a configured CLI per checkpoint; see the module docstring for templates and synthesis."""

    backend = "command"

    def __init__(self, config: AgentConfig, *, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(config, environ=environ)
        self.prompts = load_prompts(config.prompts_dir)
        # Fail at build time on a template that names a variable nobody fills in.
        probe = dict.fromkeys([*config.command_vars, *BUILTIN_VARS], "x")
        self.prices = PriceTable.load(config.prices_file)
        for arg in config.command:
            try:
                Template(arg).substitute(probe)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"agent command {arg!r}: unknown or malformed placeholder {exc}") from None

    def prepare(self, ctx: RunContext) -> Invocation:
        prompt = render_prompt(self.prompts[ctx.request.checkpoint], ctx)
        host_prompt = ctx.run_dir / "prompt.md"
        host_yaml = ctx.run_dir / "prompt.yaml"
        prompt_file = SANDBOX_IO / "prompt.md" if ctx.sandboxed else host_prompt
        yaml_file = SANDBOX_IO / "prompt.yaml" if ctx.sandboxed else host_yaml
        values = {
            **ctx.vars,
            "prompt": prompt,
            "prompt_file": str(prompt_file),
            "prompt_yaml_file": str(yaml_file),
            "out_dir": str(ctx.paths.out_dir),
        }
        try:
            argv = [Template(arg).substitute(values) for arg in self.config.command]
        except (KeyError, ValueError) as exc:
            raise PrepareError(f"agent command template: unknown placeholder {exc}") from None
        longest = max((len(arg.encode("utf-8", errors="replace")) for arg in argv), default=0)
        if longest > MAX_ARG_BYTES:
            raise PrepareError(
                f"an argument of the agent command is {longest} bytes, over the {MAX_ARG_BYTES}-byte limit "
                f"for one argument (the prompt is {len(prompt.encode())} bytes): hand the prompt over with "
                "$prompt_file, $prompt_yaml_file or prompt_stdin: true instead of $prompt"
            )
        evidence = {"prompt.md": prompt}
        uses_yaml = any(
            "$prompt_yaml_file" in arg or "${prompt_yaml_file}" in arg for arg in self.config.command
        )
        if uses_yaml:
            evidence["prompt.yaml"] = prompt_yaml(prompt, self.config.prompt_yaml_key)
        mounts: list[Mount] = []
        seen: set[Path] = set()
        sources = [*self.config.ro_binds]
        if argv and Path(argv[0]).is_absolute():
            sources.append(npm_prefix(Path(argv[0])) or Path(argv[0]))
        for source in sources:
            for path in [source, *python_runtime_paths(source)]:
                resolved = path.resolve()
                if resolved.exists() and resolved not in seen and resolved.parts[:2] != ("/", "usr"):
                    seen.add(resolved)
                    mounts.append(Mount(resolved))
        if ctx.sandboxed:
            mounts.append(Mount(host_prompt, dest=prompt_file))
            if uses_yaml:
                mounts.append(Mount(host_yaml, dest=yaml_file))
        return Invocation(
            argv=argv,
            mounts=mounts,
            evidence=evidence,
            stdin=host_prompt if self.config.prompt_stdin else None,
        )

    def interpret(self, ctx: RunContext, outcome: ProcessOutcome, raw: bytes | None) -> CheckpointResult:
        """The result the agent wrote; else a result JSON in its final answer; else a rate limit it
        hit; else a synthesised result (see the module docstring). Usage comes from the CLI's output,
        priced from the price table when the CLI gives no cost."""
        checkpoint = ctx.request.checkpoint
        report = read_report(
            self.config.usage_format, outcome.stdout, outcome.stderr, ctx.host_out_dir, utcnow()
        )
        if raw is None and report.final_answer and not report.rate_limited:
            found = answer_result(report.final_answer, checkpoint.value)
            raw = found.encode() if found is not None else None
        if raw is not None:
            result = parse_result(checkpoint, raw)
        elif report.rate_limited:
            result = CheckpointResult(
                checkpoint=checkpoint,
                status="rate_limited",
                reason=f"the model API rate-limited the agent: {ctx.redactor.text(report.error or '')}"[
                    :2000
                ],
                rate_limit_reset_at=report.reset_at,
            )
        elif checkpoint in self.config.synthesise_results:
            result = self.synthesise(ctx, outcome, report.final_answer, report.error)
        else:
            result = CheckpointResult.failed(
                checkpoint,
                f"the agent wrote no result to {ctx.paths.result} (exit code {outcome.exit_code}"
                + (f", {exit_description(outcome.exit_code)})" if (outcome.exit_code or 0) < 0 else ")")
                + (f": {report.error}" if report.error else ""),
            )
        usage = report.usage if result.usage == TokenUsage() else result.usage
        if usage is not None:
            model = self.config.price_model or self.config.command_vars.get("model", "")
            result = result.model_copy(update={"usage": self.prices.priced(usage, model)})
        return result

    def synthesise(
        self,
        ctx: RunContext,
        outcome: ProcessOutcome,
        answer: str | None = None,
        error: str | None = None,
    ) -> CheckpointResult:
        checkpoint = ctx.request.checkpoint
        code = outcome.exit_code
        text = answer if answer else outcome.stdout[-_STDOUT_TAIL:].decode(errors="replace")
        tail = ctx.redactor.text(text[-_STDOUT_TAIL:]).strip()
        exited = exit_description(code) + (f" ({ctx.redactor.text(error)[:500]})" if error else "")
        if checkpoint == Checkpoint.C2:
            files = changed_files(ctx.workspace)
            if files is None:
                return CheckpointResult.failed(
                    checkpoint, "the agent wrote no result and the workspace is not a git worktree"
                )
            if code != 0:
                return CheckpointResult(
                    checkpoint=checkpoint,
                    status="failed",
                    reason=f"the agent {exited} and wrote no result",
                    implementation=ImplementResult(files_changed=files),
                )
            if not files:
                return CheckpointResult.failed(
                    checkpoint, "the agent exited 0, wrote no result and changed no file"
                )
            return CheckpointResult(
                checkpoint=checkpoint,
                status="ok",
                reason="synthesised: the agent wrote no result.json",
                implementation=ImplementResult(
                    summary=(tail[-2000:] if answer else "")
                    or f"Synthesised by Nightshift: the agent exited 0 and changed {len(files)} file(s)",
                    bullets=[f"Changed {f}" for f in files],
                    files_changed=files,
                    tests_passed=None,
                ),
            )
        if code != 0:
            return CheckpointResult.failed(checkpoint, f"the agent {exited} and wrote no result")
        if checkpoint == Checkpoint.C0:
            return CheckpointResult(
                checkpoint=checkpoint,
                status="ok",
                reason="synthesised from the exit code",
                scope=ScopeResult(summary=tail[-2000:], files=list(ctx.request.ticket.estimated_files)),
            )
        return CheckpointResult(
            checkpoint=checkpoint,
            status="ok",
            reason="synthesised from the exit code",
            plan=PlanResult(plan=tail),
        )
