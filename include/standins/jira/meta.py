"""serverInfo, fields and projects: what clients read to learn the deployment."""

from __future__ import annotations

import datetime as dt
from typing import Any

from standins.http import HttpError, Request
from standins.jira.base import JiraBase
from standins.jira.state import CUSTOM_TYPES, SYSTEM_FIELDS, error_body, jira_time


class MetaRoutes(JiraBase):
    def _server_info(self, request: Request) -> dict[str, Any]:
        now = jira_time(dt.datetime.now(dt.UTC))
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
        for fid, name, ftype, items, clauses, navigable in SYSTEM_FIELDS:
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
            ftype, items, custom = CUSTOM_TYPES[spec.type]
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
        raise HttpError(404, error_body(f"No project could be found with key '{request.params['key']}'."))
