"""The GitLab stand-in's JSON against GitLab's published OpenAPI subset (relaxed as the specs README says).

The upstream schemas have no `nullable`, declare some arrays as single objects and leave many fields
loosely typed, so they are relaxed in memory; key fields the clients rely on are then pinned explicitly.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

#: The shared specs sit next to the repository (../shared/specs), wherever it is checked out.
SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
SPEC = SPECS / "gitlab-rest-v4.subset.yaml"
URI = "urn:nightshift:gitlab-rest-v4-subset"
P = "group/app"

#: Fields published as one object `$ref` that are JSON arrays in real responses (specs README, deviation 2).
ARRAY_FIELDS = {
    "APIEntitiesMergeRequestBasic": ["assignees", "reviewers"],
    "APIEntitiesMergeRequest": ["assignees", "reviewers"],
    "APIEntitiesIssue": ["assignees"],
    "APIEntitiesRelatedIssue": ["assignees"],
    "APIEntitiesMergeRequestApprovals": ["approved_by"],
    "APIEntitiesNote": ["suggestions"],
    "APIEntitiesProjectsWithAccessAndCatalogSetting": ["custom_attributes"],
    "APIEntitiesBasicProjectDetails": ["custom_attributes"],
}
#: List endpoints declared as a single object (deviation 3): validate each element.
LIST_DECLARED_AS_OBJECT = {
    ("get", "/api/v4/projects/{id}/labels"),
    ("get", "/api/v4/projects/{id}/issues"),
    ("get", "/api/v4/projects/{id}/merge_requests/{noteable_id}/notes"),
}
NULL = {"type": "object", "nullable": True, "enum": [None]}


def relax_properties(schema: dict[str, Any], array_fields: list[str]) -> None:
    """Nullable properties (nested inline objects too), `$ref`s that accept null, untyped bare strings."""
    for field, prop in list(schema.get("properties", {}).items()):
        if "$ref" in prop:
            new: dict[str, Any] = {"anyOf": [{"$ref": prop["$ref"]}, NULL]}
        else:
            new = {**prop, "nullable": True}
            if new.get("type") == "string" and "example" not in new:
                new.pop("type")  # deviation 4: a bare string with no example is effectively untyped
                new.pop("format", None)
            if "properties" in new:
                new = copy.deepcopy(new)
                relax_properties(new, [])
        if field in array_fields:
            new = {"type": "array", "nullable": True, "items": {"$ref": prop["$ref"]}}
        schema["properties"][field] = new


def relax(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for name, schema in doc["components"]["schemas"].items():
        relax_properties(schema, ARRAY_FIELDS.get(name, []))
    return doc


@cache
def spec() -> tuple[dict[str, Any], Registry]:
    doc = relax(yaml.safe_load(SPEC.read_text()))
    return doc, Registry().with_resource(URI, Resource.from_contents(doc, default_specification=DRAFT4))


def response_schema(method: str, path: str) -> tuple[dict[str, Any], bool]:
    """The 2xx response schema of an operation, and whether the body is a list."""
    doc, _ = spec()
    responses = doc["paths"][path][method]["responses"]
    code = next(c for c in ("200", "201") if c in responses)
    schema = responses[code]["content"]["application/json"]["schema"]
    if schema.get("type") == "array":
        return schema["items"], True
    return schema, (method, path) in LIST_DECLARED_AS_OBJECT


def errors(body: Any, method: str, path: str) -> list[str]:
    schema, is_list = response_schema(method, path)
    _, registry = spec()
    ref = {"$ref": URI + schema["$ref"]} if "$ref" in schema else schema
    validator = OAS30Validator(ref, registry=registry)
    items = body if is_list else [body]
    assert not is_list or isinstance(body, list), f"{method} {path} should answer a JSON array"
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for item in items for e in
            validator.iter_errors(item)]


@pytest.fixture
def payloads(gitlab_standin, gl) -> dict[str, Any]:
    """One of each response the clients read, produced through python-gitlab against the stand-in."""
    project = gl.projects.get(P)
    project.branches.create({"branch": "agent/PROJ-1", "ref": "main"})
    mr = project.mergerequests.create({"source_branch": "agent/PROJ-1", "target_branch": "main",
                                       "title": "Draft: feat(PROJ-1)", "labels": ["nightshift"]})
    note = mr.notes.create({"body": "summary <!-- nightshift:kind=summary -->"})
    label = project.labels.create({"name": "ready-for-agent-2", "color": "#00ff00"})
    a = project.issues.create({"title": "A", "labels": ["ready-for-agent"], "description": "- [x] done"})
    b = project.issues.create({"title": "B"})
    a.links.create({"target_project_id": project.id, "target_issue_iid": b.iid, "link_type": "blocks"})
    issue_note = a.notes.create({"body": "comment"})
    pipeline = gitlab_standin.set_pipeline_status(P, mr.sha, "success")
    gitlab_standin.approve(P, mr.iid, "reviewer")
    http = gl.http_get
    base = "/projects/group%2Fapp"
    return {
        "project": http(base),
        "mr_create": mr.attributes,
        "mr": http(f"{base}/merge_requests/{mr.iid}"),
        "mr_list": http(f"{base}/merge_requests"),
        "note": note.attributes,
        "notes": http(f"{base}/merge_requests/{mr.iid}/notes"),
        "label": label.attributes,
        "labels": http(f"{base}/labels"),
        "issue": http(f"{base}/issues/{a.iid}"),
        "issues": http(f"{base}/issues"),
        "issue_note": issue_note.attributes,
        "links": http(f"{base}/issues/{a.iid}/links"),
        "branch": http(f"{base}/repository/branches/agent%2FPROJ-1"),
        "branches": http(f"{base}/repository/branches"),
        "pipelines": http(f"{base}/pipelines"),
        "pipeline": http(f"{base}/pipelines/{pipeline['id']}"),
        "mr_pipelines": http(f"{base}/merge_requests/{mr.iid}/pipelines"),
        "approvals": http(f"{base}/merge_requests/{mr.iid}/approvals"),
    }


CASES = [
    ("project", "get", "/api/v4/projects/{id}"),
    ("mr_create", "post", "/api/v4/projects/{id}/merge_requests"),
    ("mr", "get", "/api/v4/projects/{id}/merge_requests/{merge_request_iid}"),
    ("mr_list", "get", "/api/v4/projects/{id}/merge_requests"),
    ("note", "post", "/api/v4/projects/{id}/merge_requests/{noteable_id}/notes"),
    ("notes", "get", "/api/v4/projects/{id}/merge_requests/{noteable_id}/notes"),
    ("label", "post", "/api/v4/projects/{id}/labels"),
    ("labels", "get", "/api/v4/projects/{id}/labels"),
    ("issue", "get", "/api/v4/projects/{id}/issues/{issue_iid}"),
    ("issues", "get", "/api/v4/projects/{id}/issues"),
    ("issue_note", "post", "/api/v4/projects/{id}/issues/{noteable_id}/notes"),
    ("links", "get", "/api/v4/projects/{id}/issues/{issue_iid}/links"),
    ("branch", "get", "/api/v4/projects/{id}/repository/branches/{branch}"),
    ("branches", "get", "/api/v4/projects/{id}/repository/branches"),
    ("pipelines", "get", "/api/v4/projects/{id}/pipelines"),
    ("pipeline", "get", "/api/v4/projects/{id}/pipelines/{pipeline_id}"),
    ("mr_pipelines", "get", "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/pipelines"),
    ("approvals", "get", "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/approvals"),
]


def test_every_response_matches_the_published_schema(payloads):
    problems = {name: errors(payloads[name], method, path) for name, method, path in CASES}
    assert {name: errs for name, errs in problems.items() if errs} == {}
    assert len(problems) == 18


def test_the_relaxed_schema_still_catches_wrong_types(payloads):
    bad_mr = {**payloads["mr"], "iid": "1"}
    assert any(e.startswith("iid:") for e in errors(bad_mr, "get", "/api/v4/projects/{id}/merge_requests/{merge_request_iid}"))
    bad_note = {**payloads["note"], "system": "no"}
    assert errors(bad_note, "post", "/api/v4/projects/{id}/merge_requests/{noteable_id}/notes")
    bad_list = [{**payloads["issues"][0], "labels": "ready-for-agent"}]
    assert errors(bad_list, "get", "/api/v4/projects/{id}/issues")


def test_key_fields_the_clients_rely_on(gitlab_standin, payloads):
    project = payloads["project"]
    assert project["path_with_namespace"] == P and project["default_branch"] == "main"
    assert project["http_url_to_repo"] == f"{gitlab_standin.base_url}/{P}.git"
    assert project["web_url"] == f"{gitlab_standin.base_url}/{P}"
    mr = payloads["mr"]
    assert {k: mr[k] for k in ("iid", "state", "draft", "work_in_progress", "source_branch", "target_branch")} == {
        "iid": 1, "state": "opened", "draft": True, "work_in_progress": True,
        "source_branch": "agent/PROJ-1", "target_branch": "main"}
    assert mr["web_url"] == f"{gitlab_standin.base_url}/{P}/-/merge_requests/1"
    assert len(mr["sha"]) == 40 and mr["references"]["full"] == f"{P}!1"
    assert mr["author"]["username"] == "nightshift-bot" and mr["merged_at"] is None
    assert payloads["mr_list"][0]["iid"] == 1 and "head_pipeline" not in payloads["mr_list"][0]
    note = payloads["notes"][0]
    assert note["body"].endswith("<!-- nightshift:kind=summary -->") and note["system"] is False
    assert (note["noteable_type"], note["noteable_iid"]) == ("MergeRequest", 1)
    issue = payloads["issue"]
    assert issue["references"]["full"] == f"{P}#1" and issue["labels"] == ["ready-for-agent"]
    assert issue["task_completion_status"] == {"count": 1, "completed_count": 1}
    assert [(i["iid"], i["link_type"]) for i in payloads["links"]] == [(2, "blocks")]
    assert payloads["branch"]["name"] == "agent/PROJ-1" and payloads["branch"]["commit"]["id"] == mr["sha"]
    assert payloads["pipeline"]["sha"] == mr["sha"] and payloads["pipeline"]["status"] == "success"
    assert [a["user"]["username"] for a in payloads["approvals"]["approved_by"]] == ["reviewer"]
    assert payloads["label"]["color"] == "#00ff00"
