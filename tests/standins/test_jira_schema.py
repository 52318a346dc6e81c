"""The Cloud stand-in's JSON against Atlassian's published OpenAPI document (a subset, see specs/README.md).

Each exchange is checked against the response schema the spec gives for that path, method and status, so
an undocumented status fails too. Schemas are validated strictly (the spec's `additionalProperties: false`
included); `IssueBean.fields` is an open object there, so the fields clients read are asserted explicitly.
Formats are not checked: Jira's own timestamps (`...000+0000`) are not RFC 3339.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from standins.jira import JiraStandin, readiness_adf, start_jira

#: The shared specs sit next to the repository (../shared/specs), wherever it is checked out.
SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
SPEC_PATH = SPECS / "jira-cloud-platform-v3.subset.json"
SPEC_URI = "urn:jira-cloud-platform-v3"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip(f"{SPEC_PATH} is not available")
    return json.loads(SPEC_PATH.read_text())


@pytest.fixture(scope="module")
def registry(spec: dict[str, Any]) -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4))


@pytest.fixture
def cloud() -> Iterator[JiraStandin]:
    standin = start_jira(
        "cloud",
        {
            "projects": [{"key": "PROJ", "name": "Project", "components": ["backend"]}],
            "issues": [
                {
                    "key": "PROJ-1",
                    "summary": "Add login endpoint",
                    "description": readiness_adf(),
                    "labels": ["ready-for-agent"],
                    "priority": "High",
                    "components": ["backend"],
                    "custom": {"Complexity": "Small", "Story Points": 3},
                    "comments": ["Looks good."],
                },
                {"key": "PROJ-2", "summary": "Session cleanup", "status": "Done"},
            ],
            "links": [{"type": "Blocks", "source": "PROJ-2", "target": "PROJ-1"}],
        },
    )
    yield standin
    standin.stop()


class Exchanges:
    """Send requests to the stand-in and check each response against the spec's operation."""

    def __init__(self, standin: JiraStandin, spec: dict[str, Any], registry: Registry) -> None:
        self.standin = standin
        self.spec = spec
        self.registry = registry
        self.session = requests.Session()
        self.session.auth = standin.credentials()
        self.checked: list[str] = []

    def call(self, method: str, spec_path: str, path: str | None = None, **kwargs: Any) -> requests.Response:
        response = self.session.request(
            method, self.standin.base_url + (path or spec_path), timeout=10, **kwargs
        )
        operation = self.spec["paths"][spec_path][method.lower()]
        documented = operation["responses"]
        assert str(response.status_code) in documented, (
            f"{method} {spec_path} answered {response.status_code}, not documented: {sorted(documented)}"
        )
        content = documented[str(response.status_code)].get("content", {}).get("application/json", {})
        schema = content.get("schema")
        if schema and response.content:
            self.validate(response.json(), schema)
        self.checked.append(f"{method} {spec_path} {response.status_code}")
        return response

    def validate(self, body: Any, schema: dict[str, Any]) -> None:
        schema = json.loads(json.dumps(schema).replace('"#/components', f'"{SPEC_URI}#/components'))
        errors = sorted(OAS30Validator(schema, registry=self.registry).iter_errors(body), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture
def exchanges(cloud: JiraStandin, spec: dict[str, Any], registry: Registry) -> Exchanges:
    return Exchanges(cloud, spec, registry)


def test_instance_endpoints_match_the_spec(exchanges: Exchanges) -> None:
    info = exchanges.call("GET", "/rest/api/3/serverInfo").json()
    assert info["deploymentType"] == "Cloud" and info["versionNumbers"][0] >= 1000
    me = exchanges.call("GET", "/rest/api/3/myself").json()
    assert me["accountId"] and me["accountType"] == "atlassian"
    fields = exchanges.call("GET", "/rest/api/3/field").json()
    assert {"Story Points", "Complexity"} <= {f["name"] for f in fields}
    types = exchanges.call("GET", "/rest/api/3/issueLinkType").json()
    assert {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"}.items() <= types[
        "issueLinkTypes"
    ][0].items()
    project = exchanges.call("GET", "/rest/api/3/project/{projectIdOrKey}", "/rest/api/3/project/PROJ").json()
    assert project["key"] == "PROJ"


def test_issue_get_matches_the_spec_and_pins_the_fields_clients_read(exchanges: Exchanges) -> None:
    issue = exchanges.call("GET", "/rest/api/3/issue/{issueIdOrKey}", "/rest/api/3/issue/PROJ-1").json()
    fields = issue["fields"]
    assert issue["key"] == "PROJ-1" and isinstance(issue["id"], str)
    assert fields["summary"] == "Add login endpoint"
    assert fields["labels"] == ["ready-for-agent"]
    assert fields["priority"]["name"] == "High"
    assert fields["status"]["name"] == "To Do" and fields["status"]["statusCategory"]["key"] == "new"
    assert fields["description"]["type"] == "doc"
    [link] = fields["issuelinks"]
    assert link["type"]["name"] == "Blocks" and link["inwardIssue"]["key"] == "PROJ-2"
    assert link["inwardIssue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    # The nested beans the spec does describe: status, priority, link type, comment page, user.
    schemas = "#/components/schemas/"
    exchanges.validate(fields["status"], {"$ref": schemas + "StatusDetails"})
    exchanges.validate(fields["priority"], {"$ref": schemas + "Priority"})
    exchanges.validate(link["type"], {"$ref": schemas + "IssueLinkType"})
    exchanges.validate(fields["comment"], {"$ref": schemas + "PageOfComments"})
    exchanges.validate(fields["reporter"], {"$ref": schemas + "UserDetails"})
    exchanges.validate(fields["project"], {"$ref": schemas + "Project"})


def test_search_jql_matches_the_spec(exchanges: Exchanges) -> None:
    first = exchanges.call(
        "GET",
        "/rest/api/3/search/jql",
        params={"jql": "project = PROJ ORDER BY key", "maxResults": 1, "fields": "*all"},
    ).json()
    assert [i["key"] for i in first["issues"]] == ["PROJ-1"] and first["isLast"] is False
    assert first["issues"][0]["fields"]["labels"] == ["ready-for-agent"]
    second = exchanges.call(
        "POST",
        "/rest/api/3/search/jql",
        json={
            "jql": "project = PROJ ORDER BY key",
            "maxResults": 1,
            "fields": ["summary", "status"],
            "nextPageToken": first["nextPageToken"],
        },
    ).json()
    assert [i["key"] for i in second["issues"]] == ["PROJ-2"] and second["isLast"] is True
    assert "nextPageToken" not in second and set(second["issues"][0]["fields"]) == {"summary", "status"}
    exchanges.call("GET", "/rest/api/3/search/jql", params={"jql": "labels ~ x"})  # 400 is documented


def test_writes_match_the_spec(exchanges: Exchanges, cloud: JiraStandin) -> None:
    body = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}],
    }
    created = exchanges.call(
        "POST",
        "/rest/api/3/issue",
        json={
            "fields": {
                "project": {"key": "PROJ"},
                "summary": "Follow-up",
                "issuetype": {"name": "Task"},
                "description": body,
            }
        },
    )
    assert created.status_code == 201 and created.json()["key"] == "PROJ-3"
    refused = exchanges.call("POST", "/rest/api/3/issue", json={"fields": {"project": {"key": "PROJ"}}})
    assert refused.status_code == 400  # and its body is an ErrorCollection
    comment = exchanges.call(
        "POST",
        "/rest/api/3/issue/{issueIdOrKey}/comment",
        "/rest/api/3/issue/PROJ-3/comment",
        json={"body": body},
    )
    assert comment.status_code == 201 and comment.json()["body"] == body
    page = exchanges.call(
        "GET", "/rest/api/3/issue/{issueIdOrKey}/comment", "/rest/api/3/issue/PROJ-1/comment"
    )
    assert page.json()["total"] == 1
    transitions = exchanges.call(
        "GET", "/rest/api/3/issue/{issueIdOrKey}/transitions", "/rest/api/3/issue/PROJ-3/transitions"
    ).json()["transitions"]
    done = next(t for t in transitions if t["to"]["statusCategory"]["key"] == "done")
    moved = exchanges.call(
        "POST",
        "/rest/api/3/issue/{issueIdOrKey}/transitions",
        "/rest/api/3/issue/PROJ-3/transitions",
        json={"transition": {"id": done["id"]}},
    )
    assert moved.status_code == 204
    edited = exchanges.call(
        "PUT",
        "/rest/api/3/issue/{issueIdOrKey}",
        "/rest/api/3/issue/PROJ-3",
        json={"update": {"labels": [{"add": "nightshift"}]}},
    )
    assert edited.status_code == 204 and cloud.issue_labels("PROJ-3") == ["nightshift"]
    linked = exchanges.call(
        "POST",
        "/rest/api/3/issueLink",
        json={
            "type": {"name": "Relates"},
            "inwardIssue": {"key": "PROJ-1"},
            "outwardIssue": {"key": "PROJ-3"},
        },
    )
    assert linked.status_code == 201 and linked.content == b""
    assert len(exchanges.checked) == 8


def test_the_check_can_fail(exchanges: Exchanges) -> None:
    """A negative control: the same validation rejects a payload with a wrong type or an unknown key."""
    info = exchanges.call("GET", "/rest/api/3/serverInfo").json()
    schema = {"$ref": "#/components/schemas/ServerInformation"}
    with pytest.raises(AssertionError, match="versionNumbers"):
        exchanges.validate({**info, "versionNumbers": ["1001"]}, schema)
    with pytest.raises(AssertionError, match="defaultLocale"):
        exchanges.validate({**info, "defaultLocale": {"locale": "en_US"}}, schema)
    issue = exchanges.call("GET", "/rest/api/3/issue/{issueIdOrKey}", "/rest/api/3/issue/PROJ-1").json()
    with pytest.raises(AssertionError, match="id"):
        exchanges.validate({**issue, "id": 10000}, {"$ref": "#/components/schemas/IssueBean"})
