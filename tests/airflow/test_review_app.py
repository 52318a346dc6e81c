"""The review stage inside Airflow: the 08:00 task (dashboard, metrics to Airflow's Stats) and the review
page served by the real api-server app behind Airflow's own authentication."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from nightshift.artifacts import ArtifactStore
from nightshift.config import NightshiftConfig
from nightshift.models import TicketState
from nightshift.review.forge import GitLabActivityReader
from nightshift.trackers.clients.gitlab import make_gitlab_client
from standins.fixtures import running_gitlab
from tests.nightshift.review.fixtures import (
    BATCH,
    escalation,
    outcome,
    report,
    secret_flag,
    store_batch,
    ticket,
    view,
)

P = "group/app"


def _hostile_batch():
    return view(
        [
            ticket("P-1", "high", title="Login <script>alert(1)</script>", repository=P),
            ticket("P-2", title='Icon <img src=x onerror="alert(2)">', repository=P),
            ticket("P-3", title="Clean utils", repository=P),
            ticket("P-4", title="Architecture choice"),
            ticket("P-5", title="Waits on P-6"),
        ],
        [
            outcome("P-1"),
            outcome("P-2"),
            outcome("P-3"),
            outcome("P-4", TicketState.ESCALATED),
            outcome("P-5", TicketState.SKIPPED, "dependency P-6 failed"),
        ],
        {"P-1": report(70), "P-2": report(60, flags=[secret_flag("src/icon.py", 7)]), "P-3": report(96)},
        [escalation("P-4", questions=["REST or RPC?"])],
    )


def _run_operator(tmp_path, reader=None):
    from nightshift_airflow.operators.batch import ReviewQueueOperator

    config = NightshiftConfig(artifacts_url=f"file://{tmp_path}", workdir=str(tmp_path / "work"))
    op = ReviewQueueOperator(task_id="review_queue")
    context = {"dag_run": SimpleNamespace(), "params": {"batch_id": BATCH, "dry_run": reader is None}}
    with (
        mock.patch("nightshift.config.cached_config", return_value=config),
        mock.patch.object(ReviewQueueOperator, "_reader", return_value=reader),
        mock.patch("airflow.sdk.observability.stats.gauge") as gauge,
        mock.patch("airflow.sdk.observability.stats.timing") as timing,
        mock.patch("airflow.sdk.observability.stats.incr") as incr,
    ):
        result = op.execute(context)  # type: ignore[arg-type]
    return result, gauge, timing, incr


def test_review_task_writes_the_dashboard_and_emits_gauges(tmp_path) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    store_batch(store, _hostile_batch())
    result, gauge, timing, incr = _run_operator(tmp_path)
    text = (tmp_path / BATCH / "review" / "dashboard.txt").read_text()
    assert result["dashboard"].endswith("review/dashboard.txt") and "BATCH REVIEW" in text
    assert result["queue"][0].startswith("1. P-2 (1 security") and result["queue"][1].startswith(
        "2. P-1 (2 high"
    )
    gauges = {c.args[0]: c.args[1] for c in gauge.call_args_list}
    assert gauges["nightshift.batch.tickets"] == 5
    assert gauges["nightshift.batch.completion_rate"] == 60.0
    assert gauges["nightshift.batch.escalation_rate"] == 20.0
    assert "nightshift.batch.review_minutes" not in gauges  # nothing reviewed yet: no made-up zero
    assert all(c.kwargs["tags"] == {"batch_id": BATCH} for c in gauge.call_args_list)
    timing.assert_not_called()
    incr.assert_not_called()


def test_review_task_times_each_review_once(tmp_path) -> None:
    with running_gitlab() as server:
        client = make_gitlab_client(server.base_url, server.token)
        client.projects.get(P, lazy=True).branches.create({"branch": "agent/P-1", "ref": "main"})
        mr = client.projects.get(P, lazy=True).mergerequests.create(
            {"source_branch": "agent/P-1", "target_branch": "main", "title": "Draft: P-1"}
        )
        batch = view(
            [ticket("P-1", repository=P)], [outcome("P-1").model_copy(update={"merge_request_iid": mr.iid})]
        )
        store_batch(ArtifactStore(f"file://{tmp_path}"), batch)
        reader = GitLabActivityReader(client)
        _, _, timing, incr = _run_operator(tmp_path, reader)
        timing.assert_not_called()  # not reviewed yet
        server.approve(P, mr.iid, "reviewer")
        _, _, timing, incr = _run_operator(tmp_path, reader)
        [call] = timing.call_args_list
        assert call.args[0] == "nightshift.review.time_per_mr" and isinstance(call.args[1], dt.timedelta)
        incr.assert_called_once_with("nightshift.batch.reviewed", tags={"batch_id": BATCH})
        _, _, timing, incr = _run_operator(tmp_path, reader)  # a re-run measures nothing twice
        timing.assert_not_called()
        incr.assert_not_called()


# --- the review page, served by Airflow's own api-server app -------------------------------------------
@pytest.fixture(scope="module")
def review_site(airflow_db, tmp_path_factory):
    """Airflow's api-server app in-process (SimpleAuthManager, real JWTs), with a hand-made batch."""
    from fastapi.testclient import TestClient

    home = tmp_path_factory.mktemp("review-site")
    store = ArtifactStore(f"file://{home / 'artifacts'}")
    batch = _hostile_batch()
    batch.outcomes["P-3"] = batch.outcomes["P-3"].model_copy(
        update={"merge_request_url": "javascript:alert(3)"}
    )
    store_batch(store, batch)
    store_batch(store, view([ticket("P-1")], [outcome("P-1")]), "2026-11-23-overnight")
    (home / "passwords.json").write_text('{"admin": "s3cret-admin", "reviewer": "s3cret-viewer"}')
    config = NightshiftConfig(artifacts_url=store.url, workdir=str(home / "work"))
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,reviewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "j" * 64,
        "AIRFLOW__API__SECRET_KEY": "k" * 64,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.setattr("nightshift_airflow.review_app.data.cached_config", lambda: config)
        from airflow.api_fastapi.app import create_app

        app = create_app()
        with TestClient(app, base_url="http://127.0.0.1") as client:
            token = client.post("/auth/token", json={"username": "reviewer", "password": "s3cret-viewer"})
            assert token.status_code in (200, 201), token.text
            yield SimpleNamespace(client=client, token=token.json()["access_token"], store=store, app=app)


