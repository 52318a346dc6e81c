"""The intake stage as three idempotent steps the DAG runs as separate, retryable tasks.

    collect            read every source (reads only)      -> intake/collected.json
    validate           readiness verdict, tell the tracker -> intake/validated.json
    sequence_and_write run order, one record per ticket    -> tickets/<ID>/ticket.json, manifest.yaml

Each step writes its record last, and a step whose record already exists for the same input returns
it: a retried or re-run step changes nothing (no second comment, the same manifest bytes). All reads
happen before the first write, so a tracker that is down fails the step (naming the service) with
nothing written; the manifest is only written once every ticket record is in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from nightshift import layout
from nightshift.artifacts import BatchArtifacts
from nightshift.graph import find_cycles, format_cycle
from nightshift.intake.carryover import TicketOutcome, carry_decision, latest_outcomes
from nightshift.intake.config import IntakeConfig
from nightshift.intake.records import (
    CollectedTickets,
    Held,
    IntakeRecord,
    NotReady,
    Rejection,
    SequenceReport,
    ValidatedTickets,
)
from nightshift.intake.sources import TicketSource
from nightshift.manifest import dump_manifest, parse_manifest
from nightshift.models import BatchConfig, BatchManifest, BatchStatus, ManifestTicket
from nightshift.publish.texts import not_ready_comment
from nightshift.readiness import ReadinessReport, assess
from nightshift.sequencing import run_order
from nightshift.trackers.base import marker_key

COLLECTED = layout.INTAKE_COLLECTED
VALIDATED = layout.INTAKE_VALIDATED
SEQUENCED = layout.INTAKE_SEQUENCED
MANIFEST = layout.MANIFEST
NOT_READY_KIND = "not-ready"
_DEPENDENCY_ITEM = "dependencies resolved:"
#: Missing items read from the ticket's text (a cut text may have lost them).
_TEXT_ITEMS = ("acceptance criteria:", "no open questions: the checklist")


class IntakeStepError(RuntimeError):
    """A step ran out of order (e.g. validate before collect), or its input changed under it."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _timestamp(value: dt.datetime | None) -> str:
    value = value or dt.datetime.now(dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_if_changed(batch: BatchArtifacts, relpath: str, text: str) -> bool:
    """Write unless the record already holds these bytes (a re-run leaves files untouched)."""
    if batch.read_text(relpath) == text:
        return False
    batch.write_text(relpath, text)
    return True


# -- step 1 ----------------------------------------------------------------------------------------------


def collect(
    batch: BatchArtifacts,
    sources: Sequence[TicketSource],
    config: IntakeConfig,
    *,
    created_at: dt.datetime | None = None,
    refresh: bool = False,
) -> CollectedTickets:
    """Read every source and earlier batches' outcomes; write intake/collected.json.

    The first successful collect is the batch's snapshot: a later call returns it unless `refresh`.
    A TrackerError (or TrackerConfigError for a rejected JQL) propagates before anything is written.
    """
    existing = batch.read_model(COLLECTED, CollectedTickets)
    if existing is not None and not refresh:
        return existing
    fetched = [(source, item) for source in sources for item in source.fetch()]
    outcomes, problems = latest_outcomes(batch.store, batch.batch_id, config.carryover_lookback)

    records: list[IntakeRecord] = []
    rejected: list[Rejection] = []
    held: list[Held] = []
    origin: dict[str, str] = {}
    for source, item in fetched:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        ticket_id = item.ticket_id if isinstance(item, Held) else item.id
        if ticket_id in origin:
            reason = f"{ticket_id} was also collected from {origin[ticket_id]}"
            rejected.append(Rejection(source=source.name, ticket_key=ticket_id, field="id", reason=reason))
            continue
        origin[ticket_id] = source.name
        if isinstance(item, Held):
            held.append(item)
            continue
        placed = _apply_carryover(item, source, outcomes.get(item.id), config)
        if isinstance(placed, Held):
            held.append(placed)
        else:
            records.append(placed)

    collected = CollectedTickets(
        batch_id=batch.batch_id,
        collected_at=_timestamp(created_at) if existing is None else existing.collected_at,
        records=records,
        rejected=rejected,
        held=held,
        problems=problems,
    )
    batch.write_model(COLLECTED, collected)
    return collected


def _apply_carryover(
    record: IntakeRecord, source: TicketSource, outcome: TicketOutcome | None, config: IntakeConfig
) -> IntakeRecord | Held:
    decision = carry_decision(outcome)
    if decision.action == "normal":
        return record
    if decision.action == "hold":
        return Held(ticket_id=record.id, reason=decision.reason)
    if decision.action == "carry":
        return record.model_copy(update={"carried_over_from": decision.batch_id})
    marker = marker_key(batch=str(decision.batch_id), ticket=record.id, kind=config.escalation_kind)
    answer = source.escalation_answer(record.id, marker)
    if answer is None:
        reason = f"escalated in batch {decision.batch_id}: waiting for an answer after the escalation comment"
        return Held(ticket_id=record.id, reason=reason)
    return record.model_copy(
        update={
            "carried_over_from": decision.batch_id,
            "escalation_answer": answer.text,
            "sanitised": [*record.sanitised, *answer.sanitised],
        }
    )


# -- step 2 ----------------------------------------------------------------------------------------------


def _collected(batch: BatchArtifacts) -> tuple[CollectedTickets, str]:
    text = batch.read_text(COLLECTED)
    if text is None:
        raise IntakeStepError(f"batch {batch.batch_id}: no {COLLECTED}; run collect first")
    return CollectedTickets.model_validate_json(text), _digest(text)


class _Resolver:
    """Whether a dependency outside the ready set is done at its source (memoised look-ups)."""

    def __init__(self, collected: CollectedTickets, sources: Sequence[TicketSource]) -> None:
        self.sources = {s.name: s for s in sources}
        self.held = {h.ticket_id: h for h in collected.held}
        # Collected tickets are open (the query excludes done ones; done ones are held as done).
        self.known: dict[str, bool | None] = {h.ticket_id: h.done for h in collected.held}
        self.known.update(dict.fromkeys(collected.ids, False))

    def done(self, dep: str, record: IntakeRecord) -> bool | None:
        if dep in record.done_dependencies:
            return True
        if dep not in self.known:
            own = self.sources.get(record.source)
            ordered = [own] if own is not None else []
            ordered += [s for name, s in sorted(self.sources.items()) if s is not own]
            answer: bool | None = None
            for source in ordered:
                answer = source.is_done(dep)
                if answer is not None:
                    break
            self.known[dep] = answer
        return self.known[dep]


def validate(
    batch: BatchArtifacts, sources: Sequence[TicketSource], config: IntakeConfig
) -> ValidatedTickets:
    """Apply the readiness criteria; tell each not-ready ticket once; write intake/validated.json."""
    collected, digest = _collected(batch)
    existing = batch.read_model(VALIDATED, ValidatedTickets)
    if existing is not None and existing.collected_digest == digest:
        return existing

    records = {r.id: r for r in collected.records}
    resolver = _Resolver(collected, sources)
    # Required criteria other than dependencies (a ticket's own text).
    base = {
        tid: assess(r.ticket, r.checklist, resolved_dependencies=r.ticket.dependencies)
        for tid, r in records.items()
    }
    candidates = {tid for tid, report in base.items() if report.ready}
    cyclic = _cycles(records, candidates)
    ready = candidates - set(cyclic)

    # Dependencies: done at the source, or ready in this batch (sequenced before); to a fixpoint, so a
    # dependency on a ticket that is itself left out keeps its dependents out too.
    outside: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for tid in sorted(ready):
            record = records[tid]
            done = [d for d in record.ticket.dependencies if d not in ready and resolver.done(d, record)]
            if any(d not in ready and d not in done for d in record.ticket.dependencies):
                ready.discard(tid)
                changed = True
            else:
                outside[tid] = done

    not_ready: list[NotReady] = []
    warnings: dict[str, list[str]] = {}
    for tid in sorted(records):
        record = records[tid]
        if tid in ready:
            report = base[tid]
            warnings[tid] = [f"recommended: {item} (missing)" for item in report.missing_recommended]
            continue
        report = _final_report(record, ready, records, resolver)
        missing = list(report.missing_required)
        if tid in cyclic:
            missing.append(f"dependency cycle: {cyclic[tid]}")
        if (cut := _cut_note(record, missing)) is not None:
            missing.insert(0, cut)
        waiting = [d for d in record.ticket.dependencies if d not in ready and not resolver.done(d, record)]
        only_dependencies = all(m.startswith(_DEPENDENCY_ITEM) for m in missing)
        not_ready.append(
            NotReady(ticket_id=tid, missing=missing, waiting_on=waiting, needs_fix=not only_dependencies)
        )

    # Every read is done; now the writes, each idempotent (one comment per ticket per batch).
    for item in not_ready:
        record = records[item.ticket_id]
        source = resolver.sources.get(record.source)
        if source is None:
            raise IntakeStepError(f"ticket {item.ticket_id}: its source {record.source!r} is not configured")
        source.report_not_ready(
            record,
            marker=marker_key(batch=batch.batch_id, ticket=item.ticket_id, kind=NOT_READY_KIND),
            body=not_ready_comment(batch.batch_id, item, config),
            relabel=item.needs_fix,
        )
    validated = ValidatedTickets(
        batch_id=batch.batch_id,
        collected_digest=digest,
        ready=sorted(ready),
        not_ready=not_ready,
        warnings={k: v for k, v in warnings.items() if v},
        resolved_outside={k: v for k, v in sorted(outside.items()) if v and k in ready},
    )
    batch.write_model(VALIDATED, validated)
    return validated


def _cut_note(record: IntakeRecord, missing: list[str]) -> str | None:
    """Why the criteria may not have been seen: the text was cut before its readiness sections."""
    cut = record.cut
    if cut is None or not any(m.startswith(_TEXT_ITEMS) for m in missing):
        return None
    absent = [
        name
        for name, seen in (
            ("Acceptance Criteria", bool(record.ticket.acceptance_criteria)),
            ("Agent Readiness", record.checklist.present),
        )
        if not seen
    ]
    return (
        f"ticket text cut {cut.where()} (intake.max_body_bytes): "
        f"{' and '.join(absent) or 'the readiness sections'} not in the kept part; "
        "shorten the text or move those sections up"
    )


def _cycles(records: dict[str, IntakeRecord], candidates: set[str]) -> dict[str, str]:
    graph = {t: [d for d in records[t].ticket.dependencies if d in candidates] for t in sorted(candidates)}
    out: dict[str, str] = {}
    for cycle in find_cycles(graph):
        for ticket_id in cycle:
            out.setdefault(ticket_id, format_cycle(cycle))
    return out


def _final_report(
    record: IntakeRecord, ready: set[str], records: dict[str, IntakeRecord], resolver: _Resolver
) -> ReadinessReport:
    notes: dict[str, str] = {}
    resolved = set(ready)
    for dep in record.ticket.dependencies:
        if dep in ready:
            continue
        if dep in records:
            notes[dep] = "not ready in this batch"
        elif dep in resolver.held and not resolver.held[dep].done:
            notes[dep] = resolver.held[dep].reason
        else:
            state = resolver.done(dep, record)
            if state:
                resolved.add(dep)
            else:
                notes[dep] = "not done in the tracker" if state is False else "not found in any source"
    return assess(record.ticket, record.checklist, resolved_dependencies=resolved, dependency_notes=notes)


# -- step 3 ----------------------------------------------------------------------------------------------


def sequence_and_write(
    batch: BatchArtifacts, batch_config: BatchConfig, horizon: dt.timedelta | None = None
) -> BatchManifest:
    """Sequence the ready tickets (carry-overs first), write one record per ticket, then manifest.yaml.

    `horizon`, the length of the night when known, makes the order deadline-aware (nightshift.sequencing).
    A manifest that generation has moved past `pending` is never rewritten.
    """
    collected, digest = _collected(batch)
    validated = batch.read_model(VALIDATED, ValidatedTickets)
    if validated is None or validated.collected_digest != digest:
        raise IntakeStepError(f"batch {batch.batch_id}: {VALIDATED} is missing or stale; run validate first")
    current = batch.read_text(MANIFEST)
    if current is not None:
        manifest = parse_manifest(current, source=f"{batch.url}/{MANIFEST}")
        if manifest.status != BatchStatus.PENDING:
            return manifest

    ready = set(validated.ready)
    records = {r.id: r for r in collected.records if r.id in ready}
    order = run_order(
        [r.ticket for r in records.values()],
        batch_config.max_tickets,
        horizon=horizon,
        parallel_agents=batch_config.parallel_agents,
        carried={tid for tid, r in records.items() if r.carried_over_from},
    )
    kept = [t.id for t in order.run]
    kept_set = set(kept)

    entries = [_manifest_ticket(records[tid], kept_set, validated) for tid in kept]
    manifest = BatchManifest(
        batch_id=batch.batch_id,
        created_at=collected.collected_at,
        config=batch_config,
        tickets=entries,
        status=BatchStatus.PENDING,
    )
    text = dump_manifest(manifest)
    parse_manifest(text, source=f"{batch.url}/{MANIFEST}")  # what we write must load back
    for tid in kept:  # the records first: a manifest never names a ticket without its record
        _write_if_changed(batch, layout.ticket_record(tid), records[tid].model_dump_json(indent=2))
    deferred = [t.id for t in order.deferred]
    report = SequenceReport(batch_id=batch.batch_id, order=kept, deferred=deferred)
    _write_if_changed(batch, SEQUENCED, report.model_dump_json(indent=2))
    _write_if_changed(batch, MANIFEST, text)
    return manifest


def _manifest_ticket(record: IntakeRecord, kept: set[str], validated: ValidatedTickets) -> ManifestTicket:
    ticket = record.ticket
    return ManifestTicket(
        id=ticket.id,
        priority=ticket.priority,
        complexity=ticket.complexity or "medium",
        estimated_files=ticket.estimated_files,
        dependencies=[d for d in ticket.dependencies if d in kept],
        title=ticket.title or None,
        url=ticket.url,
        source=ticket.source,
        repository=ticket.repository,
        base_branch=ticket.base_branch,
        warnings=[*record.warnings, *validated.warnings.get(ticket.id, [])],
        sanitised=record.sanitised,
        carried_over_from=record.carried_over_from,
    )


def run_intake(
    batch: BatchArtifacts,
    sources: Sequence[TicketSource],
    config: IntakeConfig,
    batch_config: BatchConfig,
    *,
    created_at: dt.datetime | None = None,
) -> BatchManifest:
    """All three steps in one call (the CLI and the demo; the DAG runs them as separate tasks)."""
    collect(batch, sources, config, created_at=created_at)
    validate(batch, sources, config)
    return sequence_and_write(batch, batch_config)
