"""scope: did the change stay where the ticket said it would, and out of places no agent may touch?

- `protected_path` (and `protected_path` for a gitlink, which moves code in from elsewhere): the pre-push
  fence's findings (nightshift.forge.fence.check_diff), the same rules as at push time;
- `out_of_scope`: a changed file outside the ticket's `estimated_files` (globs; a file in the same folder
  as an estimated file and any test file count as in scope), a binary or oversized file, more added
  lines than `scope.max_added_lines`;
- `empty_change`: nothing changed although the agent reported success.
Without estimated files, only the fence's rules, the size and the empty change are checked.
"""

from __future__ import annotations

import posixpath

from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.report import Flag
from nightshift.globs import matches_any

NAME = "scope"
MAX_FLAGS = 30


def in_scope(path: str, estimated: list[str], *, same_directory: bool) -> bool:
    if matches_any(path, estimated):
        return True
    if not same_directory:
        return False
    folder = posixpath.dirname(path)
    return any(posixpath.dirname(p.rstrip("/")) == folder for p in estimated)


def check_scope(ctx: CheckContext) -> CheckOutcome:
    diff = ctx.diff
    cfg = ctx.config.scope
    estimated = list(ctx.ticket.estimated_files) if ctx.ticket else []
    details: dict[str, int | float | str | bool | None] = {
        "files": len(diff.files),
        "lines_added": diff.lines_added,
        "lines_removed": diff.lines_removed,
        "estimated_files": len(estimated),
    }
    if diff.empty:
        if ctx.claimed_success:
            flag = Flag(
                kind="empty_change", message="the agent reported success but the commit changes nothing"
            )
            return flagged(NAME, [flag], flag.message, **details)
        return flagged(NAME, [], "no change", **details)

    from nightshift.forge.fence import check_diff  # the pre-push fence (trust-boundary issue)

    flags: list[Flag] = []
    for f in check_diff(ctx.repo, diff.base, diff.head, ctx.config.fence_policy()):
        if f.kind == "secret":
            continue  # the secrets check reports those
        kind = "protected_path" if f.kind in ("protected_path", "gitlink") else "out_of_scope"
        flags.append(
            Flag(kind=kind, file=f.file, line=f.line, rule=f.rule or f.kind, message=f.message[:300])
        )

    outside = []
    if estimated:
        flagged_files = {f.file for f in flags}
        for change in diff.files:
            if change.path in flagged_files or ctx.is_test(change.path):
                continue
            if not in_scope(change.path, estimated, same_directory=cfg.same_directory_in_scope):
                outside.append(change.path)
        for path in outside[:MAX_FLAGS]:
            flags.append(
                Flag(
                    kind="out_of_scope",
                    file=path,
                    rule="estimated_files",
                    message="not among the ticket's estimated files",
                )
            )
    if diff.lines_added > cfg.max_added_lines:
        flags.append(
            Flag(
                kind="out_of_scope",
                rule="max_added_lines",
                message=f"{diff.lines_added} lines added, over the gate's limit of {cfg.max_added_lines}",
            )
        )
    details["outside_estimate"] = len(outside)
    if flags:
        reason = "; ".join(dict.fromkeys(f"{f.kind}: {f.where() or f.message}" for f in flags))[:300]
    elif estimated:
        reason = f"{len(diff.files)} file(s), all within the estimate ({len(estimated)} estimated)"
    else:
        reason = f"{len(diff.files)} file(s); the ticket names no estimated files"
    return flagged(NAME, flags, reason, **details)
