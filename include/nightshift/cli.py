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

    _add_gates(sub)
    _add_config(sub)

    standins = sub.add_parser(
        "standins", help="serve the GitLab and Jira stand-ins (prints one JSON line)", add_help=False
    )
    standins.set_defaults(func=_standins)
    demo = sub.add_parser("demo", help="run one whole demo batch through a local Airflow", add_help=False)
    demo.set_defaults(func=_demo)
    return parser


def _add_gates(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gates = sub.add_parser("gates", help="run the gates (checks, score, summary) on a commit range")
    gsub = gates.add_subparsers(dest="action", required=True)
    check = gsub.add_parser("check", help="check base...head and print the gate report")
    check.add_argument("--repo", required=True, help="a git work tree or repository")
    check.add_argument("--base", required=True, help="the target revision (the MR's base)")
    check.add_argument("--head", required=True, help="the revision to judge")
    check.add_argument("--ticket", help="the ticket: a JSON/YAML Ticket or a ticket markdown file")
    check.add_argument("--test-command", help="overrides tests.command")
    check.add_argument("--toolchain", help="a prebuilt toolchain folder (e.g. a venv) for the tests")
    check.add_argument("--config", help="a Nightshift config or a gates section (default: NIGHTSHIFT_CONFIG)")
    check.add_argument("--json", action="store_true", help="print the documented JSON (else a summary)")
    check.add_argument("--full-json", action="store_true", help="print the whole gate report")
    check.add_argument("--min-score", type=int, default=None, help="exit 1 when the score is below this")
    check.set_defaults(func=_gates_check)
    tools = gsub.add_parser("install-tools", help="install semgrep into its pinned tool venv")
    tools.set_defaults(func=_gates_install_tools)


def _gates_check(args: argparse.Namespace) -> int:
    import json

    from nightshift.forge.git import GitError
    from nightshift.gates.loading import load_gates_config
    from nightshift.gates.run import run_gates
    from nightshift.gates.ticket_file import load_ticket_file

    try:
        config = load_gates_config(Path(args.config) if args.config else None)
        ticket = load_ticket_file(Path(args.ticket)) if args.ticket else None
        report = run_gates(
            Path(args.repo),
            args.base,
            args.head,
            ticket,
            config,
            toolchain=Path(args.toolchain) if args.toolchain else None,
            test_command=args.test_command,
        )
    except (ValueError, OSError, GitError) as exc:
        print(f"gates: {exc}", file=sys.stderr)
        return 2
    if args.full_json:
        print(report.model_dump_json(indent=2))
    elif args.json:
        print(json.dumps(report.cli_json(), indent=2))
    else:
        print(report.summary_markdown)
    if args.min_score is not None and report.score < args.min_score:
        return 1
    return 0


def _gates_install_tools(args: argparse.Namespace) -> int:
    from nightshift.gates.tools import ToolInstallError, install_semgrep

    try:
        print(f"semgrep: {install_semgrep()}")
    except (ToolInstallError, OSError) as exc:
        print(f"gates: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_config(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="check a Nightshift configuration")
    csub = config.add_subparsers(dest="action", required=True)
    check = csub.add_parser("check", help="exit 0 when valid, 1 with one line per problem")
    check.add_argument("file", nargs="?", help="default: NIGHTSHIFT_CONFIG, else the shipped default")
    check.set_defaults(func=_config_check)
    pool = csub.add_parser("pool", help="print '<pool> <slots>' (nightshift_agents, batch.parallel_agents)")
    pool.add_argument("file", nargs="?", help="default: NIGHTSHIFT_CONFIG, else the shipped default")
    pool.set_defaults(func=_config_pool)


def _config_check(args: argparse.Namespace) -> int:
    from nightshift.config import check_config

    checked = check_config(Path(args.file) if args.file else None)
    for override in checked.overrides:
        print(f"override: {override.describe()}")
    for problem in checked.problems:
        print(problem, file=sys.stderr)
    if checked.problems:
        print(f"{checked.path}: {len(checked.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{checked.path}: valid")
    return 0


def _config_pool(args: argparse.Namespace) -> int:
    """The agents pool from the one source of truth, for `airflow pools set $(... config pool)`."""
    from nightshift.config import ConfigError, agents_pool, load_config

    try:
        config = load_config(Path(args.file) if args.file else None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    name, slots = agents_pool(config)
    print(f"{name} {slots}")
    return 0


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