def _get(site, path: str, token: str | None = None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return site.client.get(path, headers=headers, follow_redirects=False, **kw)


PAGE = f"/nightshift/batches/{BATCH}"


def test_no_token_no_page(review_site) -> None:
    for path in (PAGE, "/nightshift/", f"/nightshift/batches?batch={BATCH}", "/nightshift/runs/x/y"):
        resp = _get(review_site, path)
        assert resp.status_code == 401, path
        assert "P-1" not in resp.text and "Login" not in resp.text and "<option" not in resp.text
        assert (
            'href="/auth/login' in resp.text and "Sign in to Airflow" in resp.text
        )  # a way in, nothing else
    forged = _get(review_site, PAGE, token="eyJhbGciOiJIUzUxMiJ9.e30.forged")
    assert forged.status_code in (401, 403) and "Login" not in forged.text


def test_a_user_airflow_does_not_authorise_gets_403(review_site) -> None:
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    with mock.patch.object(type(manager), "is_authorized_dag", return_value=False) as check:
        resp = _get(review_site, PAGE, review_site.token)
    assert resp.status_code == 403 and "Login" not in resp.text
    assert check.call_args.kwargs["details"].id == "nightshift_nightly_batch"


def test_page_renders_the_queue_in_order_with_links_and_details(review_site) -> None:
    import re

    resp = _get(review_site, PAGE, review_site.token)
    assert resp.status_code == 200, resp.text
    html = resp.text
    rows = re.findall(r'<tr id="ticket-([A-Z0-9_-]+)"', html)
    assert rows[:4] == ["P-2", "P-1", "P-3", "P-4"]  # security, high priority, score > 90, escalation
    assert "P-5" in rows  # the skipped ticket, with its reason
    assert "dependency P-6 failed" in html
    assert "1 security flags first" in html and "<code>src/icon.py:7</code>" in html
    assert 'href="http://gitlab.test/group/app/-/merge_requests/2"' in html
    assert 'href="http://tracker.test/P-4"' in html
    assert "REST or RPC?" in html and "touches the API" in html  # question and C0 context
    assert "<svg" in html and "batch_id: " in html  # trend chart and manifest
    # the link the MR notes carry lands on the ticket's row
    from nightshift.review.links import review_page_url

    url = review_page_url("http://127.0.0.1", BATCH, "P-3")
    assert url.split("#")[0].endswith(PAGE) and f'id="{url.split("#")[1]}"' in html


def test_hostile_titles_and_links_render_inert(review_site) -> None:
    html = _get(review_site, PAGE, review_site.token).text
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "Login &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert "javascript:" not in html  # a non-http(s) link is never an href


def test_strict_csp_and_nothing_loaded_from_outside(review_site) -> None:
    import re

    resp = _get(review_site, PAGE, review_site.token)
    policy = resp.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'" and "script-src" not in directives
    assert directives["img-src"] == "'self' data:"
    nonce = re.search(r"'nonce-([^']+)'", directives["style-src"]).group(1)
    assert "unsafe" not in policy and f'<style nonce="{nonce}">' in resp.text
    html = resp.text
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", html, re.I)
    assert not re.search(r"<[^>]*\bsrc\s*=|@import|url\(", html, re.I)  # no tag loads anything
    external = set(re.findall(r'href="(https?://[^"]+)"', html))
    assert external <= {
        "http://gitlab.test/group/app/-/merge_requests/1",
        "http://gitlab.test/group/app/-/merge_requests/2",
        "http://tracker.test/P-4",
    }
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_cookie_login_picker_and_index(review_site) -> None:
    client = review_site.client
    client.cookies.set("_token", review_site.token)
    try:
        index = client.get("/nightshift/")
        assert index.status_code == 200 and BATCH in index.text and "2026-11-23-overnight" in index.text
        picked = client.get(f"/nightshift/batches?batch={BATCH}", follow_redirects=False)
        assert picked.status_code == 303 and picked.headers["location"] == PAGE
        assert client.get("/nightshift/batches/..%2Fetc").status_code in (400, 404)
        assert client.get("/nightshift/batches/2001-01-01-none").status_code == 404
    finally:
        client.cookies.clear()


def test_plugin_registers_the_page_in_the_navigation_and_on_runs() -> None:
    from nightshift_airflow.plugin import NightshiftPlugin

    [app] = NightshiftPlugin.fastapi_apps
    assert app["url_prefix"] == "/nightshift"
    views = {v["destination"]: v for v in NightshiftPlugin.external_views}
    assert views["nav"]["href"] == "/nightshift/"
    assert views["dag_run"]["href"] == "/nightshift/runs/{DAG_ID}/{RUN_ID}"


def _batch_run_in_db(run_id: str, batch_id: str, tickets: dict[str, int]) -> None:
    """A run of the batch DAG with a `batch_id` param and its mapped MR-step instances (as the scheduler
    leaves them: the map index rendered as the ticket id)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType
    from sqlalchemy import insert

    with create_session() as session:
        session.merge(DagBundleModel(name="dags-folder"))
        session.flush()
        session.merge(DagModel(dag_id="nightshift_nightly_batch", bundle_name="dags-folder"))
        session.flush()
        session.add(
            DagRun(
                dag_id="nightshift_nightly_batch",
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                logical_date=dt.datetime(2026, 11, 29, 17, tzinfo=dt.UTC),
                conf={"batch_id": batch_id},
            )
        )
        session.flush()
        for ticket_id, index in tickets.items():
            session.execute(
                insert(TaskInstance.__table__).values(
                    task_id="ticket",
                    dag_id="nightshift_nightly_batch",
                    run_id=run_id,
                    map_index=index,
                    rendered_map_index=ticket_id,
                    pool="default_pool",
                )
            )


def test_task_log_links_and_the_run_tab_come_from_the_batchs_dag_run(review_site) -> None:
    run_id = "manual__review_page_test"
    _batch_run_in_db(run_id, BATCH, {"P-1": 0, "P-2": 1, "P-3": 2})
    html = _get(review_site, PAGE, review_site.token).text
    base = f"/dags/nightshift_nightly_batch/runs/{run_id}/tasks"
    assert f'<a href="{base}/ticket/mapped/1" target="_top">Generation log</a>' in html
    assert f'href="{base}/ticket/mapped/0"' in html
    assert f'href="{base}/review_queue"' in html
    tab = _get(review_site, f"/nightshift/runs/nightshift_nightly_batch/{run_id}", review_site.token)
    assert tab.status_code == 303 and tab.headers["location"] == PAGE
    assert (
        _get(review_site, "/nightshift/runs/nightshift_nightly_batch/nope", review_site.token).status_code
        == 404
    )


# --- the page in a real headless browser ----------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "review-page-1280.png"


@pytest.fixture(scope="module")
def served_site(review_site):
    """The same api-server app on a real loopback port (uvicorn in a thread), with a batch whose MR and
    ticket links point at a running GitLab stand-in, so that every link on the page can be followed."""
    import threading
    import time

    import uvicorn

    from nightshift.review.metrics import batch_metrics, save_metrics
    from nightshift_local.stack import free_port

    with running_gitlab() as gitlab_server:
        client = make_gitlab_client(gitlab_server.base_url, gitlab_server.token)
        project = client.projects.get(P, lazy=True)
        urls = {}
        for n, ticket_id in enumerate(("B-1", "B-2"), start=1):
            project.branches.create({"branch": f"agent/{ticket_id}", "ref": "main"})
            mr = project.mergerequests.create(
                {
                    "source_branch": f"agent/{ticket_id}",
                    "target_branch": "main",
                    "title": f"Draft: {ticket_id}",
                }
            )
            issue = gitlab_server.add_issue(P, f"Ticket {ticket_id}", "body")
            urls[ticket_id] = (mr.web_url, issue["web_url"], mr.iid)
            assert n == mr.iid
        batch = view(
            [
                ticket(t, "high" if t == "B-2" else "medium", title=f"<b>{t}</b> title", url=u[1])
                for t, u in urls.items()
            ],
            [
                outcome(t).model_copy(update={"merge_request_url": u[0], "merge_request_iid": u[2]})
                for t, u in urls.items()
            ],
            {"B-1": report(95), "B-2": report(70, flags=[secret_flag()])},
        )
        batch.manifest.batch_id = "2026-11-30-browser"
        store_batch(review_site.store, batch)
        for week, (created, done) in {
            "2026-11-16-overnight": ("2026-11-16T17:00:00Z", 2),
            "2026-11-23-overnight": ("2026-11-23T17:00:00Z", 3),
        }.items():
            earlier = view(
                [ticket(f"W-{n}") for n in range(4)],
                [
                    outcome(f"W-{n}", TicketState.COMPLETED if n < done else TicketState.FAILED)
                    for n in range(4)
                ],
                {f"W-{n}": report(80 + 3 * n) for n in range(4)},
            )
            earlier.manifest.created_at, earlier.manifest.batch_id = created, week
            save_metrics(review_site.store.batch(week), batch_metrics(earlier))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(review_site.app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.started, "uvicorn did not start"
        try:
            yield SimpleNamespace(
                base=f"http://127.0.0.1:{port}", token=review_site.token, batch="2026-11-30-browser"
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
)
def test_the_page_in_headless_chromium(served_site) -> None:
    import requests

    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        page = f"{served_site.base}/nightshift/batches/{served_site.batch}"
        driver.get(f"{served_site.base}/nightshift/")  # the 401 page; then log in with Airflow's cookie
        driver.add_cookie({"name": "_token", "value": served_site.token, "path": "/"})
        driver.get_log("browser")  # drains the expected 401 of that first visit
        driver.get(page)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
        driver.get(page + "#ticket-B-1")  # where the MR note's link lands
        rows = [r.get_attribute("id") for r in driver.find_elements(By.CSS_SELECTOR, "tr[id^=ticket-]")]
        assert rows[:2] == ["ticket-B-2", "ticket-B-1"]
        assert driver.find_element(By.ID, "ticket-B-1").is_displayed()
        assert "<b>B-1</b> title" in driver.find_element(By.ID, "ticket-B-1").text  # escaped, not bold
        # styles applied (the nonce'd stylesheet is allowed): the header is dark
        header = driver.find_element(By.TAG_NAME, "header").value_of_css_property("background-color")
        assert header in ("rgba(29, 36, 51, 1)", "rgb(29, 36, 51)")
        assert driver.find_element(By.CSS_SELECTOR, "svg.trend").is_displayed()
        logs = driver.get_log("browser")
        problems = [e["message"] for e in logs if e["level"] in ("SEVERE", "WARNING")]
        assert problems == [], problems  # no console error, no CSP violation
        links = {a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href]")}
        cookies = {"_token": served_site.token}
        for href in sorted(links):
            if "#" in href and href.split("#")[0] == page:
                assert driver.find_elements(By.ID, href.split("#")[1]), href
                continue
            resp = requests.get(
                href, cookies=cookies if href.startswith(served_site.base) else None, timeout=10
            )
            assert resp.status_code == 200, (href, resp.status_code)
        assert any("/-/merge_requests/" in h for h in links) and any("/-/issues/" in h for h in links)
    finally:
        driver.quit()


def test_page_shows_agent_tokens_and_cost_per_ticket_and_batch(review_site) -> None:
    """(Agents issue) The runs' usage records appear as a table: each ticket and the batch total."""
    from nightshift.agents.contract import Checkpoint, TokenUsage
    from nightshift.generation.state import BatchState

    state = BatchState(review_site.store.batch(BATCH))
    for ticket_id, cost in (("P-1", 0.125), ("P-2", 0.5)):
        usage = TokenUsage(input_tokens=1000, cached_input_tokens=100, output_tokens=50, cost_usd=cost)
        state.artifacts.write_text(
            f"{state.run_dir_name(ticket_id, Checkpoint.C2, 'try1')}/usage.json", usage.model_dump_json()
        )
    html = _get(review_site, PAGE, review_site.token).text
    assert "<h2>Agent usage</h2>" in html
    assert "<tr><td><code>P-1</code></td><td>1</td><td>1000</td><td>100</td><td>50</td><td>0.1250" in html
    assert "<tr><td><b>Batch</b></td><td>2</td><td>2000</td><td>200</td><td>100</td><td><b>0.6250</b>" in html
