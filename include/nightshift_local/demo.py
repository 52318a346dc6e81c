"""`make demo`: one whole batch through the real scheduler, triggerer and pools on the embedded default.

SQLite + LocalExecutor, the stand-in GitLab (with git over HTTP) serving the demo repository, the demo
ticket files, and the scripted agent in the bubblewrap sandbox. Time windows are compressed: the run
is triggered by hand with wait_for_windows=false.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from nightshift import layout
from nightshift.artifacts import write_text_atomic
from nightshift.config import TICKET_TASK_ID
from nightshift.review.links import review_page_url
from nightshift_local.stack import REPO, AirflowStack

DEMO = REPO / "include" / "demo"
PROJECT = "demo/calc"


def demo_issues() -> list[dict[str, Any]]:
    """include/demo/gitlab-issues/<iid>.md: front matter (iid, title, labels) and the description."""
    from nightshift.safe_yaml import load_yaml_text

    issues = []
    for path in sorted((DEMO / "gitlab-issues").glob("[0-9]*.md"), key=lambda p: int(p.stem)):
        _, front, body = path.read_text().split("---\n", 2)
        meta = load_yaml_text(front, source=str(path))
        issues.append(
            {
                "iid": int(meta["iid"]),
                "title": meta["title"],
                "labels": meta["labels"],
                "description": body.strip() + "\n",
            }
        )
    assert [i["iid"] for i in issues] == list(range(1, len(issues) + 1)), "gitlab-issues: iids 1..n"
    return [{k: v for k, v in issue.items() if k != "iid"} for issue in issues]


JIRA_ISSUE = """A calculator needs a sign flip.

h2. Acceptance criteria
* {{calc.ops.negate(x)}} returns {{-x}}
* {{negate(0) == 0}}

h2. Test cases
* {{negate(3) == -3}}

h2. Agent Readiness
* [x] Acceptance criteria clear
* [x] No open questions
* [x] Dependencies: None
* [x] Estimated files: src/calc/ops.py, tests/test_ops.py
* [x] Complexity: Small"""


def jira_seed() -> dict[str, Any]:
    """One Jira Server/DC project with one ready ticket (wiki markup), for the Jira path of intake."""
    return {
        "projects": [{"key": "OPS", "name": "Operations"}],
        "issues": [
            {
                "key": "OPS-1",
                "summary": "Add negate()",
                "description": JIRA_ISSUE,
                "labels": ["ready-for-agent", "behaviour:normal"],
                "priority": "Medium",
            }
        ],
    }


def demo_seed(token: str) -> dict[str, Any]:
    return {
        "users": [
            {"username": "nightshift-bot", "name": "Nightshift Bot"},
            {"username": "reviewer", "name": "Rita Reviewer"},
        ],
        "tokens": [{"token": token, "user": "nightshift-bot", "scopes": ["api"]}],
        "projects": [
            {
                "path_with_namespace": PROJECT,
                "description": "The demo repository of Nightshift's make demo",
                "repository": {"seed_dir": str(DEMO / "repo")},
                "labels": [{"name": "ready-for-agent", "color": "#2da160"}],
                "issues": demo_issues(),
            }
        ],
    }


def demo_config(root: Path, parallel_agents: int) -> dict[str, Any]:
    return {
        "artifacts_url": f"file://{root / 'artifacts'}",
        "workdir": str(root / "work"),
        "batch": {"max_tickets": 20, "timeout_per_ticket": "10m", "parallel_agents": parallel_agents},
        "forge": {"gitlab_conn_id": "gitlab_default"},
        "generation": {"dependency_poll_seconds": 1, "pause_poll_seconds": 1},
        # The demo repository's tests (its .nightshift/gates.yaml) run with pytest from this venv,
        # mounted read-only into the sandbox: the network stays off and nothing is installed.
        "gates": {"toolchain": {"path": sys.prefix}},
        "agent": {
            "backend": "scripted",
            "timeout_seconds": 120,
            "min_free_disk_mb": 64,
            "scripted": {
                "behaviours_dir": str(DEMO / "behaviours"),
                "state_dir": str(root / "scripted-state"),
            },
        },
        "intake": {
            "sources": [
                {"kind": "files", "name": "demo-files", "folder": str(DEMO / "tickets")},
                {"kind": "jira", "name": "demo-jira", "connection_id": "jira_default"},
                {
                    "kind": "gitlab",
                    "name": "demo-gitlab",
                    "connection_id": "gitlab_default",
                    "projects": [PROJECT],
                },
            ],
            "gitlab_key_prefixes": {PROJECT: "CALC"},
            "routing": {"default_repository": PROJECT},
        },
    }


ACTIVE = ("running", "deferred", "queued", "scheduled", "up_for_retry", "up_for_reschedule")


def progress_line(tis: list[dict[str, Any]], ticket_ids: list[str] | None = None) -> str:
    """One line: the batch-level tasks at work, and each ticket's state (by ticket id)."""
    now = dt.datetime.now().strftime("%H:%M:%S")
    stage = ", ".join(
        f"{ti['task_id']}:{ti['state']}"
        for ti in tis
        if ti["task_id"] != TICKET_TASK_ID and ti.get("state") in ACTIVE
    )
    names: dict[int, str] = dict(enumerate(ticket_ids or []))
    states: dict[int, str] = {}
    for ti in tis:
        index = ti.get("map_index", -1)
        if ti["task_id"] != TICKET_TASK_ID or index < 0:
            continue
        if ti.get("rendered_map_index") and index not in names:
            names[index] = ti["rendered_map_index"]
        state = ti.get("state") or "none"
        if state in ACTIVE or state in ("failed", "skipped", "upstream_failed", "success"):
            states[index] = "done" if state == "success" else state
    tickets = " ".join(f"{names.get(i, f'#{i}')}={label}" for i, label in sorted(states.items()))
    return f"[{now}] {stage} | {tickets}".strip(" |")


