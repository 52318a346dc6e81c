"""A stand-in for Jira: a test double of Jira Server/DC (REST v2) and Jira Cloud (REST v3), not the real one.

Two modes, because the two deployments differ in exactly the places Nightshift must get right:

* `server`: REST `/rest/api/2` (and `/latest`), descriptions and comments are wiki-markup strings, users
  have `name`/`key`, search pages with `startAt`/`maxResults`/`total`; basic auth with user:password,
  or a bearer personal access token.
* `cloud`: REST `/rest/api/3`, descriptions and comment bodies are ADF documents, users have an
  `accountId`, search is `/search/jql` paging with `nextPageToken`/`isLast` (the old `/search` answers
  410 Gone, as on Cloud since 2025); basic auth with e-mail:API token. `serverInfo` is also served under
  `/rest/api/2` so clients that probe v2 first detect the deployment.

Search understands a JQL subset (see `_JqlParser`) and answers 400 in Jira's error shape for anything
else: a clause it does not understand is never silently ignored. Known simplifications: `text ~` is a
case-insensitive substring match (Jira matches words); default sort is `key ASC`; a page holds at most
`max_results` issues (100 by default, as Cloud does for `*all` fields).

Faults, the journal and the HTTP plumbing come from `standins.http.StandinServer`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from standins.http import HttpError, Request, Response, StandinServer

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
_CATEGORIES = {  # key -> (id, name, colorName)
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
_SYSTEM_FIELDS = [  # (id, name, schema type, items, clause names, navigable)
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
_CUSTOM_TYPES = {
    "number": ("number", None, "com.atlassian.jira.plugin.system.customfieldtypes:float"),
    "string": ("string", None, "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
    "option": ("option", None, "com.atlassian.jira.plugin.system.customfieldtypes:select"),
    "labels": ("array", "string", "com.atlassian.jira.plugin.system.customfieldtypes:labels"),
}
_BASE_TIME = dt.datetime(2024, 1, 15, 9, 0, 0, tzinfo=dt.UTC)


# ------------------------------------------------------------------------------------------------
# Seed format (validated at the boundary: a typo in a test seed fails loudly)
# ------------------------------------------------------------------------------------------------


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    display_name: str | None = None
    email: str | None = None
    password: str | None = None  # Server basic auth
    api_token: str | None = None  # Cloud basic auth with the e-mail
    pats: list[str] = Field(default_factory=list)  # Server bearer personal access tokens


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    name: str | None = None
    components: list[str] = Field(default_factory=list)


class SeedCustomField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^customfield_[0-9]{5}$")
    name: str
    type: Literal["number", "string", "option", "labels"]
    options: list[str] = Field(default_factory=list)


class SeedComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str | dict[str, Any]
    author: str | None = None


class SeedIssue(BaseModel):
    """One issue. `description`/comment bodies: wiki text on Server; ADF dicts (or plain text, wrapped
    into ADF paragraphs) on Cloud. `custom` maps a custom field's name or id to its value."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,19}-[0-9]{1,9}$")
    project: str | None = None
    summary: str
    description: str | dict[str, Any] | None = None
    labels: list[str] = Field(default_factory=list)
    priority: str | None = "Medium"
    status: str = "To Do"
    issuetype: str = "Story"
    components: list[str] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)
    comments: list[str | dict[str, Any] | SeedComment] = Field(default_factory=list)
    reporter: str | None = None
    created: dt.datetime | None = None


class SeedLink(BaseModel):
    """`source` <outward phrase> `target`: {"type": "Blocks", "source": "PROJ-1", "target": "PROJ-2"}
    means PROJ-1 blocks PROJ-2 (what POST /issueLink makes from inwardIssue=PROJ-1, outwardIssue=PROJ-2)."""

    model_config = ConfigDict(extra="forbid")

    type: str = "Blocks"
    source: str
    target: str


class JiraSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projects: list[SeedProject] = Field(default_factory=lambda: [SeedProject(key="PROJ", name="Project")])
    users: list[SeedUser] = Field(default_factory=lambda: [default_user()])
    custom_fields: list[SeedCustomField] = Field(
        default_factory=lambda: [
            SeedCustomField(id="customfield_10016", name="Story Points", type="number"),
            SeedCustomField(
                id="customfield_10050", name="Complexity", type="option", options=["Small", "Medium", "Large"]
            ),
        ]
    )
    statuses: dict[str, Category] = Field(default_factory=lambda: dict(DEFAULT_STATUSES))
    issues: list[SeedIssue] = Field(default_factory=list)
    links: list[SeedLink] = Field(default_factory=list)
    max_results: int = Field(default=100, ge=1, le=5000)


def default_user() -> SeedUser:
    return SeedUser(
        name=DEFAULT_USER,
        display_name="Nightshift Bot",
        email=DEFAULT_EMAIL,
        password=DEFAULT_PASSWORD,
        api_token=DEFAULT_API_TOKEN,
        pats=[DEFAULT_PAT],
    )


READINESS_WIKI = """h2. Agent Readiness
* [x] Acceptance criteria clear
* [x] No open questions
* [x] Dependencies: None
* [x] Estimated files: src/feature.py, tests/
* [x] Complexity: Small

h2. Acceptance criteria
* The feature works
* It is tested"""


def readiness_adf() -> dict[str, Any]:
    """The spec's readiness checklist and acceptance criteria as Jira Cloud stores them (ADF)."""

    def text(value: str) -> dict[str, Any]:
        return {"type": "text", "text": value}

    items = [
        "Acceptance criteria clear",
        "No open questions",
        "Dependencies: None",
        "Estimated files: src/feature.py, tests/",
        "Complexity: Small",
    ]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Agent Readiness")]},
            {
                "type": "taskList",
                "attrs": {"localId": "readiness"},
                "content": [
                    {
                        "type": "taskItem",
                        "attrs": {"localId": f"r{i}", "state": "DONE"},
                        "content": [text(item)],
                    }
                    for i, item in enumerate(items)
                ],
            },
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Acceptance criteria")]},
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [text(item)]}]}
                    for item in ("The feature works", "It is tested")
                ],
            },
        ],
    }


def default_seed(mode: Mode = "server") -> dict[str, Any]:
    """A small demo site: one project, the Nightshift user, three issues, one of them blocked."""
    description: Any = READINESS_WIKI if mode == "server" else readiness_adf()
    return {
        "projects": [{"key": "PROJ", "name": "Project", "components": ["backend", "frontend"]}],
        "issues": [
            {
                "key": "PROJ-1",
                "summary": "Add login endpoint",
                "description": description,
                "labels": ["ready-for-agent"],
                "priority": "High",
                "custom": {"Complexity": "Small", "Story Points": 3},
            },
            {
                "key": "PROJ-2",
                "summary": "Add logout endpoint",
                "description": description,
                "labels": ["ready-for-agent"],
                "priority": "Medium",
            },
            {"key": "PROJ-3", "summary": "Session cleanup", "status": "Done", "priority": "Low"},
        ],
        "links": [{"type": "Blocks", "source": "PROJ-3", "target": "PROJ-2"}],
    }


