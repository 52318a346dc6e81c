"""A GitLab stand-in (a test double, not GitLab): the REST v4 subset Nightshift uses, plus Git smart HTTP.

One module per resource, as python-gitlab has them: seed and state hold the data, and the server
(server.py) is assembled from the routes of projects, merge requests, notes, issues, labels, CI and
the web pages. Quick actions (`/command` lines) live in quick_actions.py.
"""

from standins.gitlab.quick_actions import (
    QUICK_ACTION_NAMES,
    QuickAction,
    extract_quick_actions,
    run_quick_actions,
)
from standins.gitlab.seed import (
    GitLabSeed,
    SeedIssue,
    SeedIssueLink,
    SeedLabel,
    SeedProject,
    SeedRepository,
    SeedToken,
    SeedUser,
    default_seed,
)
from standins.gitlab.server import GitLabStandin
from standins.gitlab.state import PIPELINE_STATUSES

__all__ = [
    "PIPELINE_STATUSES",
    "QUICK_ACTION_NAMES",
    "GitLabSeed",
    "GitLabStandin",
    "QuickAction",
    "SeedIssue",
    "SeedIssueLink",
    "SeedLabel",
    "SeedProject",
    "SeedRepository",
    "SeedToken",
    "SeedUser",
    "default_seed",
    "extract_quick_actions",
    "run_quick_actions",
]
