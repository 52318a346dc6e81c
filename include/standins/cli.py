"""`python -m nightshift standins`: run the stand-in servers for local use until SIGINT/SIGTERM.

Prints one JSON line saying where they are, e.g.
`{"gitlab": {"url": ..., "token": ...}, "jira_server": {...}, "jira_cloud": {...}}`, so a script can read it.
The Jira stand-ins are started when `standins.jira` is importable and skipped otherwise.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from standins.fixtures import start_gitlab


def describe(name: str, server: Any) -> dict[str, Any]:
    """URL and credentials of a running stand-in, as JSON-able values."""
    info: dict[str, Any] = {"url": server.base_url}
    if name == "gitlab":
        info.update(token=server.token, read_only_token=server.read_only_token, projects=server.project_paths)
    elif hasattr(server, "credentials"):
        login, secret = server.credentials()
        keys = ("email", "api_token") if name == "jira_cloud" else ("username", "password")
        info.update(zip(keys, (login, secret), strict=True))
    return info


def _start_jira() -> dict[str, Any]:
    """The Jira Server and Cloud stand-ins, when `standins.jira` is there."""
    try:
        from standins.jira import start_jira
    except ImportError:
        return {}
    started: dict[str, Any] = {}
    try:
        for mode in ("server", "cloud"):
            started[f"jira_{mode}"] = start_jira(mode)
    except BaseException:
        for server in started.values():
            server.stop()
        raise
    return started


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nightshift standins", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=Path, help="JSON file with the GitLab seed (projects, issues, tokens)")
    parser.add_argument("--state-dir", type=Path, help="where bare repositories live (default: a temp dir)")
    parser.add_argument("--gitlab-port", type=int, default=0, help="GitLab port (default: a free one)")
    parser.add_argument("--no-jira", action="store_true", help="start only the GitLab stand-in")
    args = parser.parse_args(argv)

    seed = json.loads(args.seed.read_text()) if args.seed else None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    servers: dict[str, Any] = {}
    try:
        servers["gitlab"] = start_gitlab(seed, args.state_dir, port=args.gitlab_port)
        if not args.no_jira:
            servers.update(_start_jira())
        print(json.dumps({name: describe(name, server) for name, server in servers.items()}), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for server in servers.values():
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1:]))
