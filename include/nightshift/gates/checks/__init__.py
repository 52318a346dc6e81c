"""One module per check. A check takes the CheckContext and returns a CheckOutcome: its CheckResult and
the flags it raised. A check that cannot run says so (`not_run` with the reason); `run_check` turns an
unexpected exception or a timeout into exactly that, so one broken tool never hides the other checks."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from nightshift.gates.config import GatesConfig
from nightshift.gates.diff import Diff, LineChanges, export_tree, line_changes
from nightshift.gates.report import CheckResult, Flag
from nightshift.globs import matches_any
from nightshift.models import Ticket

log = logging.getLogger(__name__)


@dataclass
class CheckContext:
    repo: Path
    diff: Diff
    config: GatesConfig
    scratch: Path
    ticket: Ticket | None = None
    #: The agent reported success (an MR exists for its change).
    claimed_success: bool = True
    #: A prebuilt toolchain folder (CLI --toolchain), else the config's.
    toolchain: Path | None = None
    _trees: dict[str, Path] = field(default_factory=dict)
    #: Checks may run in threads (run._run_checks): a checkout is made once whoever asks first.
    _trees_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tree(self, side: str) -> Path:
        """A private checkout of the base ("base": the merge base) or the head, made once."""
        with self._trees_lock:
            if side not in self._trees:
                rev = self.diff.base if side == "base" else self.diff.head
                self._trees[side] = export_tree(self.repo, rev, self.scratch / f"tree-{side}")
            return self._trees[side]

    @cached_property
    def lines(self) -> LineChanges:
        return line_changes(self.repo, self.diff)

    def is_test(self, path: str) -> bool:
        return matches_any(path, self.config.scope.test_globs)

    def is_code(self, path: str) -> bool:
        return matches_any(path, self.config.scope.code_globs) and not self.is_test(path)


@dataclass
class CheckOutcome:
    result: CheckResult
    flags: list[Flag] = field(default_factory=list)

    @classmethod
    def not_run(cls, name: str, reason: str) -> CheckOutcome:
        return cls(CheckResult(name=name, status="not_run", reason=reason))


def flagged(
    name: str, flags: list[Flag], reason: str, **details: int | float | str | bool | None
) -> CheckOutcome:
    """Failed when there are flags, passed otherwise; every flag is attributed to the check."""
    flags = [f.model_copy(update={"check": name}) for f in flags]
    return CheckOutcome(
        CheckResult(name=name, status="failed" if flags else "passed", reason=reason, details=details), flags
    )


def run_check(
    name: str, fn: Callable[[CheckContext], CheckOutcome], ctx: CheckContext, *, timeout: float | None = None
) -> CheckOutcome:
    """Run one check, timing it; an exception or a timeout makes it not_run with the reason.

    Checks that run external tools pass their timeout to the tool (and the sandbox ends the tests).
    For the others, `timeout` bounds the wait here: a late result is dropped and the check is not_run.
    """
    started = time.monotonic()
    try:
        if timeout is None:
            outcome = fn(ctx)
        else:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gate-{name}")
            try:
                outcome = pool.submit(fn, ctx).result(timeout=timeout)
            except FutureTimeout:
                outcome = CheckOutcome.not_run(name, f"timed out after {timeout:g}s")
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    except subprocess.TimeoutExpired as exc:
        outcome = CheckOutcome.not_run(name, f"timed out after {round(exc.timeout or 0)}s")
    except Exception as exc:  # one check's crash must not take the report down
        log.exception("gate check %s could not run", name)
        outcome = CheckOutcome.not_run(name, f"could not run: {type(exc).__name__}: {exc}"[:500])
    outcome.result.duration_s = round(time.monotonic() - started, 3)
    return outcome
