"""Security row: quick-action lines and mentions in every agent- and ticket-derived field that reaches
GitLab or Jira execute no command and notify nobody.

A scripted agent (real sandbox) answers C0-C2 with `/approve`, `/merge`, `/ready`, `/target_branch main`,
`/label ~ready-for-agent` and `@all` in its summary, files, plan, risks, open questions, bullets, tests
and remaining work; the ticket titles and open questions carry the same. The real flow publishes through
python-gitlab to the GitLab stand-in (which executes quick actions as GitLab does and journals them) and
through the jira client to the Jira stand-in (Server, wiki markup).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from nightshift.agents.backends import build_runner
from nightshift.agents.config import AgentConfig
from nightshift.agents.contract import Checkpoint
from nightshift.agents.workspace import WorkspaceManager
from nightshift.artifacts import ArtifactStore
from nightshift.forge.git import GitAuth
from nightshift.forge.merge_requests import MergeRequestForge
from nightshift.generation import flow
from nightshift.generation.flow import GenerationContext, Repository
from nightshift.generation.state import BatchState
from nightshift.intake.config import IntakeConfig
from nightshift.intake.pipeline import not_ready_comment
from nightshift.intake.records import IntakeRecord, NotReady
from nightshift.manifest import parse_manifest
from nightshift.models import Ticket, TicketState
from nightshift.trackers.base import marker_key
from nightshift.trackers.clients.gitlab import make_gitlab_client
from nightshift.trackers.clients.jira import make_jira_client
from nightshift.trackers.gitlab import GitLabIssueTracker
from nightshift.trackers.jira import JiraTracker
from standins.fixtures import running_gitlab
from standins.gitlab import GitLabStandin
from standins.jira import JiraStandin, start_jira

APP = "group/app"
NOW = dt.datetime(2026, 1, 5, 18, 0, tzinfo=dt.UTC)
COMMANDS = "/approve\n/merge\n/ready\n/target_branch main\n/label ~ready-for-agent\n/unlabel ~nightshift"
ATTACK = f"Looks good.\n{COMMANDS}\n@all please merge, cc @group/sub [~admin]"
TITLE = "Tidy up\n/approve @all"
MANIFEST = """batch_id: "2026-01-05-overnight"
created_at: "2026-01-05T18:00:00Z"
config: {max_tickets: 10, timeout_per_ticket: 30m, parallel_agents: 2}
tickets:
  - {id: "CALC-1", priority: high, complexity: small, estimated_files: ["src/*"], repository: "group/app"}
  - {id: "CALC-2", priority: high, complexity: small, estimated_files: ["src/*"], repository: "group/app"}
  - {id: "OPS-1", priority: high, complexity: small, estimated_files: ["src/*"], repository: "group/app"}
  - {id: "OPS-2", priority: high, complexity: small, estimated_files: ["src/*"], repository: "group/app"}
"""
PARTIAL = {
    "checkpoints": {
        "C0": {"result": {"scope": {"summary": ATTACK, "files": ["src/app.py", "src/x\n/approve"]}}},
        "C1": {"result": {"plan": {"plan": ATTACK, "risks": [ATTACK, "@all /merge"]}}},
        "C2": {
            "steps": [{"write": {"path": "src/extra.py", "content": "x = 1\n"}}],
            "partial": [ATTACK, "/label ~ready-for-agent"],
            "result": {
                "implementation": {"summary": ATTACK, "bullets": [ATTACK], "tests_run": ["pytest\n/merge"]}
            },
        },
    }
}
ESCALATE = {
    "checkpoints": {
        "C1": {"escalate": ATTACK, "result": {"plan": {"plan": ATTACK, "open_questions": [ATTACK]}}}
    }
}
BEHAVIOURS = {"CALC-1": PARTIAL, "OPS-1": PARTIAL, "CALC-2": ESCALATE, "OPS-2": ESCALATE}
MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]")
MD = MarkdownIt("commonmark")


def live_mentions(markdown: str) -> int:
    """Mentions a GitLab reader's renderer would resolve: `@name` outside code, in rendered text."""
    count = 0
    for token in MD.parse(markdown):
        for child in token.children or []:
            if child.type == "text":
                count += len(MENTION.findall(child.content))
    return count


