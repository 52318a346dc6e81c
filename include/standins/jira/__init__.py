"""A stand-in for Jira: a test double of Jira Server/DC (REST v2) and Jira Cloud (REST v3), not the real one.

Two modes, because the two deployments differ in exactly the places Nightshift must get right:

* `server`: REST `/rest/api/2` (and `/latest`), descriptions and comments are wiki-markup strings, users
  have `name`/`key`, search pages with `startAt`/`maxResults`/`total`; basic auth with user:password,
  or a bearer personal access token.
* `cloud`: REST `/rest/api/3`, descriptions and comment bodies are ADF documents, users have an
  `accountId`, search is `/search/jql` paging with `nextPageToken`/`isLast` (the old `/search` answers
  410 Gone, as on Cloud since 2025); basic auth with e-mail:API token. `serverInfo` is also served under
  `/rest/api/2` so clients that probe v2 first detect the deployment.

Search understands a JQL subset (see `JqlParser`) and answers 400 in Jira's error shape for anything
else: a clause it does not understand is never silently ignored. Known simplifications: `text ~` is a
case-insensitive substring match (Jira matches words); default sort is `key ASC`; a page holds at most
`max_results` issues (100 by default, as Cloud does for `*all` fields).

Faults, the journal and the HTTP plumbing come from `standins.http.StandinServer`. One module per resource:
seed and state hold the data, jql.py parses queries, and the server (server.py) is assembled from the
routes of meta (serverInfo, fields, projects), issues, comments, links, search and the web page.
"""

from standins.jira.jql import JqlError, JqlQuery, parse_jql
from standins.jira.seed import READINESS_WIKI, JiraSeed, default_seed, default_user, readiness_adf
from standins.jira.server import JiraStandin, start_jira
from standins.jira.state import (
    DEFAULT_API_TOKEN,
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    DEFAULT_PAT,
    DEFAULT_STATUSES,
    DEFAULT_USER,
    Mode,
)

__all__ = [
    "DEFAULT_API_TOKEN",
    "DEFAULT_EMAIL",
    "DEFAULT_PASSWORD",
    "DEFAULT_PAT",
    "DEFAULT_STATUSES",
    "DEFAULT_USER",
    "READINESS_WIKI",
    "JiraSeed",
    "JiraStandin",
    "JqlError",
    "JqlQuery",
    "Mode",
    "default_seed",
    "default_user",
    "parse_jql",
    "readiness_adf",
    "start_jira",
]
