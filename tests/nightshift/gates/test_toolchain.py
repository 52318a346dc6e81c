"""The toolchain: built once by the repository's setup command in the sandbox, cached by the hash of the
lock files at the base, mounted read-only for the tests."""

from __future__ import annotations

from tests.nightshift.gates.helpers import BASE, CALC, gate, result

SETUP = (
    'python3 -m venv --without-pip "$NIGHTSHIFT_TOOLCHAIN" && echo built >> "$NIGHTSHIFT_TOOLCHAIN/builds"'
)
#: The test command proves it runs with the toolchain's python first on PATH, and that it is read-only.
PROBE = (
    'test "$(command -v python)" = "$NIGHTSHIFT_TOOLCHAIN/bin/python" && '
    '! touch "$NIGHTSHIFT_TOOLCHAIN/x" 2>/dev/null && cat "$NIGHTSHIFT_TOOLCHAIN/builds"'
)


def test_setup_command_builds_once_per_lock_hash(repo, config, tmp_path) -> None:
    cache = tmp_path / "toolchains"
    config = config.model_copy(
        update={
            "tests": config.tests.model_copy(update={"command": PROBE, "rerun_command": None}),
            "toolchain": config.toolchain.model_copy(
                update={"setup_command": SETUP, "lock_files": ["requirements.txt"], "cache_dir": str(cache)}
            ),
        }
    )
    base = repo.commit(BASE | {"requirements.txt": "pytest==9.0\n"})
    head = repo.commit({"calc.py": CALC + "\n"})
    first = result(gate(repo.path, base, head, config, "tests"), "tests")
    assert first.status == "passed", first.reason
    again = result(gate(repo.path, base, head, config, "tests"), "tests")
    assert again.status == "passed"
    built = [p for p in cache.iterdir() if p.is_dir()]
    assert len(built) == 1 and (built[0] / "builds").read_text() == "built\n"  # cached, not rebuilt
    other = repo.commit({"requirements.txt": "pytest==9.1\n"}, message="bump", at=base)
    assert result(gate(repo.path, other, other, config, "tests"), "tests").status == "passed"
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2  # a new lock file, a new toolchain


def test_failing_setup_is_not_run_with_the_reason(repo, config, tmp_path) -> None:
    config = config.model_copy(
        update={
            "toolchain": config.toolchain.model_copy(
                update={"setup_command": "echo no index >&2; exit 3", "cache_dir": str(tmp_path / "tc")}
            )
        }
    )
    base = repo.commit(BASE)
    head = repo.commit({"calc.py": CALC + "\n"})
    check = result(gate(repo.path, base, head, config, "tests"), "tests")
    assert check.status == "not_run"
    assert "exited with 3" in check.reason and "no index" in check.reason
