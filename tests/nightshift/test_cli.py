import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "include" / "demo" / "manifest-example.yaml"


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "nightshift", *args], capture_output=True, text=True, timeout=60
    )


def test_validate_accepts_the_spec_example():
    proc = run("manifest", "validate", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert "valid (3 tickets" in proc.stdout


def test_validate_prints_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'batch_id: "b"\ncreated_at: "2024-01-15T18:00:00Z"\ntickets:\n'
        '  - {id: "A-1", dependencies: ["A-2"]}\n  - {id: "A-2", dependencies: ["A-1", "Z-9"]}\n'
        '  - {id: "-upload-pack=evil"}\n'
    )
    proc = run("manifest", "validate", str(bad))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].endswith("3 problem(s)")
    assert sorted(lines[:-1]) == sorted(
        [
            "ticket -upload-pack=evil: id: '-upload-pack=evil' is not a valid ticket id: expected an upper-case "
            "project key, '-', and a number (ASCII only, e.g. PROJ-142)",
            "ticket A-2: dependencies: unknown dependency Z-9",
            "ticket A-1: dependencies: dependency cycle A-1 -> A-2 -> A-1",
        ]
    )


def test_show_prints_the_sequence():
    proc = run("manifest", "show", str(EXAMPLE))
    assert proc.returncode == 0
    order = [line.split()[1] for line in proc.stdout.splitlines()[1:]]
    assert order == ["PROJ-142", "PROJ-138", "PROJ-145"]