# ------------------------------------------------------------------------------------------------
# State
# ------------------------------------------------------------------------------------------------


@dataclass
class _User:
    name: str
    display_name: str
    email: str
    password: str | None
    api_token: str | None
    pats: list[str]
    key: str
    account_id: str


@dataclass
class _Comment:
    id: int
    body: Any
    author: str
    created: dt.datetime
    updated: dt.datetime
    properties: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Issue:
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
    comments: list[_Comment] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass
class _Link:
    id: int
    type: str  # link type name
    source: str  # shows the outward phrase: "source blocks target"
    target: str


def _jira_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _errors(*messages: str, **errors: str) -> dict[str, Any]:
    return {"errorMessages": list(messages), "errors": dict(errors)}


def _adf_from_text(text: str) -> dict[str, Any]:
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


def _adf_text(node: Any) -> str:
    if isinstance(node, dict):
        own = str(node.get("text", "")) if node.get("type") == "text" else ""
        return own + " ".join(_adf_text(c) for c in node.get("content") or [])
    return ""


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict) and value.get("type") == "doc" and isinstance(value.get("content", []), list)
    )


# ------------------------------------------------------------------------------------------------
# JQL subset
# ------------------------------------------------------------------------------------------------


class JqlError(ValueError):
    """A JQL query the stand-in rejects; answered as 400 with Jira's error shape."""


_TOKEN = re.compile(
    r"""\s+|(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)|(?P<op>!=|!~|>=|<=|=|~|>|<)"""
    r"""|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<word>[^\s(),=!~<>"']+)"""
)
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
_EQ = {"=", "!=", "in", "not in"}
_FIELD_OPERATORS: dict[str, set[str]] = {
    "project": _EQ,
    "labels": _EQ | {"is", "is not"},
    "status": _EQ,
    "statuscategory": _EQ,
    "key": _EQ,
    "priority": _EQ,
    "issuetype": _EQ,
    "component": _EQ | {"is", "is not"},
    "text": {"~"},
    "summary": {"~", "!~"},
    "description": {"~", "!~"},
    "comment": {"~", "!~"},
}
_FIELD_ALIASES = {"issuekey": "key", "id": "key", "type": "issuetype", "category": "statuscategory"}
_SORT_FIELDS = {"priority", "created", "key", "issuekey", "updated"}


@dataclass
class _Token:
    kind: str  # lparen rparen comma op string word end
    value: str
    pos: int


@dataclass
class Clause:
    field: str
    op: str
    values: list[str | None]  # None is EMPTY


@dataclass
class BoolNode:
    op: Literal["and", "or", "not"]
    children: list[Any]


@dataclass
class JqlQuery:
    where: Any  # Clause | BoolNode | None
    order: list[tuple[str, bool]]  # (field, descending)


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None:
            if query[pos] in "\"'":
                raise JqlError(f"The quoted string {query[pos:]} has not been completed.")
            raise JqlError(f"Unexpected character {query[pos]!r} at position {pos}.")
        if m.lastgroup:
            value = m.group(m.lastgroup)
            if m.lastgroup == "string":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            tokens.append(_Token(m.lastgroup, value, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(query)))
    return tokens


class _JqlParser:
    """query := [or] [ORDER BY field [ASC|DESC] {, ...}]; or := and {OR and}; and := not {AND not};
    not := NOT not | '(' or ')' | field op value | field [NOT] IN (v, ...) | field IS [NOT] EMPTY."""

    def __init__(self, query: str) -> None:
        self.tokens = _tokens(query)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.value.lower() in words

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise JqlError(
                f"Expecting '{word.upper()}' but got '{self.peek().value or 'the end of the query'}'."
            )
        self.take()

    def parse(self) -> JqlQuery:
        where = None
        if not self.is_word("order") and self.peek().kind != "end":
            where = self.parse_or()
        order: list[tuple[str, bool]] = []
        if self.is_word("order"):
            self.take()
            self.expect_word("by")
            while True:
                token = self.take()
                if token.kind not in ("word", "string"):
                    raise JqlError(
                        f"Expecting a field name in the ORDER BY but got '{token.value or 'the end'}'."
                    )
                name = token.value.lower()
                if name not in _SORT_FIELDS:
                    raise JqlError(
                        f"the Jira stand-in cannot ORDER BY '{token.value}' "
                        f"(it sorts by {', '.join(sorted(_SORT_FIELDS))})."
                    )
                descending = False
                if self.is_word("asc", "desc"):
                    descending = self.take().value.lower() == "desc"
                order.append(("key" if name == "issuekey" else name, descending))
                if self.peek().kind != "comma":
                    break
                self.take()
        if self.peek().kind != "end":
            raise JqlError(f"Expecting either 'OR' or 'AND' but got '{self.peek().value}'.")
        return JqlQuery(where, order)

    def parse_or(self) -> Any:
        children = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else BoolNode("or", children)

    def parse_and(self) -> Any:
        children = [self.parse_not()]
        while self.is_word("and"):
            self.take()
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else BoolNode("and", children)

    def parse_not(self) -> Any:
        if self.is_word("not"):
            self.take()
            return BoolNode("not", [self.parse_not()])
        if self.peek().kind == "lparen":
            self.take()
            node = self.parse_or()
            if self.peek().kind != "rparen":
                raise JqlError(f"Expecting ')' but got '{self.peek().value or 'the end of the query'}'.")
            self.take()
            return node
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        token = self.take()
        if token.kind not in ("word", "string") or (
            token.kind == "word" and token.value.lower() in _KEYWORDS
        ):
            raise JqlError(f"Expecting a field name but got '{token.value or 'the end of the query'}'.")
        name = token.value.lower().replace(" ", "")
        name = _FIELD_ALIASES.get(name, name)
        if name not in _FIELD_OPERATORS:
            raise JqlError(
                f"Field '{token.value}' is not supported by the Jira stand-in "
                f"(it understands {', '.join(sorted(_FIELD_OPERATORS))})."
            )
        op_token = self.peek()
        if op_token.kind == "op":
            op = self.take().value
        elif self.is_word("in"):
            self.take()
            op = "in"
        elif self.is_word("not"):
            self.take()
            self.expect_word("in")
            op = "not in"
        elif self.is_word("is"):
            self.take()
            op = "is"
            if self.is_word("not"):
                self.take()
                op = "is not"
        else:
            raise JqlError(f"Expecting operator but got '{op_token.value or 'the end of the query'}'.")
        if op not in _FIELD_OPERATORS[name]:
            raise JqlError(f"The operator '{op}' is not supported by the '{token.value}' field.")
        values: list[str | None]
        if op in ("in", "not in"):
            if self.peek().kind != "lparen":
                raise JqlError(f"Expecting '(' after '{op.upper()}' but got '{self.peek().value}'.")
            self.take()
            values = [self.parse_value()]
            while self.peek().kind == "comma":
                self.take()
                values.append(self.parse_value())
            if self.peek().kind != "rparen":
                raise JqlError(f"Expecting ')' but got '{self.peek().value or 'the end of the query'}'.")
            self.take()
        elif op in ("is", "is not"):
            if not self.is_word("empty", "null"):
                raise JqlError(f"Expecting 'EMPTY' after '{op.upper()}' but got '{self.peek().value}'.")
            self.take()
            values = [None]
        else:
            values = [self.parse_value()]
        return Clause(name, op, values)

    def parse_value(self) -> str:
        token = self.take()
        if token.kind == "string":
            return token.value
        if token.kind != "word" or token.value.lower() in _KEYWORDS:
            raise JqlError(f"Expecting a value but got '{token.value or 'the end of the query'}'.")
        if self.peek().kind == "lparen":
            raise JqlError(f"the Jira stand-in does not support JQL functions such as '{token.value}()'.")
        return token.value