class DemoEnvironment:
    """The stand-in GitLab, a demo config and a local Airflow stack; shared by the demo and the e2e tests."""

    def __init__(
        self, root: Path, parallel_agents: int = 2, config_overrides: dict[str, Any] | None = None
    ) -> None:
        from standins.fixtures import start_gitlab
        from standins.jira import start_jira

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.token = "glpat-demo-" + dt.datetime.now().strftime("%H%M%S%f")
        self.gitlab = start_gitlab(demo_seed(self.token), state_dir=root / "gitlab")
        self.jira = start_jira("server", jira_seed())
        login, secret = self.jira.credentials()
        jira_conn = json.dumps(
            {
                "conn_type": "jira",
                "host": self.jira.base_url,
                "login": login,
                "password": secret,
                "extra": {"deployment": "server"},
            }
        )
        self.config_path = root / "nightshift.yaml"
        self.write_config(demo_config(root, parallel_agents), config_overrides)
        conn = json.dumps({"conn_type": "gitlab", "host": self.gitlab.base_url, "password": self.token})
        self.stack = AirflowStack(
            home=root / "airflow",
            pool_slots=parallel_agents,
            extra_env={
                "NIGHTSHIFT_CONFIG": str(self.config_path),
                "AIRFLOW_CONN_GITLAB_DEFAULT": conn,
                "AIRFLOW_CONN_JIRA_DEFAULT": jira_conn,
                "NIGHTSHIFT_HOME": str(root),
            },
        )

    def write_config(self, config: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        """Task processes read the config file when they start, so a rewrite applies to the next tasks."""
        merged = _deep_merge(config, overrides or {})
        self.config = merged
        write_text_atomic(self.config_path, yaml.safe_dump(merged, sort_keys=False))

    def start(self) -> DemoEnvironment:
        self.stack.start()
        self.stack.wait_for_dag()
        return self

    def stop(self) -> None:
        self.stack.stop()
        self.gitlab.stop()
        self.jira.stop()

    def batch_dir(self, batch_id: str) -> Path:
        return self.root / "artifacts" / batch_id

    def merge_requests(self) -> list[dict[str, Any]]:
        return gitlab_merge_requests(self.gitlab, self.token)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


#: The spec's Trend Tracking example, weeks 1 and 2: the demo's two earlier weeks of reviewed batches.
EARLIER_WEEKS = [(14, 12, 9, 82, [11, 14, 9, 13]), (7, 15, 12, 84, [8, 12, 10, 16])]


def seed_earlier_weeks(artifacts_root: Path, today: dt.date | None = None) -> list[str]:
    """Metrics records of two reviewed batches one and two weeks back, so the demo's trend is never
    empty. Only `review/metrics.json` is written: the batch picker and carry-over ignore a folder
    without a manifest, and the trend reads nothing else."""
    from nightshift.artifacts import ArtifactStore
    from nightshift.review.metrics import BatchMetrics, ReviewTime, save_metrics

    store = ArtifactStore(artifacts_root.resolve().as_uri())
    today = today or dt.datetime.now(dt.UTC).date()
    seeded = []
    for days, tickets, completed, score, minutes in EARLIER_WEEKS:
        day = today - dt.timedelta(days=days)
        batch_id = f"{day:%Y-%m-%d}-overnight"
        queued = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(8, 0), dt.UTC)
        save_metrics(
            store.batch(batch_id),
            BatchMetrics(
                batch_id=batch_id,
                created_at=f"{day:%Y-%m-%d}T18:00:00Z",
                computed_at=queued,
                status="reviewed",
                tickets=tickets,
                completed=completed,
                escalated=2,
                failed=tickets - completed - 2,
                scores=[score] * completed,
                merge_requests=completed,
                review_times=[
                    ReviewTime(
                        ticket_id=f"DEMO-{100 + i}",
                        started_at=queued,
                        reviewed_at=queued + dt.timedelta(minutes=m),
                        event="approval",
                        done=True,
                    )
                    for i, m in enumerate(minutes)
                ],
            ),
        )
        seeded.append(batch_id)
    return seeded


