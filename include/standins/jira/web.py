"""The /browse page for humans, rendered from standins/templates/jira_issue.html."""

from __future__ import annotations

from typing import Any

from standins.http import HttpError, Request, Response
from standins.jira.base import JiraBase
from standins.jira.state import adf_text
from standins.pages import page


class WebPages(JiraBase):
    def _browse(self, request: Request) -> Response:
        banner = f"Nightshift Jira stand-in ({self.mode}) - a test double, not Jira."
        try:
            issue = self._issue(request.params["key"])
        except HttpError:
            return page("not_found.html", 404, banner=banner, message="No such issue.")

        def text_of(body: Any) -> str:
            return adf_text(body) if isinstance(body, dict) else str(body or "")

        return page(
            "jira_issue.html",
            banner=banner,
            issue=issue,
            description=text_of(issue.description),
            comments=[text_of(c.body) for c in issue.comments],
            links=[link for link in self.links if issue.key in (link.source, link.target)],
        )