def parse_jql(query: str) -> JqlQuery:
    """Parse the JQL subset; raises JqlError naming what it did not understand."""
    return _JqlParser(query).parse()


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------


class JiraStandin(StandinServer):
    """Jira Server/DC (`mode="server"`) or Jira Cloud (`mode="cloud"`), seeded from a JSON-able dict."""

    name = "jira"

    def __init__(self, mode: Mode = "server", seed: dict[str, Any] | None = None) -> None:
        super().__init__()
        if mode not in ("server", "cloud"):
            raise ValueError(f"mode must be 'server' or 'cloud', not {mode!r}")
        self.mode: Mode = mode
        self.api = "3" if mode == "cloud" else "2"
        config = JiraSeed.model_validate(default_seed(mode) if seed is None else seed)
        self.max_results = config.max_results
        self.statuses = dict(config.statuses)
        self.projects: dict[str, SeedProject] = {p.key: p for p in config.projects}
        self.users: dict[str, _User] = {}
        for index, user in enumerate(config.users):
            self.users[user.name] = _User(
                name=user.name,
                display_name=user.display_name or user.name,
                email=user.email or f"{user.name}@example.com",
                password=user.password,
                api_token=user.api_token,
                pats=list(user.pats),
                key=f"JIRAUSER{10000 + index}",
                account_id=hashlib.sha1(user.name.encode()).hexdigest()[:24],
            )
        self.custom_fields: dict[str, SeedCustomField] = {f.id: f for f in config.custom_fields}
        self.issues: dict[str, _Issue] = {}
        self.links: list[_Link] = []
        self._next_issue_id = 10000
        self._next_comment_id = 10000
        self._next_link_id = 10000
        self._clock = 0
        self._current_user: _User | None = None
        for issue in config.issues:
            self.add_issue(**issue.model_dump(exclude_none=False))
        for link in config.links:
            self.add_link(link.type, link.source, link.target)
        self._register_routes()

    # --- helpers for tests ---------------------------------------------------------------------
    def credentials(self, user: str = DEFAULT_USER) -> tuple[str, str]:
        """Basic-auth credentials for `user`: name + password on Server, e-mail + API token on Cloud."""
        record = self.users[user]
        if self.mode == "cloud":
            return record.email, cast(str, record.api_token)
        return record.name, cast(str, record.password)

    def add_issue(
        self,
        summary: str,
        *,
        key: str | None = None,
        project: str | None = None,
        description: str | dict[str, Any] | None = None,
        labels: list[str] | None = None,
        priority: str | None = "Medium",
        status: str = "To Do",
        issuetype: str = "Story",
        components: list[str] | None = None,
        custom: dict[str, Any] | None = None,
        comments: list[Any] | None = None,
        reporter: str | None = None,
        created: dt.datetime | None = None,
    ) -> str:
        """Add an issue directly (no HTTP); returns its key."""
        with self.lock:
            project = project or (key.rsplit("-", 1)[0] if key else next(iter(self.projects)))
            if project not in self.projects:
                raise ValueError(f"unknown project {project!r}")
            if key is None:
                numbers = [i.number for i in self.issues.values() if i.project == project]
                key = f"{project}-{max(numbers, default=0) + 1}"
            if key in self.issues:
                raise ValueError(f"issue {key} exists already")
            if not key.startswith(project + "-"):
                raise ValueError(f"issue key {key} is not in project {project}")
            self._check_status(status)
            self._check_priority(priority)
            if issuetype not in ISSUE_TYPES:
                raise ValueError(f"unknown issue type {issuetype!r}")
            when = created or self._tick()
            issue = _Issue(
                id=self._next_issue_id,
                key=key,
                project=project,
                summary=summary,
                description=self._body_in(description, "description") if description is not None else None,
                labels=list(labels or []),
                priority=priority,
                status=status,
                issuetype=issuetype,
                components=list(components or []),
                custom=self._custom_in(custom or {}),
                reporter=reporter or next(iter(self.users), None),
                created=when,
                updated=when,
            )
            self._next_issue_id += 1
            self.issues[key] = issue
            for comment in comments or []:
                if isinstance(comment, SeedComment):
                    comment = comment.model_dump()
                if isinstance(comment, dict) and "body" in comment and not _is_adf(comment):
                    self.add_comment(key, comment["body"], author=comment.get("author"))
                else:
                    self.add_comment(key, comment)
            return key

    def add_comment(self, key: str, body: str | dict[str, Any], author: str | None = None) -> str:
        with self.lock:
            issue = self.issues[key]
            when = self._tick()
            comment = _Comment(
                self._next_comment_id,
                self._body_in(body, "comment"),
                author or next(iter(self.users)),
                when,
                when,
            )
            self._next_comment_id += 1
            issue.comments.append(comment)
            issue.updated = when
            return str(comment.id)

    def add_link(self, type_name: str, source: str, target: str) -> None:
        """Link `source` to `target` (read "source <outward phrase> target": A blocks B)."""
        with self.lock:
            self._link_type(type_name)
            for key in (source, target):
                if key not in self.issues:
                    raise ValueError(f"unknown issue {key}")
            if not any(
                lk.type == type_name and lk.source == source and lk.target == target for lk in self.links
            ):
                self.links.append(_Link(self._next_link_id, type_name, source, target))
                self._next_link_id += 1

    def set_status(self, key: str, status: str) -> None:
        with self.lock:
            self._check_status(status)
            self.issues[key].status = status
            self.issues[key].updated = self._tick()

    def set_labels(self, key: str, labels: list[str]) -> None:
        with self.lock:
            self.issues[key].labels = list(labels)

    def comment_bodies(self, key: str) -> list[Any]:
        with self.lock:
            return [copy.deepcopy(c.body) for c in self.issues[key].comments]

    def issue_labels(self, key: str) -> list[str]:
        with self.lock:
            return list(self.issues[key].labels)

    def links_of(self, key: str) -> list[tuple[str, str, str]]:
        """(type, source, target) of every link touching `key`."""
        with self.lock:
            return [(lk.type, lk.source, lk.target) for lk in self.links if key in (lk.source, lk.target)]

    # --- validation and conversion -------------------------------------------------------------------
    def _tick(self) -> dt.datetime:
        self._clock += 1
        return _BASE_TIME + dt.timedelta(seconds=self._clock)

    def _check_status(self, status: str) -> None:
        if status not in self.statuses:
            raise ValueError(f"unknown status {status!r} (known: {', '.join(self.statuses)})")

    @staticmethod
    def _check_priority(priority: str | None) -> None:
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}")

    def _body_in(self, body: Any, what: str) -> Any:
        """Descriptions and comments as the deployment stores them: wiki text, or ADF on Cloud."""
        if self.mode == "cloud":
            if isinstance(body, str):
                return _adf_from_text(body)
            if not _is_adf(body):
                raise ValueError(f"the {what} must be an ADF document on Jira Cloud")
            return copy.deepcopy(body)
        if not isinstance(body, str):
            raise ValueError(f"the {what} must be a wiki-markup string on Jira Server")
        return body

    def _custom_in(self, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        by_name = {f.name.lower(): f for f in self.custom_fields.values()}
        for name, value in values.items():
            spec = self.custom_fields.get(name) or by_name.get(name.lower())
            if spec is None:
                raise ValueError(f"unknown custom field {name!r}")
            out[spec.id] = self._custom_value(spec, value)
        return out

    @staticmethod
    def _custom_value(spec: SeedCustomField, value: Any) -> Any:
        if value is None:
            return None
        if spec.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{spec.name} takes a number, not {value!r}")
            return value
        if spec.type == "option":
            if isinstance(value, dict):
                value = (
                    value.get("value")
                    if "value" in value
                    else next(
                        (o for i, o in enumerate(spec.options) if str(10100 + i) == str(value.get("id"))),
                        None,
                    )
                )
            if value not in spec.options:
                raise ValueError(f"{value!r} is not an option of {spec.name} ({', '.join(spec.options)})")
            return value
        if spec.type == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{spec.name} takes a list of strings")
            return list(value)
        if not isinstance(value, str):
            raise ValueError(f"{spec.name} takes a string")
        return value

    def _link_type(self, name_or_id: str) -> tuple[str, str, str, str]:
        for link_type in LINK_TYPES:
            if name_or_id in (link_type[0], link_type[1]):
                return link_type
        raise ValueError(f"unknown issue link type {name_or_id!r}")

    # --- JSON representations --------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}/rest/api/{self.api}/{path}"

    def _user_json(self, name: str | None, *, detailed: bool = False) -> dict[str, Any] | None:
        user = self.users.get(name or "")
        if user is None:
            return None
        avatars = {
            size: f"{self.base_url}/avatar/{user.key}?s={size.split('x')[0]}"
            for size in ("16x16", "24x24", "32x32", "48x48")
        }
        if self.mode == "cloud":
            out: dict[str, Any] = {
                "self": self._url(f"user?accountId={user.account_id}"),
                "accountId": user.account_id,
                "accountType": "atlassian",
            }
        else:
            out = {"self": self._url(f"user?username={user.name}"), "key": user.key, "name": user.name}
        out.update(
            {
                "emailAddress": user.email,
                "avatarUrls": avatars,
                "displayName": user.display_name,
                "active": True,
                "timeZone": "Etc/UTC",
            }
        )
        if detailed:
            out["locale"] = "en_US"
        return out

    def _status_json(self, name: str) -> dict[str, Any]:
        category = self.statuses[name]
        index = list(self.statuses).index(name)
        cat_id, cat_name, color = _CATEGORIES[category]
        return {
            "self": self._url(f"status/{10000 + index}"),
            "description": "",
            "name": name,
            "id": str(10000 + index),
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "statusCategory": {
                "self": self._url(f"statuscategory/{cat_id}"),
                "id": cat_id,
                "key": category,
                "colorName": color,
                "name": cat_name,
            },
        }

    def _priority_json(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        pid = str(PRIORITIES.index(name) + 1)
        return {
            "self": self._url(f"priority/{pid}"),
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def _issuetype_json(self, name: str) -> dict[str, Any]:
        return {
            "self": self._url(f"issuetype/{ISSUE_TYPES[name]}"),
            "id": ISSUE_TYPES[name],
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": name == "Sub-task",
        }

    def _project_json(self, key: str) -> dict[str, Any]:
        project = self.projects[key]
        index = list(self.projects).index(key)
        return {
            "self": self._url(f"project/{10000 + index}"),
            "id": str(10000 + index),
            "key": key,
            "name": project.name or key,
            "projectTypeKey": "software",
            "simplified": False,
        }

    def _link_type_json(self, link_type: tuple[str, str, str, str]) -> dict[str, Any]:
        lid, name, inward, outward = link_type
        return {
            "id": lid,
            "name": name,
            "inward": inward,
            "outward": outward,
            "self": self._url(f"issueLinkType/{lid}"),
        }

    def _comment_json(self, issue: _Issue, comment: _Comment) -> dict[str, Any]:
        author = self._user_json(comment.author)
        out: dict[str, Any] = {
            "self": self._url(f"issue/{issue.id}/comment/{comment.id}"),
            "id": str(comment.id),
            "author": author,
            "body": copy.deepcopy(comment.body),
            "updateAuthor": author,
            "created": _jira_time(comment.created),
            "updated": _jira_time(comment.updated),
        }
        if self.mode == "cloud":
            out["jsdPublic"] = True
        return out

    def _comments_page(self, issue: _Issue, start: int = 0, limit: int | None = None) -> dict[str, Any]:
        comments = issue.comments[start : None if limit is None else start + limit]
        return {
            "comments": [self._comment_json(issue, c) for c in comments],
            "maxResults": len(comments) if limit is None else limit,
            "total": len(issue.comments),
            "startAt": start,
        }

    def _linked_issue_json(self, key: str) -> dict[str, Any]:
        other = self.issues[key]
        return {
            "id": str(other.id),
            "key": other.key,
            "self": self._url(f"issue/{other.id}"),
            "fields": {
                "summary": other.summary,
                "status": self._status_json(other.status),
                "priority": self._priority_json(other.priority),
                "issuetype": self._issuetype_json(other.issuetype),
            },
        }

    def _issuelinks_json(self, issue: _Issue) -> list[dict[str, Any]]:
        out = []
        for link in self.links:
            if issue.key not in (link.source, link.target):
                continue
            entry: dict[str, Any] = {
                "id": str(link.id),
                "self": self._url(f"issueLink/{link.id}"),
                "type": self._link_type_json(self._link_type(link.type)),
            }
            if link.source == issue.key:
                entry["outwardIssue"] = self._linked_issue_json(link.target)
            else:
                entry["inwardIssue"] = self._linked_issue_json(link.source)
            out.append(entry)
        return out

    def _custom_json(self, spec: SeedCustomField, value: Any) -> Any:
        if value is None:
            return None
        if spec.type == "option":
            oid = str(10100 + spec.options.index(value))
            return {"self": self._url(f"customFieldOption/{oid}"), "value": value, "id": oid}
        return copy.deepcopy(value)

    def _issue_json(self, issue: _Issue, wanted: Any = None) -> dict[str, Any]:
        """An issue bean; `wanted(field_id)` selects fields (all when None)."""
        producers: dict[str, Any] = {
            "summary": lambda: issue.summary,
            "description": lambda: copy.deepcopy(issue.description),
            "labels": lambda: list(issue.labels),
            "priority": lambda: self._priority_json(issue.priority),
            "status": lambda: self._status_json(issue.status),
            "issuelinks": lambda: self._issuelinks_json(issue),
            "components": lambda: [
                {"self": self._url(f"component/{10000 + i}"), "id": str(10000 + i), "name": name}
                for i, name in enumerate(issue.components)
            ],
            "project": lambda: self._project_json(issue.project),
            "issuetype": lambda: self._issuetype_json(issue.issuetype),
            "created": lambda: _jira_time(issue.created),
            "updated": lambda: _jira_time(issue.updated),
            "reporter": lambda: self._user_json(issue.reporter),
            "assignee": lambda: None,
            "comment": lambda: self._comments_page(issue),
        }
        for fid, spec in self.custom_fields.items():
            producers[fid] = lambda spec=spec, fid=fid: self._custom_json(spec, issue.custom.get(fid))
        fields = {fid: make() for fid, make in producers.items() if wanted is None or wanted(fid)}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": self._url(f"issue/{issue.id}"),
            "key": issue.key,
            "fields": fields,
        }

    @staticmethod
    def _field_selector(values: list[str] | None, default: str) -> Any:
        """`fields` as Jira reads it: *all, *navigable, id, names, and -name exclusions."""
        items = [v.strip() for raw in (values or [default]) for v in str(raw).split(",") if v.strip()]
        include: set[str] = set()
        exclude: set[str] = set()
        everything = navigable = False
        for item in items:
            if item.startswith("-"):
                exclude.add(item[1:])
            elif item == "*all":
                everything = True
            elif item == "*navigable":
                navigable = True
            else:
                include.add(item)
        if not (everything or navigable or include):
            navigable = True  # only exclusions: navigable minus those
        not_navigable = {f[0] for f in _SYSTEM_FIELDS if not f[5]}

        def wanted(fid: str) -> bool:
            if fid in exclude:
                return False
            return everything or fid in include or (navigable and fid not in not_navigable)

        return wanted

    # --- auth -------------------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> None:
        self._current_user = None
        header = request.headers.get("authorization", "")
        anonymous_ok = request.raw_path.split("?")[0].endswith("/serverInfo") or request.raw_path.startswith(
            "/browse/"
        )
        if not header:
            if anonymous_ok:
                return
            raise HttpError(
                401, _errors("You are not authenticated. Authentication required to perform this operation.")
            )
        scheme, _, value = header.partition(" ")
        user = None
        if scheme.lower() == "basic":
            try:
                login, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                login = secret = ""
            for candidate in self.users.values():
                if self.mode == "cloud":
                    ok = login.lower() == candidate.email.lower() and secret == candidate.api_token
                else:
                    ok = login == candidate.name and secret == candidate.password and secret is not None
                if ok:
                    user = candidate
        elif scheme.lower() == "bearer" and self.mode == "server":
            user = next((u for u in self.users.values() if value.strip() in u.pats), None)
        if user is None:
            # Jira Server also says why in X-Seraph-LoginReason; clients log it.
            reason = {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"} if self.mode == "server" else {}
            raise HttpError(401, _errors("Client must be authenticated to access this resource."), reason)
        self._current_user = user  # dispatch runs under self.lock, so one request at a time sees this
        request.context["user"] = user.name

    def _me(self) -> _User:
        if self._current_user is None:
            raise HttpError(
                401, _errors("You are not authenticated. Authentication required to perform this operation.")
            )
        return self._current_user

    # --- routes -----------------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        prefixes = ["/rest/api/2", "/rest/api/latest"] if self.mode == "server" else ["/rest/api/3"]
        info_prefixes = (
            ["/rest/api/2", "/rest/api/latest", "/rest/api/3"] if self.mode == "cloud" else prefixes
        )
        for prefix in info_prefixes:
            self.route("GET", f"{prefix}/serverInfo", self._server_info)
        for p in prefixes:
            self.route("GET", f"{p}/myself", lambda r: self._user_json(self._me().name, detailed=True))
            self.route("GET", f"{p}/field", self._fields)
            self.route("GET", f"{p}/issuetype", lambda r: [self._issuetype_json(n) for n in ISSUE_TYPES])
            self.route("GET", f"{p}/project/{{key}}", self._get_project)
            self.route(
                "GET",
                f"{p}/issueLinkType",
                lambda r: {"issueLinkTypes": [self._link_type_json(t) for t in LINK_TYPES]},
            )
            self.route("POST", f"{p}/issueLink", self._create_link)
            self.route("POST", f"{p}/issue", self._create_issue)
            self.route("GET", f"{p}/issue/{{key}}", self._get_issue)
            self.route("PUT", f"{p}/issue/{{key}}", self._update_issue)
            self.route("GET", f"{p}/issue/{{key}}/comment", self._list_comments)
            self.route("POST", f"{p}/issue/{{key}}/comment", self._add_comment)
            self.route("GET", f"{p}/issue/{{key}}/comment/{{cid}}", self._get_comment)
            self.route("PUT", f"{p}/issue/{{key}}/comment/{{cid}}", self._update_comment)
            self.route("DELETE", f"{p}/issue/{{key}}/comment/{{cid}}", self._delete_comment)
            self.route("GET", f"{p}/issue/{{key}}/transitions", self._transitions)
            self.route("POST", f"{p}/issue/{{key}}/transitions", self._transition)
            if self.mode == "server":
                self.route("GET", f"{p}/search", self._search_server)
                self.route("POST", f"{p}/search", self._search_server)
            else:
                self.route("GET", f"{p}/search/jql", self._search_cloud)
                self.route("POST", f"{p}/search/jql", self._search_cloud)
                self.route("GET", f"{p}/search", self._search_removed)
                self.route("POST", f"{p}/search", self._search_removed)
        self.route("GET", "/browse/{key}", self._browse)

    def _server_info(self, request: Request) -> dict[str, Any]:
        now = _jira_time(dt.datetime.now(dt.UTC))
        if self.mode == "cloud":
            return {
                "baseUrl": self.base_url,
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
                "buildNumber": 100289,
                "buildDate": "2025-01-01T00:00:00.000+0000",
                "serverTime": now,
                "scmInfo": "standin",
                "serverTitle": "Nightshift Jira stand-in (Cloud)",
            }
        return {
            "baseUrl": self.base_url,
            "version": "9.12.15",
            "versionNumbers": [9, 12, 15],
            "deploymentType": "Server",
            "buildNumber": 9120015,
            "buildDate": "2024-10-01T00:00:00.000+0000",
            "serverTime": now,
            "scmInfo": "standin",
            "serverTitle": "Nightshift Jira stand-in (Server)",
        }

    def _fields(self, request: Request) -> list[dict[str, Any]]:
        out = []
        for fid, name, ftype, items, clauses, navigable in _SYSTEM_FIELDS:
            entry: dict[str, Any] = {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": True,
                "navigable": navigable,
                "searchable": True,
                "clauseNames": clauses,
            }
            if ftype:
                entry["schema"] = {"type": ftype, "system": fid, **({"items": items} if items else {})}
            out.append(entry)
        for fid, spec in self.custom_fields.items():
            ftype, items, custom = _CUSTOM_TYPES[spec.type]
            schema: dict[str, Any] = {"type": ftype, "custom": custom, "customId": int(fid.split("_")[1])}
            if items:
                schema["items"] = items
            out.append(
                {
                    "id": fid,
                    "key": fid,
                    "name": spec.name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "schema": schema,
                    "clauseNames": [f"cf[{fid.split('_')[1]}]", spec.name],
                }
            )
        return out

    def _get_project(self, request: Request) -> dict[str, Any]:
        key = request.params["key"].upper()
        for project_key in self.projects:
            if key in (project_key, self._project_json(project_key)["id"]):
                return self._project_json(project_key)
        raise HttpError(404, _errors(f"No project could be found with key '{request.params['key']}'."))

    def _issue(self, key_or_id: str) -> _Issue:
        issue = self.issues.get(key_or_id.upper())
        if issue is None and key_or_id.isdigit():
            issue = next((i for i in self.issues.values() if str(i.id) == key_or_id), None)
        if issue is None:
            raise HttpError(404, _errors("Issue does not exist or you do not have permission to see it."))
        return issue

    def _get_issue(self, request: Request) -> dict[str, Any]:
        issue = self._issue(request.params["key"])
        return self._issue_json(issue, self._field_selector(request.query.get("fields"), "*all"))

    # --- writes --------------------------------------------------------------------------------------------
    def _apply_fields(self, issue: _Issue, fields: dict[str, Any], errors: dict[str, str]) -> None:
        """Validate and apply `fields` (create and edit); problems go to `errors` by field id."""
        for fid, value in fields.items():
            try:
                if fid == "summary":
                    if not isinstance(value, str) or not value.strip():
                        raise ValueError("You must specify a summary of the issue.")
                    if "\n" in value or "\r" in value:
                        raise ValueError("The summary is invalid because it contains newline characters.")
                    if len(value) > 255:
                        raise ValueError("Summary must be less than 255 characters.")
                    issue.summary = value
                elif fid == "description":
                    if value is None:
                        issue.description = None
                    elif self.mode == "cloud" and not _is_adf(value):
                        raise ValueError(
                            "Operation value must be an Atlassian Document (see the Atlassian "
                            "Document Format)"
                        )
                    elif self.mode == "server" and not isinstance(value, str):
                        raise ValueError("Operation value must be a string")
                    else:
                        issue.description = copy.deepcopy(value)
                elif fid == "labels":
                    issue.labels = self._labels_in(value)
                elif fid == "priority":
                    name = value.get("name") if isinstance(value, dict) else None
                    if isinstance(value, dict) and "id" in value and name is None:
                        name = next(
                            (p for i, p in enumerate(PRIORITIES) if str(i + 1) == str(value["id"])), None
                        )
                    if name not in PRIORITIES:
                        raise ValueError(f"Specify a valid priority ('{value}' is not one).")
                    issue.priority = name
                elif fid == "components":
                    names = [c.get("name") for c in value] if isinstance(value, list) else None
                    known = self.projects[issue.project].components
                    if names is None or any(n not in known for n in names):
                        raise ValueError(f"Component name '{names}' is not valid")
                    issue.components = cast(list[str], names)
                elif fid in self.custom_fields:
                    issue.custom[fid] = self._custom_value(self.custom_fields[fid], value)
                elif fid in ("project", "issuetype"):
                    continue  # handled by create; not editable here
                else:
                    raise ValueError(
                        f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
            except ValueError as exc:
                errors[fid] = str(exc)

    @staticmethod
    def _labels_in(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Labels must be a list of strings.")
        for label in value:
            if not label or re.search(r"\s", label):
                raise ValueError(f"The label '{label}' contains spaces which is invalid.")
            if len(label) > 255:
                raise ValueError("The label must not exceed 255 characters.")
        return list(dict.fromkeys(value))

    def _create_issue(self, request: Request) -> Response:
        body = request.json()
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise HttpError(400, _errors("Request body must hold 'fields'."))
        errors: dict[str, str] = {}
        project_ref = fields.get("project") or {}
        project = next(
            (
                k
                for k in self.projects
                if k == str(project_ref.get("key", "")).upper()
                or self._project_json(k)["id"] == str(project_ref.get("id"))
            ),
            None,
        )
        if project is None:
            errors["project"] = "valid project is required"
        type_ref = fields.get("issuetype") or {}
        issuetype = next(
            (n for n, i in ISSUE_TYPES.items() if type_ref.get("name") == n or str(type_ref.get("id")) == i),
            None,
        )
        if issuetype is None:
            errors["issuetype"] = "valid issue type is required"
        if "summary" not in fields:
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            raise HttpError(400, _errors(**errors))
        assert project is not None and issuetype is not None
        numbers = [i.number for i in self.issues.values() if i.project == project]
        when = self._tick()
        issue = _Issue(
            id=self._next_issue_id,
            key=f"{project}-{max(numbers, default=0) + 1}",
            project=project,
            summary="",
            description=None,
            labels=[],
            priority="Medium",
            status=next(iter(self.statuses)),
            issuetype=issuetype,
            components=[],
            custom={},
            reporter=self._me().name,
            created=when,
            updated=when,
        )
        self._apply_fields(issue, fields, errors)
        if errors:
            raise HttpError(400, _errors(**errors))
        self._next_issue_id += 1
        self.issues[issue.key] = issue
        return Response(201, {"id": str(issue.id), "key": issue.key, "self": self._url(f"issue/{issue.id}")})

    def _update_issue(self, request: Request) -> Response:
        issue = self._issue(request.params["key"])
        body = request.json()
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise HttpError(400, _errors("'fields' and 'update' must be objects."))
        both = set(fields) & set(update)
        if both:
            field_name = sorted(both)[0]
            raise HttpError(
                400,
                _errors(**{field_name: f"Field '{field_name}' cannot appear in both 'fields' and 'update'"}),
            )
        staged = copy.deepcopy(issue)
        errors: dict[str, str] = {}
        self._apply_fields(staged, fields, errors)
        new_comments: list[Any] = []
        for fid, operations in update.items():
            if not isinstance(operations, list):
                errors[fid] = "Update operations must be a list."
                continue
            for operation in operations:
                try:
                    self._apply_operation(staged, fid, operation, new_comments)
                except ValueError as exc:
                    errors[fid] = str(exc)
        if errors:
            raise HttpError(400, _errors(**errors))
        staged.updated = self._tick()
        self.issues[issue.key] = staged
        for comment_body in new_comments:
            self._store_comment(staged, comment_body)
        return Response(204, None)

    def _apply_operation(self, issue: _Issue, fid: str, operation: Any, new_comments: list[Any]) -> None:
        if not isinstance(operation, dict) or len(operation) != 1:
            raise ValueError("Each update operation is one of add, remove or set.")
        verb, value = next(iter(operation.items()))
        if fid == "labels":
            if verb == "add":
                issue.labels = self._labels_in([*issue.labels, value])
            elif verb == "remove":
                issue.labels = [label for label in issue.labels if label != value]
            elif verb == "set":
                issue.labels = self._labels_in(value)
            else:
                raise ValueError(f"Labels do not support the '{verb}' operation.")
        elif fid == "comment" and verb == "add":
            body = value.get("body") if isinstance(value, dict) else None
            self._check_comment_body(body)
            new_comments.append(body)
        elif fid in ("summary", "description", "priority") and verb == "set":
            errors: dict[str, str] = {}
            self._apply_fields(issue, {fid: value}, errors)
            if errors:
                raise ValueError(errors[fid])
        else:
            raise ValueError(f"Field '{fid}' does not support the '{verb}' operation here.")

    def _check_comment_body(self, body: Any) -> None:
        if self.mode == "cloud" and not _is_adf(body):
            raise HttpError(400, _errors(comment="Comment body must be an Atlassian Document (ADF)."))
        if self.mode == "server" and (not isinstance(body, str) or not body.strip()):
            raise HttpError(400, _errors(comment="Comment body can not be empty!"))

    def _store_comment(
        self, issue: _Issue, body: Any, properties: list[dict[str, Any]] | None = None
    ) -> _Comment:
        when = self._tick()
        comment = _Comment(
            self._next_comment_id, copy.deepcopy(body), self._me().name, when, when, list(properties or [])
        )
        self._next_comment_id += 1
        issue.comments.append(comment)
        issue.updated = when
        return comment

    def _list_comments(self, request: Request) -> dict[str, Any]:
        issue = self._issue(request.params["key"])
        start = self._int_arg(request.arg("startAt"), 0, "startAt")
        limit = self._int_arg(request.arg("maxResults"), 5000, "maxResults")
        return self._comments_page(issue, start, min(max(limit, 0), 5000))

    def _add_comment(self, request: Request) -> Response:
        issue = self._issue(request.params["key"])
        body = request.json()
        self._check_comment_body(body.get("body") if isinstance(body, dict) else None)
        comment = self._store_comment(issue, body["body"], body.get("properties"))
        return Response(201, self._comment_json(issue, comment))

    def _find_comment(self, request: Request) -> tuple[_Issue, _Comment]:
        issue = self._issue(request.params["key"])
        for comment in issue.comments:
            if str(comment.id) == request.params["cid"]:
                return issue, comment
        raise HttpError(404, _errors(f"Can not find a comment for the id: {request.params['cid']}."))

    def _get_comment(self, request: Request) -> dict[str, Any]:
        return self._comment_json(*self._find_comment(request))

    def _update_comment(self, request: Request) -> dict[str, Any]:
        issue, comment = self._find_comment(request)
        body = request.json()
        self._check_comment_body(body.get("body") if isinstance(body, dict) else None)
        comment.body = copy.deepcopy(body["body"])
        comment.updated = self._tick()
        return self._comment_json(issue, comment)

    def _delete_comment(self, request: Request) -> Response:
        issue, comment = self._find_comment(request)
        issue.comments.remove(comment)
        return Response(204, None)

    def _transition_list(self, issue: _Issue) -> list[dict[str, Any]]:
        return [
            {
                "id": str(11 + 10 * index),
                "name": name,
                "to": self._status_json(name),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "looped": False,
            }
            for index, name in enumerate(self.statuses)
            if name != issue.status
        ]

    def _transitions(self, request: Request) -> dict[str, Any]:
        issue = self._issue(request.params["key"])
        return {"expand": "transitions", "transitions": self._transition_list(issue)}

    def _transition(self, request: Request) -> Response:
        issue = self._issue(request.params["key"])
        body = request.json()
        wanted = str((body.get("transition") or {}).get("id", ""))
        target = next((t["name"] for t in self._transition_list(issue) if t["id"] == wanted), None)
        if target is None:
            raise HttpError(400, _errors(f"Transition id '{wanted}' is not valid for this issue."))
        comments = [op.get("add", {}).get("body") for op in (body.get("update") or {}).get("comment", [])]
        for comment_body in comments:
            self._check_comment_body(comment_body)
        errors: dict[str, str] = {}
        staged = copy.deepcopy(issue)
        self._apply_fields(staged, body.get("fields") or {}, errors)
        if errors:
            raise HttpError(400, _errors(**errors))
        staged.status = target
        staged.updated = self._tick()
        self.issues[issue.key] = staged
        for comment_body in comments:
            self._store_comment(staged, comment_body)
        return Response(204, None)

    def _create_link(self, request: Request) -> Response:
        body = request.json()
        type_ref = body.get("type") or {}
        try:
            link_type = self._link_type(str(type_ref.get("name") or type_ref.get("id") or ""))
        except ValueError:
            raise HttpError(
                404, _errors(f"No issue link type with name '{type_ref.get('name')}' found.")
            ) from None
        source = self._issue(
            str((body.get("inwardIssue") or {}).get("key") or (body.get("inwardIssue") or {}).get("id"))
        )
        target = self._issue(
            str((body.get("outwardIssue") or {}).get("key") or (body.get("outwardIssue") or {}).get("id"))
        )
        if source.key == target.key:
            raise HttpError(400, _errors("You cannot link an issue to itself."))
        self.add_link(link_type[1], source.key, target.key)
        comment = body.get("comment")
        if isinstance(comment, dict) and comment.get("body"):
            self._check_comment_body(comment["body"])
            self._store_comment(target, comment["body"])
        return Response(201, b"", content_type="text/plain;charset=UTF-8")  # Jira: 201, empty body

    # --- search ---------------------------------------------------------------------------------------------
    @staticmethod
    def _int_arg(value: Any, default: int, name: str) -> int:
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise HttpError(400, _errors(f"The value of '{name}' must be a number, not '{value}'.")) from None

    def _search_params(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise HttpError(400, _errors("The search request must be a JSON object."))
            fields = body.get("fields")
            return {**body, "fields": [fields] if isinstance(fields, str) else fields}
        return {
            "jql": request.arg("jql", ""),
            "startAt": request.arg("startAt"),
            "maxResults": request.arg("maxResults"),
            "nextPageToken": request.arg("nextPageToken"),
            "fields": request.query.get("fields"),
        }

    def _matching(self, jql: str) -> tuple[JqlQuery, list[_Issue]]:
        try:
            query = parse_jql(jql or "")
            predicate = self._compile(query.where)
        except JqlError as exc:
            raise HttpError(400, _errors(f"Error in the JQL Query: {exc}")) from None
        matched = [issue for issue in self.issues.values() if predicate(issue)]
        matched.sort(key=lambda i: (i.project, i.number))
        for name, descending in reversed(query.order):
            matched.sort(key=self._sort_key(name), reverse=descending)
        return query, matched

    def _search_server(self, request: Request) -> dict[str, Any]:
        params = self._search_params(request)
        _, matched = self._matching(str(params.get("jql") or ""))
        start = max(self._int_arg(params.get("startAt"), 0, "startAt"), 0)
        limit = min(max(self._int_arg(params.get("maxResults"), 50, "maxResults"), 0), self.max_results)
        wanted = self._field_selector(params.get("fields"), "*navigable")
        page = matched[start : start + limit]
        return {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(matched),
            "issues": [self._issue_json(issue, wanted) for issue in page],
        }

    def _search_cloud(self, request: Request) -> dict[str, Any]:
        params = self._search_params(request)
        jql = str(params.get("jql") or "")
        query, matched = self._matching(jql)
        if query.where is None:
            raise HttpError(
                400,
                _errors(
                    "Unbounded JQL queries are not allowed here. "
                    "Please add a search restriction to your query."
                ),
            )
        start = self._decode_token(params.get("nextPageToken"), jql)
        limit = min(max(self._int_arg(params.get("maxResults"), 50, "maxResults"), 1), self.max_results)
        wanted = self._field_selector(params.get("fields"), "id")
        page = matched[start : start + limit]
        out: dict[str, Any] = {"issues": [self._issue_json(issue, wanted) for issue in page]}
        if start + limit < len(matched):
            out["nextPageToken"] = self._encode_token(start + limit, jql)
            out["isLast"] = False
        else:
            out["isLast"] = True
        return out

    @staticmethod
    def _token_digest(jql: str) -> str:
        return hashlib.sha256(jql.encode()).hexdigest()[:12]

    def _encode_token(self, offset: int, jql: str) -> str:
        raw = json.dumps({"o": offset, "q": self._token_digest(jql)}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_token(self, token: Any, jql: str) -> int:
        if not token:
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)))
            if data["q"] != self._token_digest(jql):
                raise ValueError("token of another query")
            return int(data["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise HttpError(400, _errors("The provided next page token is invalid or expired.")) from None

    def _search_removed(self, request: Request) -> Response:
        return Response(
            410,
            _errors(
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
            ),
        )

    def _sort_key(self, name: str) -> Any:
        if name == "priority":
            return lambda i: len(PRIORITIES) - PRIORITIES.index(i.priority) if i.priority else 0
        if name == "created":
            return lambda i: i.created
        if name == "updated":
            return lambda i: i.updated
        return lambda i: (i.project, i.number)

    def _compile(self, node: Any) -> Any:
        """Check a parsed query against this site's data and turn it into a predicate on issues."""
        if node is None:
            return lambda issue: True
        if isinstance(node, BoolNode):
            parts = [self._compile(child) for child in node.children]
            if node.op == "and":
                return lambda issue: all(p(issue) for p in parts)
            if node.op == "or":
                return lambda issue: any(p(issue) for p in parts)
            return lambda issue: not parts[0](issue)
        clause = cast(Clause, node)
        values = [v for v in clause.values if v is not None]
        negate = clause.op in ("!=", "not in", "is not", "!~")
        if clause.field in ("labels", "component"):
            wanted = {v.lower() for v in values}

            def multi(issue: _Issue) -> bool:
                have = {v.lower() for v in (issue.labels if clause.field == "labels" else issue.components)}
                if clause.op in ("is", "is not"):
                    return (not have) != negate
                # Jira: `labels != x` and `labels not in (...)` never match issues without labels.
                return bool(have) and (not (have & wanted) if negate else bool(have & wanted))

            return multi
        if clause.field in ("text", "summary", "description", "comment"):
            needle = values[0].strip("*").lower()

            def text(issue: _Issue) -> bool:
                return (needle in self._issue_text(issue, clause.field)) != negate

            return text
        resolved = {self._resolve_value(clause.field, v) for v in values}
        getter = {
            "project": lambda i: i.project,
            "status": lambda i: i.status,
            "statuscategory": lambda i: self.statuses[i.status],
            "key": lambda i: i.key,
            "priority": lambda i: i.priority,
            "issuetype": lambda i: i.issuetype,
        }[clause.field]
        return lambda issue: (getter(issue) in resolved) != negate

    def _resolve_value(self, field_name: str, value: str) -> str:
        """A JQL value as stored here; unknown values are errors, as in Jira."""
        lower = value.lower()
        if field_name == "project":
            for key, project in self.projects.items():
                if lower in (key.lower(), (project.name or "").lower(), self._project_json(key)["id"]):
                    return key
            raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
        if field_name == "status":
            for name in self.statuses:
                if lower == name.lower():
                    return name
            raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
        if field_name == "statuscategory":
            for key, (cid, name, _) in _CATEGORIES.items():
                if lower in (key, name.lower(), str(cid)):
                    return key
            raise JqlError(f"The value '{value}' does not exist for the field 'statusCategory'.")
        if field_name == "key":
            if value.upper() in self.issues:
                return value.upper()
            raise JqlError(f"An issue with key '{value}' does not exist for field 'key'.")
        if field_name == "priority":
            for name in PRIORITIES:
                if lower == name.lower():
                    return name
            raise JqlError(f"The value '{value}' does not exist for the field 'priority'.")
        for name in ISSUE_TYPES:
            if lower == name.lower():
                return name
        raise JqlError(f"The value '{value}' does not exist for the field 'issuetype'.")

    def _issue_text(self, issue: _Issue, which: str) -> str:
        def text_of(body: Any) -> str:
            return _adf_text(body) if isinstance(body, dict) else str(body or "")

        parts = []
        if which in ("text", "summary"):
            parts.append(issue.summary)
        if which in ("text", "description"):
            parts.append(text_of(issue.description))
        if which in ("text", "comment"):
            parts.extend(text_of(c.body) for c in issue.comments)
        return "\n".join(parts).lower()

    # --- a page for humans ----------------------------------------------------------------------------------
    def _browse(self, request: Request) -> Response:
        try:
            issue = self._issue(request.params["key"])
        except HttpError:
            return Response(
                404,
                "<!doctype html><title>Not found</title><p>No such issue.</p>",
                content_type="text/html; charset=utf-8",
            )
        esc = html.escape

        def text_of(body: Any) -> str:
            return _adf_text(body) if isinstance(body, dict) else str(body or "")

        comments = "".join(f"<li><pre>{esc(text_of(c.body))}</pre></li>" for c in issue.comments)
        links = "".join(
            f"<li>{esc(lk.type)}: {esc(lk.source)} &rarr; {esc(lk.target)}</li>"
            for lk in self.links
            if issue.key in (lk.source, lk.target)
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{esc(issue.key)}: {esc(issue.summary)}</title></head><body>"
            f"<p><em>Nightshift Jira stand-in ({esc(self.mode)}) - a test double, not Jira.</em></p>"
            f"<h1>{esc(issue.key)}: {esc(issue.summary)}</h1>"
            f"<p>Status: {esc(issue.status)} &middot; Priority: {esc(issue.priority or '-')} &middot; "
            f"Labels: {esc(', '.join(issue.labels) or '-')}</p>"
            f"<h2>Description</h2><pre>{esc(text_of(issue.description))}</pre>"
            f"<h2>Links</h2><ul>{links}</ul><h2>Comments</h2><ol>{comments}</ol></body></html>"
        )
        return Response(200, page, content_type="text/html; charset=utf-8")


def start_jira(
    mode: Literal["server", "cloud"], seed: dict[str, Any] | None = None, *, port: int = 0
) -> JiraStandin:
    """Start a Jira stand-in on 127.0.0.1 (a free port unless `port`); `seed=None` loads `default_seed`."""
    server = JiraStandin(mode, seed)
    server.start(port)
    return server
