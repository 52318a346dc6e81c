"""Notes on merge requests and issues (the same routes under both)."""

from __future__ import annotations

from typing import Any

from standins.gitlab.base import GitLabBase
from standins.gitlab.quick_actions import run_quick_actions
from standins.gitlab.state import MergeRequest, Note, int_arg, now_text
from standins.http import HttpError, Request, Response


class NoteRoutes(GitLabBase):
    def notes(self, project: str, *, mr_iid: int | None = None, issue_iid: int | None = None) -> list[str]:
        """The bodies of an MR's or an issue's notes, oldest first."""
        with self.lock:
            proj = self._project_by_path(project)
            owner = self._mr(proj, mr_iid) if mr_iid is not None else self._issue(proj, issue_iid or 0)
            return [note.body for note in owner.notes]

    def _note_json(self, note: Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "author": self._user_json(note.author),
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "system": False,
            "noteable_id": note.noteable_id,
            "noteable_type": note.noteable_type,
            "project_id": note.project_id,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": note.noteable_iid,
            "commands_changes": {},
        }

    def _list_notes(self, request: Request) -> Response:
        _, owner = self._noteable(request)
        notes = self._sorted(owner.notes, request)
        return self._paginate(request, [self._note_json(n) for n in notes])

    def _create_note(self, request: Request) -> Response:
        proj, owner = self._noteable(request)
        body = self._params(request).get("body")
        if not body:
            raise HttpError(400, {"error": "body is missing"})
        now = now_text()
        kind = "MergeRequest" if isinstance(owner, MergeRequest) else "Issue"
        note = Note(
            next(self._ids), str(body), self._user(request), now, now, kind, owner.id, owner.iid, proj.id
        )
        owner.notes.append(note)
        note.body = run_quick_actions(self, proj, owner, note.author, note.body, "note")
        owner.updated_at = now
        return Response(201, self._note_json(note))

    def _find_note(self, request: Request) -> Note:
        _, owner = self._noteable(request)
        note_id = int_arg(request.params["note_id"], "note_id")
        for note in owner.notes:
            if note.id == note_id:
                return note
        raise HttpError(404, "404 Note Not Found")

    def _get_note(self, request: Request) -> dict[str, Any]:
        return self._note_json(self._find_note(request))

    def _update_note(self, request: Request) -> dict[str, Any]:
        note = self._find_note(request)
        if note.author.id != self._user(request).id:
            raise HttpError(403, "403 Forbidden")
        body = self._params(request).get("body")
        if not body:
            raise HttpError(400, {"error": "body is missing"})
        note.body, note.updated_at = str(body), now_text()
        proj, owner = self._noteable(request)
        note.body = run_quick_actions(self, proj, owner, note.author, note.body, "note")
        return self._note_json(note)

    def _delete_note(self, request: Request) -> Response:
        note = self._find_note(request)
        if note.author.id != self._user(request).id:
            raise HttpError(403, "403 Forbidden")
        _, owner = self._noteable(request)
        owner.notes.remove(note)
        return Response(204, None)
