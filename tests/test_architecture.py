"""The import rule: dags -> plugins/nightshift_airflow -> include/nightshift, never the other way.

Walks every import statement (module level and inside functions) of the core package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "include" / "nightshift"
FORBIDDEN_IN_CORE = ("airflow", "nightshift_airflow", "standins", "nightshift_local")
ALLOWED = {("cli.py", "standins"), ("cli.py", "nightshift_local")}  # `python -m nightshift standins|demo`


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return found


def violations(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        for module in imported_modules(path.read_text()):
            top = module.split(".")[0]
            if top in FORBIDDEN_IN_CORE and (path.name, top) not in ALLOWED:
                out.append(f"{path.relative_to(root)} imports {module}")
    return out


def test_core_never_imports_airflow():
    assert CORE.is_dir()
    assert violations(CORE) == []


def test_the_check_catches_a_violation(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "ok.py").write_text("import json\n")
    (pkg / "bad.py").write_text("def f():\n    from airflow.sdk import dag\n")
    (pkg / "sneaky.py").write_text("import importlib\nimportlib.import_module('nightshift_airflow.hooks')\n")
    assert violations(pkg) == ["bad.py imports airflow.sdk", "sneaky.py imports nightshift_airflow.hooks"]


def test_importing_the_core_does_not_load_airflow():
    code = (
        "import sys, pkgutil, importlib, nightshift\n"
        "for m in pkgutil.walk_packages(nightshift.__path__, 'nightshift.'):\n"
        "    if m.name.endswith('__main__') or m.name == 'nightshift.cli': continue\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(k for k in sys.modules if k == 'airflow' or k.startswith('airflow.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_import_linter_contracts_hold():
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
