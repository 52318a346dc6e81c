"""The Jira stand-in, driven by the real `jira` library in both modes (Server/DC REST v2, Cloud REST v3)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from jira import JIRA, JIRAError
from pydantic import ValidationError

from standins.jira import DEFAULT_PAT, JiraStandin, parse_jql, start_jira

MODES = ["server", "cloud"]


def jql_seed(mode: str) -> dict[str, Any]:
    """Five issues in two projects, with labels, statuses, priorities, links and a comment to search."""
    if mode == "server":
        login_description = "h2. Scope\nIssue *JWT* tokens on login."
    else:
        login_description = "Issue JWT tokens on login."
    return {
        "projects": [
            {"key": "PROJ", "name": "Project", "components": ["backend", "frontend"]},
            {"key": "OPS", "name": "Operations"},
        ],
        "issues": [
            {
                "key": "PROJ-1",
                "summary": "Add login endpoint",
                "description": login_description,
                "labels": ["ready-for-agent", "backend"],
                "priority": "High",
                "components": ["backend"],
                "custom": {"Complexity": "Small", "Story Points": 3},
            },
            {
                "key": "PROJ-2",
                "summary": "Add logout endpoint",
                "labels": ["ready-for-agent"],
                "status": "In Progress",
            },
            {
                "key": "PROJ-3",
                "summary": "Session cleanup",
                "priority": "Low",
                "status": "Done",
                "comments": ["This mentions frobnicate somewhere."],
            },
            {"key": "PROJ-4", "summary": "Refactor API", "labels": ["blocked"], "priority": "Highest"},
            {
                "key": "OPS-1",
                "summary": "Rotate keys",
                "labels": ["ready-for-agent"],
                "priority": "Lowest",
                "status": "Done",
            },
        ],
        "links": [
            {"type": "Blocks", "source": "PROJ-3", "target": "PROJ-2"},
            {"type": "Relates", "source": "PROJ-1", "target": "PROJ-4"},
        ],
    }


def client_for(standin: JiraStandin, **kwargs: Any) -> JIRA:
    """The real library; Cloud clients must ask for REST v3 (the library defaults to v2)."""
    options = {"rest_api_version": "3"} if standin.mode == "cloud" else {}
    kwargs.setdefault("basic_auth", standin.credentials())
    return JIRA(standin.base_url, options=options, max_retries=0, timeout=10, **kwargs)


def search_keys(client: JIRA, mode: str, jql: str) -> list[str]:
    if mode == "server":
        issues = client.search_issues(jql, maxResults=False)
    else:
        issues = client.enhanced_search_issues(jql, maxResults=False)
    return [issue.key for issue in issues]


@pytest.fixture(params=MODES)
def jira(request: pytest.FixtureRequest) -> Iterator[JiraStandin]:
    standin = start_jira(request.param, jql_seed(request.param))
    yield standin
    standin.stop()


@pytest.fixture
def client(jira: JiraStandin) -> JIRA:
    return client_for(jira)


@pytest.fixture(scope="module", params=MODES)
def shared(request: pytest.FixtureRequest) -> Iterator[tuple[JiraStandin, JIRA]]:
    """One stand-in per mode for the read-only JQL tests (starting and stopping servers is what costs)."""
    standin = start_jira(request.param, jql_seed(request.param))
    yield standin, client_for(standin)
    standin.stop()


# --- deployment detection, auth ------------------------------------------------------------------------


def test_the_library_detects_the_deployment_from_server_info(jira: JiraStandin) -> None:
    detected = JIRA(jira.base_url, basic_auth=jira.credentials(), max_retries=0)  # library defaults: REST v2
    assert detected.deploymentType == ("Cloud" if jira.mode == "cloud" else "Server")
    assert detected._is_cloud is (jira.mode == "cloud")
    info = detected.server_info()
    assert info["versionNumbers"] == ([1001, 0, 0] if jira.mode == "cloud" else [9, 12, 15])


def test_myself_has_the_deployment_s_user_shape(jira: JiraStandin, client: JIRA) -> None:
    me = client.myself()
    if jira.mode == "cloud":
        assert me["accountId"] and "name" not in me and "key" not in me
        assert me["emailAddress"] == jira.credentials()[0]
    else:
        assert me["name"] == "nightshift" and me["key"].startswith("JIRAUSER") and "accountId" not in me


def test_bad_credentials_are_refused_with_401(jira: JiraStandin) -> None:
    login, _ = jira.credentials()
    with pytest.raises(JIRAError) as refused:
        client_for(jira, basic_auth=(login, "wrong"))
    assert refused.value.status_code == 401
    anonymous = requests.get(f"{jira.base_url}/rest/api/{jira.api}/issue/PROJ-1", timeout=5)
    assert anonymous.status_code == 401
    assert requests.get(f"{jira.base_url}/rest/api/{jira.api}/serverInfo", timeout=5).status_code == 200


def test_server_takes_bearer_pats_and_cloud_takes_only_email_and_api_token() -> None:
    server = start_jira("server", jql_seed("server"))
    cloud = start_jira("cloud", jql_seed("cloud"))
    try:
        assert client_for(server, basic_auth=None, token_auth=DEFAULT_PAT).myself()["name"] == "nightshift"
        with pytest.raises(JIRAError) as bad_pat:
            client_for(server, basic_auth=None, token_auth="not-a-token")
        assert bad_pat.value.status_code == 401
        with pytest.raises(JIRAError):  # a password is no API token on Cloud
            client_for(cloud, basic_auth=("nightshift@example.com", "nightshift-password"))
        with pytest.raises(JIRAError):  # nor a user name an e-mail
            client_for(cloud, basic_auth=("nightshift", "nightshift-api-token"))
        with pytest.raises(JIRAError):
            client_for(cloud, basic_auth=None, token_auth=DEFAULT_PAT)
    finally:
        server.stop()
        cloud.stop()


# --- reading -------------------------------------------------------------------------------------------


def test_fields_list_system_and_custom_fields(client: JIRA) -> None:
    fields = {f["name"]: f for f in client.fields()}
    assert fields["Story Points"]["custom"] is True and fields["Story Points"]["id"] == "customfield_10016"
    assert fields["Complexity"]["schema"]["type"] == "option"
    assert fields["Summary"]["custom"] is False


def test_issue_get_has_the_fields_intake_reads(jira: JiraStandin, client: JIRA) -> None:
    raw = client.issue("PROJ-1").raw
    fields = raw["fields"]
    assert raw["key"] == "PROJ-1" and raw["self"].endswith(f"/rest/api/{jira.api}/issue/{raw['id']}")
    assert fields["summary"] == "Add login endpoint"
    if jira.mode == "cloud":
        assert fields["description"]["type"] == "doc" and fields["description"]["version"] == 1
    else:
        assert fields["description"] == "h2. Scope\nIssue *JWT* tokens on login."
    assert fields["labels"] == ["ready-for-agent", "backend"]
    assert fields["priority"]["name"] == "High"
    assert fields["status"]["name"] == "To Do"
    assert fields["status"]["statusCategory"]["key"] == "new"
    assert [c["name"] for c in fields["components"]] == ["backend"]
    assert fields["customfield_10050"]["value"] == "Small" and fields["customfield_10016"] == 3
    assert fields["project"]["key"] == "PROJ" and fields["issuetype"]["name"] == "Story"
    assert fields["created"].endswith("+0000") and fields["updated"]
    [relates] = fields["issuelinks"]
    assert relates["type"]["name"] == "Relates" and relates["outwardIssue"]["key"] == "PROJ-4"


def test_blocks_links_read_from_both_ends(client: JIRA) -> None:
    [on_blocked] = client.issue("PROJ-2").raw["fields"]["issuelinks"]
    assert on_blocked["type"] == {
        **on_blocked["type"],
        "name": "Blocks",
        "inward": "is blocked by",
        "outward": "blocks",
    }
    assert on_blocked["inwardIssue"]["key"] == "PROJ-3" and "outwardIssue" not in on_blocked
    assert on_blocked["inwardIssue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    [on_blocker] = client.issue("PROJ-3").raw["fields"]["issuelinks"]
    assert on_blocker["outwardIssue"]["key"] == "PROJ-2"


def test_field_selection_on_issue_get(client: JIRA) -> None:
    fields = client.issue("PROJ-1", fields="summary,labels").raw["fields"]
    assert set(fields) == {"summary", "labels"}
    assert client.issue("PROJ-1").raw["fields"]["comment"]["total"] == 0


def test_unknown_issue_is_404(client: JIRA) -> None:
    with pytest.raises(JIRAError) as missing:
        client.issue("PROJ-99")
    assert missing.value.status_code == 404


# --- writing -------------------------------------------------------------------------------------------


def test_labels_set_and_add_remove(jira: JiraStandin, client: JIRA) -> None:
    issue = client.issue("PROJ-2")
    issue.update(fields={"labels": ["a", "b"]})
    assert jira.issue_labels("PROJ-2") == ["a", "b"]
    issue.update(update={"labels": [{"add": "c"}, {"remove": "a"}, {"add": "b"}]})
    assert jira.issue_labels("PROJ-2") == ["b", "c"]
    assert issue.fields.labels == ["b", "c"]  # the library reloads after PUT, through the issue's self URL
    with pytest.raises(JIRAError) as both:
        issue.update(fields={"labels": ["x"]}, update={"labels": [{"add": "y"}]})
    assert both.value.status_code == 400
    with pytest.raises(JIRAError) as spaced:
        issue.update(update={"labels": [{"add": "has space"}]})
    assert spaced.value.status_code == 400 and "spaces" in spaced.value.text
    assert jira.issue_labels("PROJ-2") == ["b", "c"]  # a rejected update changes nothing


def test_comments_add_list_update(jira: JiraStandin, client: JIRA) -> None:
    body: Any = (
        "first *comment*"
        if jira.mode == "server"
        else {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "first"}]}],
        }
    )
    comment = client.add_comment("PROJ-1", body)
    assert comment.raw["body"] == body
    assert comment.raw["self"].endswith(f"/comment/{comment.id}")
    author = comment.raw["author"]
    assert ("accountId" in author) is (jira.mode == "cloud")
    new_body: Any = (
        "edited"
        if jira.mode == "server"
        else {**body, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "edited"}]}]}
    )
    comment.update(body=new_body)
    listed = client.comments("PROJ-1")
    assert [c.raw["body"] for c in listed] == [new_body]
    page = client.comments("PROJ-3", start_at=0, max_results=1)
    assert len(page) == 1


def test_comment_bodies_must_match_the_deployment(jira: JiraStandin, client: JIRA) -> None:
    wrong: Any = {"type": "doc", "version": 1, "content": []} if jira.mode == "server" else "wiki text"
    with pytest.raises(JIRAError) as refused:
        client.add_comment("PROJ-1", wrong)
    assert refused.value.status_code == 400
    assert jira.comment_bodies("PROJ-1") == []


def test_transitions_list_and_apply(jira: JiraStandin, client: JIRA) -> None:
    names = {t["name"] for t in client.transitions("PROJ-1")}
    assert names == {"In Progress", "In Review", "Done"}  # not the current status
    client.transition_issue("PROJ-1", "Done")
    status = client.issue("PROJ-1").raw["fields"]["status"]
    assert status["name"] == "Done" and status["statusCategory"]["key"] == "done"
    with pytest.raises(JIRAError) as invalid:
        client.transition_issue("PROJ-1", "99")
    assert invalid.value.status_code == 400


def test_create_issue_and_link_it(jira: JiraStandin, client: JIRA) -> None:
    description: Any = (
        "Remaining work"
        if jira.mode == "server"
        else {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "R"}]}],
        }
    )
    created = client.create_issue(
        fields={
            "project": {"key": "PROJ"},
            "summary": "Follow-up",
            "issuetype": {"name": "Task"},
            "labels": ["nightshift-followup"],
            "description": description,
        }
    )
    assert created.key == "PROJ-5" and created.fields.issuetype.name == "Task"
    assert jira.issue_labels("PROJ-5") == ["nightshift-followup"]
    response = client.create_issue_link("Blocks", inwardIssue="PROJ-5", outwardIssue="PROJ-1")
    assert response.status_code == 201
    assert jira.links_of("PROJ-5") == [("Blocks", "PROJ-5", "PROJ-1")]  # PROJ-5 blocks PROJ-1
    on_original = [
        lk for lk in client.issue("PROJ-1").raw["fields"]["issuelinks"] if lk["type"]["name"] == "Blocks"
    ]
    assert on_original[0]["inwardIssue"]["key"] == "PROJ-5"
    assert {t.name for t in client.issue_link_types()} == {"Blocks", "Cloners", "Duplicate", "Relates"}


def test_create_issue_validation_uses_jira_s_error_shape(jira: JiraStandin) -> None:
    response = requests.post(
        f"{jira.base_url}/rest/api/{jira.api}/issue",
        auth=jira.credentials(),
        timeout=5,
        json={"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}}},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errorMessages"] == [] and set(body["errors"]) == {"project", "summary"}


# --- JQL -----------------------------------------------------------------------------------------------

JQL_CASES = [
    ("project = PROJ", ["PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4"]),
    ("project in (PROJ, OPS)", ["OPS-1", "PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4"]),
    ('labels = "ready-for-agent"', ["OPS-1", "PROJ-1", "PROJ-2"]),
    ("labels in (backend, blocked)", ["PROJ-1", "PROJ-4"]),
    ("labels != blocked", ["OPS-1", "PROJ-1", "PROJ-2"]),  # as in Jira: unlabelled issues do not match
    ("labels not in (blocked, backend)", ["OPS-1", "PROJ-2"]),
    ("labels is EMPTY", ["PROJ-3"]),
    ('status = "In Progress"', ["PROJ-2"]),
    ("status in ('To Do', Done) AND project = PROJ", ["PROJ-1", "PROJ-3", "PROJ-4"]),
    ("statusCategory != Done", ["PROJ-1", "PROJ-2", "PROJ-4"]),
    ("statusCategory = Done", ["OPS-1", "PROJ-3"]),
    ("key in (PROJ-1, OPS-1)", ["OPS-1", "PROJ-1"]),
    ("key = PROJ-2", ["PROJ-2"]),
    ('text ~ "frobnicate"', ["PROJ-3"]),  # found in a comment
    ('text ~ "jwt"', ["PROJ-1"]),  # found in the description
    ("summary ~ logout", ["PROJ-2"]),
    ("project = PROJ AND (labels = backend OR status = Done)", ["PROJ-1", "PROJ-3"]),
    ('project = PROJ AND NOT labels = "ready-for-agent"', ["PROJ-3", "PROJ-4"]),
    ("PROJECT = proj and LABELS = READY-FOR-AGENT", ["PROJ-1", "PROJ-2"]),
    ("priority = High OR issuetype = Bug", ["PROJ-1"]),
]


@pytest.mark.parametrize(("jql", "expected"), JQL_CASES)
def test_jql_subset(shared: tuple[JiraStandin, JIRA], jql: str, expected: list[str]) -> None:
    jira, client = shared
    assert sorted(search_keys(client, jira.mode, jql)) == expected


def test_jql_order_by(jira: JiraStandin, client: JIRA) -> None:
    both = "project in (PROJ, OPS)"
    assert search_keys(client, jira.mode, f"{both} ORDER BY priority DESC") == [
        "PROJ-4",
        "PROJ-1",
        "PROJ-2",
        "PROJ-3",
        "OPS-1",
    ]
    assert search_keys(client, jira.mode, "project = PROJ ORDER BY key DESC") == [
        "PROJ-4",
        "PROJ-3",
        "PROJ-2",
        "PROJ-1",
    ]
    assert search_keys(client, jira.mode, f"{both} ORDER BY created ASC") == [
        "PROJ-1",
        "PROJ-2",
        "PROJ-3",
        "PROJ-4",
        "OPS-1",
    ]
    jira.set_status("PROJ-3", "To Do")
    assert search_keys(client, jira.mode, f"{both} ORDER BY updated DESC")[0] == "PROJ-3"
    assert search_keys(client, jira.mode, f"{both} ORDER BY priority ASC, key DESC")[:2] == [
        "OPS-1",
        "PROJ-3",
    ]


BAD_JQL = [
    "assignee = currentUser()",
    "foo = bar",
    "labels = x AND",
    "project = NOPE",
    'status = "Nope"',
    "labels ~ x",
    "project = PROJ ORDER BY rank",
    "(project = PROJ",
    'summary ~ "unterminated',
    "project = PROJ labels = x",
    "key = PROJ-99",
    "project = PROJ && labels = x",
    "labels in backend",
    "created > -1d",
    "project = PROJ ORDER BY",
]


@pytest.mark.parametrize("jql", BAD_JQL)
def test_jql_it_does_not_understand_is_a_400_in_jira_s_shape(
    shared: tuple[JiraStandin, JIRA], jql: str
) -> None:
    jira, _ = shared
    path = "search" if jira.mode == "server" else "search/jql"
    response = requests.get(
        f"{jira.base_url}/rest/api/{jira.api}/{path}", params={"jql": jql}, auth=jira.credentials(), timeout=5
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errors"] == {} and len(body["errorMessages"]) == 1
    assert body["errorMessages"][0].startswith("Error in the JQL Query: ")
    posted = requests.post(
        f"{jira.base_url}/rest/api/{jira.api}/{path}", json={"jql": jql}, auth=jira.credentials(), timeout=5
    )
    assert posted.status_code == 400


def test_the_client_sees_the_jql_error(shared: tuple[JiraStandin, JIRA]) -> None:
    jira, client = shared
    with pytest.raises(JIRAError) as error:
        search_keys(client, jira.mode, "assignee = currentUser()")
    assert error.value.status_code == 400 and "Error in the JQL Query" in error.value.text


def test_parse_jql_structure() -> None:
    query = parse_jql(
        'project = PROJ AND (labels in (a, "b c") OR NOT status = Done) ORDER BY priority DESC, key'
    )
    assert query.order == [("priority", True), ("key", False)]
    assert query.where.op == "and"


def test_cloud_search_api_changes() -> None:
    cloud = start_jira("cloud", jql_seed("cloud"))
    try:
        old = requests.get(
            f"{cloud.base_url}/rest/api/3/search",
            params={"jql": "project = PROJ"},
            auth=cloud.credentials(),
            timeout=5,
        )
        assert old.status_code == 410 and "search/jql" in old.json()["errorMessages"][0]
        unbounded = requests.get(
            f"{cloud.base_url}/rest/api/3/search/jql",
            params={"jql": "ORDER BY key"},
            auth=cloud.credentials(),
            timeout=5,
        )
        assert unbounded.status_code == 400 and "Unbounded" in unbounded.json()["errorMessages"][0]
        default_fields = requests.get(
            f"{cloud.base_url}/rest/api/3/search/jql",
            params={"jql": "project = PROJ"},
            auth=cloud.credentials(),
            timeout=5,
        ).json()
        assert default_fields["issues"][0]["fields"] == {} and default_fields["isLast"] is True  # ids only
        bad_token = requests.get(
            f"{cloud.base_url}/rest/api/3/search/jql",
            params={"jql": "project = PROJ", "nextPageToken": "garbage"},
            auth=cloud.credentials(),
            timeout=5,
        )
        assert bad_token.status_code == 400
    finally:
        cloud.stop()


# --- paging ---------------------------------------------------------------------------------------------


def thousand_issues() -> dict[str, Any]:
    return {
        "projects": [{"key": "BIG"}],
        "issues": [{"key": f"BIG-{n}", "summary": f"Issue {n}", "labels": ["bulk"]} for n in range(1, 1001)],
    }


@pytest.mark.parametrize("mode", MODES)
def test_the_client_pages_through_1000_issues(mode: str) -> None:
    standin = start_jira(mode, thousand_issues())
    try:
        client = client_for(standin)
        started = time.monotonic()
        keys = search_keys(client, mode, "project = BIG ORDER BY key ASC")
        elapsed = time.monotonic() - started
        assert keys == [f"BIG-{n}" for n in range(1, 1001)]
        path = "/search?" if mode == "server" else "/search/jql?"
        pages = [e for e in standin.journal if e.method == "GET" and path in e.path]
        assert len(pages) == 10  # 100 a page: the stand-in's cap, as Cloud's for *all fields
        if mode == "server":
            starts = [int(parse_qs(urlsplit(p.path).query).get("startAt", ["0"])[0]) for p in pages]
            assert starts == list(range(0, 1000, 100))
        else:
            assert ["nextPageToken=" in p.path for p in pages] == [False] + [True] * 9
        assert elapsed < 120  # a generous bound; the figure itself belongs to benchmarks
    finally:
        standin.stop()


def test_server_pages_with_start_at_and_caps_max_results() -> None:
    server = start_jira("server", {**thousand_issues(), "max_results": 50})
    try:
        client = client_for(server)
        page = client.search_issues("project = BIG", startAt=1, maxResults=2)
        assert [i.key for i in page] == ["BIG-2", "BIG-3"] and page.total == 1000 and page.startAt == 1
        raw = client.search_issues("project = BIG", startAt=0, maxResults=500, json_result=True)
        assert raw["maxResults"] == 50 and len(raw["issues"]) == 50 and raw["total"] == 1000
    finally:
        server.stop()


# --- seed, helpers and the page for humans ---------------------------------------------------------------


def test_seed_typos_fail_loudly() -> None:
    with pytest.raises(ValidationError):
        JiraStandin("server", {"issues": [{"key": "PROJ-1", "sumary": "typo"}]})
    with pytest.raises(ValueError, match="Complexity"):
        JiraStandin(
            "server", {"issues": [{"key": "PROJ-1", "summary": "x", "custom": {"Complexity": "Huge"}}]}
        )


def test_helpers_change_state(jira: JiraStandin, client: JIRA) -> None:
    key = jira.add_issue("Added by a test", labels=["x"], description="plain text")
    assert key == "PROJ-5"
    jira.set_status(key, "Done")
    assert client.issue(key).raw["fields"]["status"]["statusCategory"]["key"] == "done"
    if jira.mode == "cloud":  # plain text seeds become ADF on Cloud
        assert client.issue(key).raw["fields"]["description"]["content"][0]["type"] == "paragraph"


def test_browse_page_is_escaped(jira: JiraStandin) -> None:
    jira.add_issue("<script>alert(1)</script>", key="PROJ-7", description="<b>bold</b>")
    page = requests.get(f"{jira.base_url}/browse/PROJ-7", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text
