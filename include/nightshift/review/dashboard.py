"""The reviewer dashboard as text, in the specification's box layout.

Items appear in the review queue's order (see queue.py) with their position and the rule that placed
them. Score and security sit in fixed columns on the item's first line; a long title wraps onto the
lines below, so it can never push them out of the box. "Security: OK" is printed only when the
security and secrets checks both ran and found nothing; a ticket without a gate report shows
`[Score: n/a] [Security: not scanned]`.
"""

from __future__ import annotations

import textwrap
import unicodedata

from nightshift.models import TicketState
from nightshift.review.batch_view import BatchView
from nightshift.review.metrics import TARGET_LABELS, BatchMetrics, WeekTrend
from nightshift.review.queue import QueueItem

WIDTH = 84  # inside the box
_SCORE_W = len("[Score: n/a]")
_SECURITY_W = len("[Security: partly scanned]")
_COLUMNS_W = _SCORE_W + 1 + _SECURITY_W
_RULE = "═" * (WIDTH + 2)


def plain(text: str) -> str:
    """One line of attacker-controlled text made safe for a terminal: no control or bidi characters."""
    out = []
    for ch in " ".join(str(text).split()):
        cat = unicodedata.category(ch)
        out.append("?" if cat in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") else ch)
    return "".join(out)


def _line(text: str = "") -> str:
    return f"║ {text:<{WIDTH}} ║"


def _wrapped(text: str, indent: str) -> list[str]:
    return [
        _line(part)
        for part in textwrap.wrap(plain(text), WIDTH, initial_indent=indent, subsequent_indent=indent)
    ] or [_line(indent)]


def _item_lines(item: QueueItem) -> list[str]:
    mark = "✓" if item.security.ok and item.state == TicketState.COMPLETED and item.score is not None else "⚠"
    head = f"  {item.position:>2}. {mark} {item.ticket_id}: "
    partial = " (partial)" if item.state == TicketState.PARTIAL else ""
    columns = (
        f"{f'[Score: {item.score_label}]':<{_SCORE_W}} {f'[Security: {item.security.label}]':<{_SECURITY_W}}"
    )
    room = WIDTH - _COLUMNS_W - 1 - len(head)
    indent = " " * 9
    title = plain(item.title + partial) or "(no title)"
    parts = textwrap.wrap(title, max(room, 10)) if room >= 10 else []
    first = parts[0] if parts else ""
    rest = " ".join(parts[1:]) if parts else title
    out = [_line(f"{head}{first:<{max(room, 0)}} {columns}" if room >= 0 else f"{head}{columns}")]
    if rest:
        out += _wrapped(rest, indent)
    out += _wrapped(f"rule {item.rule.label}: {item.why}", indent)
    return out


def _escalation_lines(item: QueueItem) -> list[str]:
    out = _wrapped(
        f"{item.position}. ⚠ {item.ticket_id}: {item.title or '(no title)'}",
        " " * (4 - len(str(item.position))),
    )
    out += _wrapped(f"Question: {item.question}", " " * 9)
    if item.escalation is not None and item.escalation.reasons:
        out += _wrapped("Reason: " + "; ".join(item.escalation.reasons), " " * 9)
    if item.answer is not None:
        out += _wrapped(f"Answered (batch {item.answer.answered_in_batch}): {item.answer.answer}", " " * 9)
    out += _wrapped(f"rule {item.rule.label}: {item.why}", " " * 9)
    return out


def render_dashboard(
    view: BatchView,
    queue: list[QueueItem],
    metrics: BatchMetrics | None = None,
    trend: list[WeekTrend] | None = None,
) -> str:
    states = [o.state for o in view.outcomes.values()]
    partial = states.count(TicketState.PARTIAL)
    done = states.count(TicketState.COMPLETED) + partial
    escalated = len(
        {e.ticket_id for e in view.escalations}
        | {t for t, o in view.outcomes.items() if o.state == TicketState.ESCALATED}
    )
    left_out = [
        (t, o) for t, o in view.outcomes.items() if o.state in (TicketState.SKIPPED, TicketState.CARRIED_OVER)
    ]
    failed = [(t, o) for t, o in view.outcomes.items() if o.state == TicketState.FAILED]
    out = [
        f"╔{_RULE}╗",
        _line(plain(f"BATCH REVIEW: {view.batch_id}").center(WIDTH)),
        f"╠{_RULE}╣",
        _line("Summary:"),
        _line(f"  Total tickets: {len(view.manifest.tickets)}    Status: {view.manifest.status.value}"),
        _line(f"  Completed: {done}" + (f" ({partial} partial)" if partial else "")),
        _line(f"  Escalated: {escalated}"),
        _line(f"  Failed: {len(failed)}"),
        _line(f"  Skipped / carried over: {len(left_out)}"),
        _line(f"  Not ready / refused at intake: {len(view.not_ready) + len(view.rejected)}"),
        f"╠{_RULE}╣",
        _line("Ready for Review (review priority order; the rule that placed each item below it):"),
    ]
    mrs = [i for i in queue if i.kind == "merge_request"]
    for item in mrs:
        out += _item_lines(item)
    if not mrs:
        out.append(_line("  (none)"))
    out += [f"╠{_RULE}╣", _line("Escalations Pending (a human must answer):")]
    escalations = [i for i in queue if i.kind == "escalation"]
    for item in escalations:
        out += _escalation_lines(item)
    if not escalations:
        out.append(_line("  (none)"))
    if failed or left_out or view.not_ready or view.rejected:
        out += [f"╠{_RULE}╣", _line("Failed, skipped, carried over and not ready:")]
        for ticket_id, o in failed + left_out:
            out += _wrapped(f"✗ {ticket_id} {o.state.value}: {o.reason or 'no reason recorded'}", "  ")
        for nr in view.not_ready:
            what = (
                "waits on " + ", ".join(nr.waiting_on)
                if nr.waiting_on and not nr.missing
                else "missing " + "; ".join(nr.missing)
            )
            out += _wrapped(f"✗ {nr.ticket_id} not ready: {what}", "  ")
        for rej in view.rejected:
            out += _wrapped(f"✗ {rej.ticket_key} refused ({rej.source}): {rej.field}: {rej.reason}", "  ")
    out += _usage_lines(view)
    if metrics is not None:
        out += [f"╠{_RULE}╣", _line("Metrics (target):")]
        for target in metrics.targets():
            verdict = {True: "met", False: "MISSED", None: "not measured yet"}[target.met]
            out.append(
                _line(
                    f"  {TARGET_LABELS[target.name] + ':':<24}{target.shown():>9}  ({target.goal})  {verdict}"
                )
            )
    if trend:
        out += [f"╠{_RULE}╣", _line("Trend:")]
        out += [_line(f"  {week.line()}") for week in trend]
    out.append(f"╚{_RULE}╝")
    return "\n".join(out)


def _usage_lines(view: BatchView) -> list[str]:
    """Agent usage (nightshift.generation.usage): the batch total, then each ticket by cost."""
    usage = view.usage
    if usage is None or not (usage.total.total_tokens or usage.total.cost_usd):
        return []  # no agent run reported any usage (e.g. a backend that reports none)
    out = [f"╠{_RULE}╣", _line("Agent usage (tokens, cost):")]
    out += _wrapped(f"Batch ({usage.total.runs} runs): {usage.total.short()}", "  ")
    for ticket_id, totals in sorted(usage.tickets.items(), key=lambda kv: (-kv[1].cost_usd, kv[0])):
        out += _wrapped(plain(f"{ticket_id}: {totals.short()}"), "  ")
    return out
