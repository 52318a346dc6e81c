#!/usr/bin/env bash
# Regenerates constraints-deploy.txt: installs constraints.txt + requirements.txt + requirements-deploy.txt
# into a throwaway Python 3.11 venv (never the project's .venv), checks the result with `pip check`, and
# writes the pins that the deployment adds on top of constraints.txt. Fails if the resolver had to move a
# package that constraints.txt already pins (it cannot, with -c, but the check keeps that visible).
#
# The current deploy pins are kept (passed as constraints too), so adding a requirement pins only what
# it brings; `--upgrade` resolves the deployment's extras afresh.
#
#   deploy/refresh-constraints.sh            # uses python3.11, a temp venv removed afterwards
#   deploy/refresh-constraints.sh --upgrade  # let every deploy-only pin move
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT

"$PYTHON" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
keep=(-c constraints-deploy.txt)
if [[ "${1:-}" == "--upgrade" || ! -f constraints-deploy.txt ]]; then keep=(); fi
"$venv/bin/pip" install --quiet -c constraints.txt "${keep[@]}" -r requirements.txt -r requirements-deploy.txt
"$venv/bin/pip" check
"$venv/bin/pip" freeze --exclude-editable > "$venv/freeze.txt"

"$venv/bin/python" - "$venv/freeze.txt" <<'PY'
import re
import sys
from pathlib import Path

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

def pins(path: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[norm(name)] = (name.strip(), version.strip())
    return out

base, full = pins("constraints.txt"), pins(sys.argv[1])
moved = {k: (base[k][1], v[1]) for k, v in full.items() if k in base and base[k][1] != v[1]}
if moved:
    sys.exit(f"packages pinned in constraints.txt resolved to other versions: {moved}")
extra = sorted((v for k, v in full.items() if k not in base and k not in ("pip", "setuptools", "wheel")),
               key=lambda nv: norm(nv[0]))
target = Path("constraints-deploy.txt")
lines = [line for line in target.read_text().splitlines() if line.startswith("#")] if target.exists() else []
target.write_text("\n".join([*lines, *(f"{n}=={v}" for n, v in extra)]) + "\n")
print(f"constraints-deploy.txt: {len(extra)} pins")
PY