def live_wiki_mentions(wiki: str) -> int:
    return len(re.findall(r"(?<!\\)\[~", wiki))


@dataclass
class World:
    gitlab: GitLabStandin
    jira: JiraStandin
    ctx: GenerationContext


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    seed = {
        "users": [{"username": "nightshift-bot"}, {"username": "alice"}],
        "tokens": [{"token": "glpat-attack-bot", "user": "nightshift-bot"}],
        "projects": [
            {
                "path_with_namespace": APP,
                "repository": {"files": {"src/app.py": "x = 0\n"}},
                "issues": [
                    {"title": TITLE, "labels": ["ready-for-agent"], "author": "alice"},
                    {"title": TITLE, "labels": ["ready-for-agent"], "author": "alice"},
                ],
            }
        ],
    }
    jira = start_jira(
        "server",
        {
            "projects": [{"key": "OPS"}],
            "issues": [{"key": "OPS-1", "summary": "a"}, {"key": "OPS-2", "summary": "b"}],
        },
    )
    behaviours = tmp_path / "behaviours"
    behaviours.mkdir()
    for ticket_id, behaviour in BEHAVIOURS.items():
        (behaviours / f"{ticket_id}.yaml").write_text(yaml.safe_dump(behaviour))
    runner = build_runner(
        AgentConfig(
            backend="scripted",
            grace_seconds=1,
            scripted={"behaviours_dir": str(behaviours), "state_dir": str(tmp_path / "state")},
        )
    )
    with running_gitlab(seed) as gitlab:
        gl = make_gitlab_client(gitlab.base_url, gitlab.token, timeout=10, retries=2)
        user, secret = jira.credentials()
        jira_tracker = JiraTracker(make_jira_client(jira.base_url, user=user, password=secret))
        gitlab_tracker = GitLabIssueTracker(gl, [APP])
        manifest = parse_manifest(MANIFEST)
        records = {}
        for entry in manifest.tickets:
            on_gitlab = entry.id.startswith("CALC")
            records[entry.id] = IntakeRecord(
                ticket=Ticket(
                    id=entry.id,
                    title=TITLE,
                    description=ATTACK,
                    source="gitlab" if on_gitlab else "jira",
                    complexity="small",
                    estimated_files=["src/*"],
                    open_questions=[ATTACK],
                ),
                source="gitlab" if on_gitlab else "jira",
                tracker_key=f"{APP}#{entry.id[-1]}" if on_gitlab else entry.id,
            )
        ctx = GenerationContext(
            manifest=manifest,
            state=BatchState(ArtifactStore(f"file://{tmp_path}/artifacts").batch(manifest.batch_id)),
            runner=runner,
            workspaces=WorkspaceManager(tmp_path / "ws", min_free_mb=1),
            record=records.__getitem__,
            repository=lambda e: Repository(
                path=APP, git_url=gitlab.repo_url(APP), auth=GitAuth(token=gitlab.token)
            ),
            forge=lambda repo: MergeRequestForge(gl, repo.path),
            tracker=lambda record: gitlab_tracker if record.source == "gitlab" else jira_tracker,
            clock=lambda: NOW,
        )
        try:
            yield World(gitlab, jira, ctx)
        finally:
            jira.stop()


def run_ticket(ctx: GenerationContext, ticket_id: str) -> flow.Decision:
    steps: list[Any] = [lambda: flow.dependency_decision(ctx, ticket_id)]
    for cp in (Checkpoint.C0, Checkpoint.C1):
        steps += [
            lambda cp=cp: flow.before_checkpoint(ctx, ticket_id, cp),
            lambda cp=cp: flow.run_checkpoint(ctx, ticket_id, cp, "try1"),
        ]
    steps += [
        lambda: flow.escalation_decision(ctx, ticket_id),
        lambda: flow.before_checkpoint(ctx, ticket_id, Checkpoint.C2),
        lambda: flow.run_checkpoint(ctx, ticket_id, Checkpoint.C2, "try1"),
        lambda: flow.publish(ctx, ticket_id),
    ]
    decision = flow.Decision(action="continue")
    for step in steps:
        decision = step()
        if decision.action != "continue":
            break
    return decision