def run_demo(root: Path, parallel_agents: int = 2, keep: bool = False, timeout: float = 900) -> int:
    env = DemoEnvironment(root, parallel_agents)
    stack = env.stack
    print(f"demo: working in {root}")
    print(f"demo: stand-in GitLab at {env.gitlab.base_url} (project {PROJECT}), Jira at {env.jira.base_url}")
    started = time.monotonic()
    try:
        env.start()
        seed_earlier_weeks(root / "artifacts")
        print(
            f"demo: Airflow at {stack.base_url} (user admin, password {stack.password}); "
            f"logs in {stack.home / 'logs'}"
        )
        run_id = stack.trigger({"wait_for_windows": False})
        print(f"demo: triggered run {run_id}")
        order: list[str] = []

        def progress(tis: list[dict[str, Any]]) -> str:
            """Map indices to ticket ids once start_generation has returned the sequence."""
            if not order and any(t["task_id"] == "start_generation" and t["state"] == "success" for t in tis):
                order.extend(stack.xcom(run_id, "start_generation"))
            return progress_line(tis, order)

        state = stack.wait_for_run(run_id, timeout=timeout, progress=progress)
        tis = stack.task_instances(run_id)
        counts = Counter(ti.get("state") for ti in tis)
        print(f"demo: run {state} in {time.monotonic() - started:.0f}s; task instances: {dict(counts)}")
        batch_id = stack.xcom(run_id, "intake_collect")["batch_id"]
        batch = env.batch_dir(batch_id)
        dashboard = batch / layout.REVIEW_DASHBOARD
        if dashboard.exists():
            print(dashboard.read_text())
        manifest = yaml.safe_load((batch / layout.MANIFEST).read_text())
        print(f"demo: manifest       {batch / layout.MANIFEST}")
        print(f"demo: escalations    {batch / layout.ESCALATIONS}")
        tickets = batch / layout.TICKETS
        print(f"demo: ticket records {tickets} (checkpoint results, agent transcripts, outcomes)")
        for issue in sorted(env.gitlab.issues(PROJECT), key=lambda i: i["iid"]):
            notes = len(env.gitlab.notes(PROJECT, issue_iid=issue["iid"]))
            print(
                f"demo: issue #{issue['iid']} {issue['title'][:50]!r} labels={issue['labels']} "
                f"comments={notes}: {issue['web_url']}"
            )
        for mr in env.merge_requests():
            print(f"demo: MR !{mr['iid']} {mr['source_branch']} -> {mr['target_branch']}: {mr['web_url']}")
        print(f"demo: review page    {review_page_url(stack.base_url, batch_id)} (sign in as admin)")
        if keep:
            print("demo: serving until Ctrl-C (Airflow UI and stand-ins stay up)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        status = manifest.get("status")
        print(f"demo: batch {manifest['batch_id']} {status}")
        return 0 if state == "success" and status in ("completed", "aborted") else 1
    finally:
        env.stop()


def gitlab_merge_requests(gitlab: Any, token: str) -> list[dict[str, Any]]:
    import requests

    resp = requests.get(
        f"{gitlab.base_url}/api/v4/projects/{PROJECT.replace('/', '%2F')}/merge_requests",
        headers={"PRIVATE-TOKEN": token},
        params={"state": "all", "per_page": "100"},
        timeout=10,
    )
    return list(resp.json()) if resp.ok else []


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightshift demo", description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="working folder (default var/demo/<time>)")
    parser.add_argument("--parallel-agents", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep Airflow and the stand-ins up afterwards")
    args = parser.parse_args(argv)
    # A SIGTERM (e.g. from a CI job or `kill`) unwinds like Ctrl-C, so the Airflow processes, which run in
    # their own sessions, are stopped by run_demo's cleanup instead of being left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    root = args.root or REPO / "var" / "demo" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        return run_demo(root.resolve(), args.parallel_agents, args.keep)
    except KeyboardInterrupt:
        print("demo: interrupted; Airflow and the stand-ins were stopped")
        return 130
