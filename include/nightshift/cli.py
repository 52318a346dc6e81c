"""`python -m nightshift ...`: operator commands that need no Airflow."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nightshift.manifest import ManifestError, load_manifest
from nightshift.sequencing import sequence


def _manifest_validate(args: argparse.Namespace) -> int:
    try:
        manifest = load_manifest(Path(args.file))
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{args.file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: valid ({len(manifest.tickets)} tickets, batch {manifest.batch_id})")
    return 0


def _manifest_show(args: argparse.Namespace) -> int:
    try:
        manifest = load_manifest(Path(args.file))
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    cfg = manifest.config
    print(
        f"batch {manifest.batch_id} ({manifest.status.value}), created {manifest.created_at}; "
        f"max_tickets={cfg.max_tickets} timeout_per_ticket={cfg.timeout_per_ticket} "
        f"parallel_agents={cfg.parallel_agents}"
    )
    for n, ticket in enumerate(sequence(manifest.tickets, cfg.max_tickets), start=1):
        after = f" after {', '.join(ticket.dependencies)}" if ticket.dependencies else ""
        print(f"{n:>3}. {ticket.id:<14} {ticket.priority:<6} {ticket.complexity:<6}{after}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nightshift", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    manifest = sub.add_parser("manifest", help="validate or show a batch manifest")
    msub = manifest.add_subparsers(dest="action", required=True)
    validate = msub.add_parser("validate", help="exit 0 when valid, 1 with one line per problem")
    validate.add_argument("file")
    validate.set_defaults(func=_manifest_validate)
    show = msub.add_parser("show", help="print the run sequence")
    show.add_argument("file")
    show.set_defaults(func=_manifest_show)

    standins = sub.add_parser(
        "standins", help="serve the GitLab and Jira stand-ins (prints one JSON line)", add_help=False
    )
    standins.set_defaults(func=_standins)
    demo = sub.add_parser("demo", help="run one whole demo batch through a local Airflow", add_help=False)
    demo.set_defaults(func=_demo)
    return parser


def _standins(args: argparse.Namespace) -> int:
    from standins.cli import serve  # test doubles: only this command loads them

    return serve(list(args.rest))


def _demo(args: argparse.Namespace) -> int:
    from nightshift_local.demo import main as demo_main

    return demo_main(list(args.rest))


def main(argv: Sequence[str] | None = None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    if rest and args.command not in ("standins", "demo"):
        build_parser().error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    return int(args.func(args))