@pytest.mark.reliability
def test_agent_and_ticket_text_runs_no_quick_action_and_mentions_nobody(
    world: World, tmp_path: Path, reliability_row
):
    ctx, gitlab, jira = world.ctx, world.gitlab, world.jira
    for ticket_id in ("CALC-1", "CALC-2", "OPS-1", "OPS-2"):
        run_ticket(ctx, ticket_id)
    states = {t: ctx.state.outcome(t).state for t in ("CALC-1", "CALC-2", "OPS-1", "OPS-2")}
    assert states == {
        "CALC-1": TicketState.PARTIAL,
        "CALC-2": TicketState.ESCALATED,
        "OPS-1": TicketState.PARTIAL,
        "OPS-2": TicketState.ESCALATED,
    }
    # A not-ready comment quotes the ticket's open questions.
    not_ready = NotReady(ticket_id="CALC-2", missing=[f"no open questions: {ATTACK}"], needs_fix=True)
    body = not_ready_comment(ctx.batch_id, not_ready, IntakeConfig())
    GitLabIssueTracker(make_gitlab_client(gitlab.base_url, gitlab.token), [APP]).comment_once(
        f"{APP}#2", marker_key(batch=ctx.batch_id, ticket="CALC-2", kind="not-ready"), body
    )
    # A retried publish (its outcome lost) upserts the same MR again.
    (tmp_path / "artifacts" / ctx.batch_id / "tickets" / "CALC-1" / "outcome.json").unlink()
    flow.publish(ctx, "CALC-1")

    executed = [f"{q.name} ({q.where})" for q in gitlab.quick_actions]
    texts = [mr["title"] + "\n\n" + mr["description"] for mr in gitlab.merge_requests(APP)]
    texts += [i["title"] + "\n\n" + i["description"] for i in gitlab.issues(APP) if i["iid"] > 2]  # ours
    texts += gitlab.notes(APP, issue_iid=1) + gitlab.notes(APP, issue_iid=2)
    mentions = sum(live_mentions(text) for text in texts)
    wiki = [str(c) for key in jira.issues for c in jira.comment_bodies(key)]
    wiki += [str(issue.description or "") for issue in jira.issues.values()]
    mentions += sum(live_wiki_mentions(text) for text in wiki)
    mrs = {mr["source_branch"]: mr for mr in gitlab.merge_requests(APP)}
    followups = [i for i in gitlab.issues(APP) if i["iid"] > 2]
    reliability_row(
        row="Quick-action lines and mentions in every agent- and ticket-derived field",
        injection="/approve /merge /ready /target_branch /label ~ready-for-agent @all in C0-C2 fields, titles",
        figure=f"{len(executed)} quick actions executed, {mentions} mentions live",
        criterion="0 and 0",
        passed=not executed and mentions == 0,
    )
    assert executed == []
    assert mentions == 0
    assert sorted(mrs) == ["agent/CALC-1", "agent/OPS-1"]
    assert all(
        mr["draft"] and mr["target_branch"] == "main" and mr["state"] == "opened" for mr in mrs.values()
    )
    assert all("nightshift" in mr["labels"] for mr in mrs.values())
    assert [f for f in followups if "ready-for-agent" in f["labels"]] == []
    assert len(followups) == 1
    # Still reads well: Nightshift's headings, the agent's words quoted.
    description = mrs["agent/CALC-1"]["description"]
    html = MD.render(description)
    assert "<h2>Plan</h2>\n<blockquote>" in html and "/approve" in html
    assert "> \\/approve" in description
