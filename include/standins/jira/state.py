"""The Jira stand-in's in-memory state: one plain record per Jira object, Jira's fixed vocabularies
(statuses, priorities, issue types, link types, system fields) and the ADF helpers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["server", "cloud"]


Category = Literal["new", "indeterminate", "done"]


DEFAULT_USER = "nightshift"


DEFAULT_EMAIL = "nightshift@example.com"


DEFAULT_PASSWORD = "nightshift-password"


DEFAULT_API_TOKEN = "nightshift-api-token"


DEFAULT_PAT = "nightshift-pat"


# status name -> statusCategory key
DEFAULT_STATUSES: dict[str, Category] = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "In Review": "indeterminate",
    "Done": "done",
}


CATEGORIES = {  # key -> (id, name, colorName)
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}


PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]  # Jira's order: Highest has sequence 1


ISSUE_TYPES = {"Epic": "10000", "Story": "10001", "Task": "10002", "Sub-task": "10003", "Bug": "10004"}


LINK_TYPES = [  # (id, name, inward, outward)
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
]


SYSTEM_FIELDS = [  # (id, name, schema type, items, clause names, navigable)
    ("issuekey", "Key", None, None, ["id", "issue", "issuekey", "key"], True),
    ("summary", "Summary", "string", None, ["summary"], True),
    ("description", "Description", "string", None, ["description"], True),
    ("labels", "Labels", "array", "string", ["labels"], True),
    ("priority", "Priority", "priority", None, ["priority"], True),
    ("status", "Status", "status", None, ["status"], True),
    ("issuelinks", "Linked Issues", "array", "issuelinks", ["issueLink"], True),
    ("components", "Components", "array", "component", ["component"], True),
    ("project", "Project", "project", None, ["project"], False),
    ("issuetype", "Issue Type", "issuetype", None, ["issuetype", "type"], True),
    ("created", "Created", "datetime", None, ["created", "createdDate"], True),
    ("updated", "Updated", "datetime", None, ["updated", "updatedDate"], True),
    ("reporter", "Reporter", "user", None, ["reporter"], True),
    ("assignee", "Assignee", "user", None, ["assignee"], True),
    ("comment", "Comment", "comments-page", None, ["comment"], False),
]


CUSTOM_TYPES = {
    "number": ("number", None, "com.atlassian.jira.plugin.system.customfieldtypes:float"),
    "string": ("string", None, "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
    "option": ("option", None, "com.atlassian.jira.plugin.system.customfieldtypes:select"),
    "labels": ("array", "string", "com.atlassian.jira.plugin.system.customfieldtypes:labels"),
}


BASE_TIME = dt.datetime(2024, 1, 15, 9, 0, 0, tzinfo=dt.UTC)


@dataclass
class User:
    name: str
    display_name: str
    email: str
    password: str | None
    api_token: str | None
    pats: list[str]
    key: str
    account_id: str


@dataclass
class Comment:
    id: int
    body: Any
    author: str
    created: dt.datetime
    updated: dt.datetime
    properties: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Issue:
    id: int
    key: str
    project: str
    summary: str
    description: Any
    labels: list[str]
    priority: str | None
    status: str
    issuetype: str
    components: list[str]
    custom: dict[str, Any]  # field id -> plain value (option fields hold the option's value)
    reporter: str | None
    created: dt.datetime
    updated: dt.datetime
    comments: list[Comment] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass
class Link:
    id: int
    type: str  # link type name
    source: str  # shows the outward phrase: "source blocks target"
    target: str


def jira_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def error_body(*messages: str, **errors: str) -> dict[str, Any]:
    return {"errorMessages": list(messages), "errors": dict(errors)}


def adf_from_text(text: str) -> dict[str, Any]:
    """Plain text as ADF paragraphs (blank lines separate paragraphs, newlines become hard breaks)."""
    content = []
    for para in re.split(r"\n\s*\n", text.strip()):
        if not para:
            continue
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(para.split("\n")):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_text(node: Any) -> str:
    if isinstance(node, dict):
        own = str(node.get("text", "")) if node.get("type") == "text" else ""
        return own + " ".join(adf_text(c) for c in node.get("content") or [])
    return ""


def is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict) and value.get("type") == "doc" and isinstance(value.get("content", []), list)
    )
