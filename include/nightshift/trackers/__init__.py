"""One way to talk to trackers (Jira, GitLab issues) and the forge (GitLab MRs, in `nightshift.forge`).

    base.py            the `Tracker` interface, `TrackerIssue`, markers (marker_key, hidden_marker, ...)
    errors.py          the one error hierarchy every client and adapter raises (by one HTTP-status rule)
    writes.py          the one idempotent-write helper: create_once, write_once, upsert_marked, unless_exists
    keys.py            ticket id <-> tracker key, one class per tracker (JiraKeys, GitLabKeys); the GitLab
                       path rule (check_gitlab_path) and what a project is (KeyScheme.check_project)
    clients/http.py    what both clients share: Retry-After parsing, service naming
    clients/jira.py    the configured `jira.JIRA` client and its error translation (jira_errors)
    clients/gitlab.py  the configured python-gitlab client and its error translation (gitlab_errors)
    jira.py            JiraTracker, the Tracker over Jira Server/DC and Cloud
    gitlab.py          GitLabIssueTracker over GitLab issues; upsert_marked_note (also for MR notes)
    text.py            markdown <-> Jira wiki markup / ADF
"""
