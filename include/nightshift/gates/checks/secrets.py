"""secrets: detect-secrets on the lines the change adds, through the pre-push fence's own function
(nightshift.forge.fence.secret_findings): one scanner, the same verdict at push time and at the gates.
Secret values never enter the report: a flag names the file, the line and the detector."""

from __future__ import annotations

from nightshift.gates.checks import CheckContext, CheckOutcome, flagged
from nightshift.gates.report import Flag

NAME = "secrets"


def check_secrets(ctx: CheckContext) -> CheckOutcome:
    from nightshift.forge.fence import secret_findings  # the pre-push fence (trust-boundary issue)

    policy = ctx.config.fence_policy()
    findings = secret_findings(ctx.repo, ctx.diff.base, ctx.diff.head, policy.secret_plugins)
    flags = [
        Flag(
            kind="secret", file=f.file, line=f.line, rule=f.rule, severity="critical", message=f.message[:300]
        )
        for f in findings
    ]
    reason = f"{len(flags)} secret(s) on added lines" if flags else "no secret on added lines"
    return flagged(NAME, flags, reason, findings=len(flags))
