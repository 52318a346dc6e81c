"""Quick actions: what GitLab does with `/command` lines in descriptions and notes."""

from __future__ import annotations

import re

from standins.git_http import GitError
from standins.gitlab.base import GitLabBase
from standins.gitlab.state import (
    DRAFT_RE,
    Issue,
    MergeRequest,
    Project,
    QuickAction,
    User,
    merge_labels,
    now_text,
)

#: The quick actions GitLab knows for issues and merge requests (docs: user/project/quick_actions.md).
QUICK_ACTION_NAMES = frozenset(
    """add_child add_contacts add_email approve assign assign_reviewer award blocked_by blocks cc
    checkin_reminder child_epic clear_health_status clear_weight clone close confidential copy_metadata
    create_merge_request done draft due duplicate epic estimate estimate_time health_status iteration
    label labels lock merge milestone move page parent_epic promote promote_to_incident publish q react
    ready rebase reassign reassign_reviewer relabel relate remove_child remove_child_epic remove_contacts
    remove_due_date remove_email remove_epic remove_estimate remove_estimate_time remove_iteration
    remove_label remove_milestone remove_parent remove_parent_epic remove_reviewer remove_time_spent
    remove_zoom reopen request_review reviewer set_parent severity shrug spend spend_time status
    submit_review subscribe tableflip target_branch timeline title todo type unapprove unassign
    unassign_reviewer unlabel unlink unlock unsubscribe weight wip zoom""".split()
)


# GitLab's extractor (lib/gitlab/quick_actions/extractor.rb): `^/<name>( <arg>)?` on a line of its own,
# case-insensitive, outside fenced code. GitLab also skips HTML blocks, `>>>` quotes and inline code
# spread over lines; the stand-in does not, so it executes at least what GitLab would.
_QUICK_ACTION_RE = re.compile(
    r"(?P<code>^```.+?\n```$)"
    r"|^/(?P<cmd>" + "|".join(sorted(QUICK_ACTION_NAMES, key=len, reverse=True)) + r")"
    r"(?:[ ](?P<arg>[^\n]*))?(?:[ \t]*\n|$)",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)


_LABEL_ARG_RE = re.compile(r'~"([^"]+)"|~(\S+)|(\S+)')


def extract_quick_actions(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text without the command lines, [(name, arg), ...]) as GitLab's extractor finds them."""
    commands: list[tuple[str, str]] = []

    def take(match: re.Match[str]) -> str:
        if match.group("cmd") is None:
            return match.group(0)
        commands.append((match.group("cmd").lower(), (match.group("arg") or "").strip()))
        return ""

    remaining = _QUICK_ACTION_RE.sub(take, text.replace("\r", ""))
    return remaining.rstrip(), commands


def _label_names(arg: str) -> list[str]:
    return [a or b or c for a, b, c in _LABEL_ARG_RE.findall(arg)]


def _apply_quick_action(
    standin: GitLabBase, proj: Project, target: MergeRequest | Issue, user: User, name: str, arg: str
) -> bool:
    """Do what GitLab does for the modelled commands; False for the others (and for refused ones)."""
    if name in ("label", "labels"):
        target.labels = merge_labels(target.labels, _label_names(arg), [])
    elif name == "relabel":
        target.labels = merge_labels([], _label_names(arg), [])
    elif name in ("unlabel", "remove_label"):
        target.labels = merge_labels(target.labels, [], _label_names(arg)) if arg else []
    elif name == "close" and target.state == "opened":
        if isinstance(target, MergeRequest):
            target.frozen_sha = standin._mr_sha(proj, target, None)
        target.state, target.closed_at, target.closed_by = "closed", now_text(), user
    elif name == "reopen" and target.state == "closed":
        target.state, target.closed_at, target.closed_by = "opened", None, None
        if isinstance(target, MergeRequest):
            target.frozen_sha = None
    elif name == "title" and arg:
        target.title = arg
    elif not isinstance(target, MergeRequest):
        return False
    elif name == "approve":
        if all(u.id != user.id for u, _ in target.approvals):
            target.approvals.append((user, now_text()))
    elif name == "unapprove":
        target.approvals = [(u, at) for u, at in target.approvals if u.id != user.id]
    elif name == "ready":
        target.title = DRAFT_RE.sub("", target.title, count=1)
    elif name in ("draft", "wip"):
        if not target.draft:
            target.title = f"Draft: {target.title}"
    elif name == "target_branch" and arg in standin.repos.heads(proj.path):
        target.target_branch = arg
    elif name == "merge" and target.state == "opened" and not target.draft:
        try:
            standin.merge(proj.path, target.iid, user.username)
        except GitError:
            return False
    else:
        return False
    standin._ensure_project_labels(proj, target.labels)
    return True


def run_quick_actions(
    standin: GitLabBase, proj: Project, target: MergeRequest | Issue, user: User, text: str, field: str
) -> str:
    """Execute the quick actions in `text` on `target` as `user`, journal them, return the rest of it."""
    remaining, commands = extract_quick_actions(text)
    sign = "!" if isinstance(target, MergeRequest) else "#"
    where = f"{type(target).__name__.lstrip('_')} {proj.path}{sign}{target.iid} {field}"
    for name, arg in commands:
        applied = _apply_quick_action(standin, proj, target, user, name, arg)
        standin.quick_actions.append(QuickAction(where, name, arg, user.username, applied))
    return remaining
