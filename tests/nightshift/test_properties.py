"""Property tests: manifest validation never crashes, and no accepted ticket id escapes `agent/`."""

import os
import posixpath
import string
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nightshift.manifest import ManifestError, parse_manifest
from nightshift.models import check_ticket_id

ids = st.text(
    alphabet=string.ascii_letters + string.digits + "-_./$()`;\\ \n\u202e\u0661\x00~^:?*[@{", max_size=40
)


def accepted(value: str) -> bool:
    try:
        check_ticket_id(value)
    except ValueError:
        return False
    return True


@given(ids)
def test_accepted_ids_stay_inside_agent_namespace_and_worktree_root(value):
    if not accepted(value):
        return
    ref = f"agent/{value}"
    assert posixpath.normpath(ref) == ref and ref.startswith("agent/") and ref.count("/") == 1
    root = "/srv/worktrees"
    assert os.path.commonpath([root, os.path.normpath(os.path.join(root, value))]) == root
    assert not value.startswith("-") and value.isascii() and value.isprintable()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"\A[A-Z][A-Z0-9_]{0,19}-[0-9]{1,9}\Z"))
def test_git_accepts_every_valid_id_as_a_branch(value):
    assert accepted(value)
    proc = subprocess.run(["git", "check-ref-format", "--branch", f"agent/{value}"], capture_output=True)
    assert proc.returncode == 0


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
ticket_entries = st.fixed_dictionaries(
    {"id": st.one_of(st.sampled_from(["A-1", "A-2", "B-1"]), ids)},
    optional={
        "priority": st.one_of(st.sampled_from(["high", "medium", "low"]), yaml_scalars),
        "dependencies": st.lists(st.sampled_from(["A-1", "A-2", "B-1", "Z-9"]), max_size=3),
        "estimated_files": st.lists(st.sampled_from(["src/a.py", "../x", "/etc", "src/*"]), max_size=2),
    },
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ticket_entries, max_size=6), st.integers(min_value=-1, max_value=4))
def test_validation_either_accepts_a_sound_manifest_or_names_problems(tickets, max_tickets):
    import json

    doc = {
        "batch_id": "b",
        "created_at": "2024-01-15T18:00:00Z",
        "config": {"max_tickets": max_tickets},
        "tickets": tickets,
    }
    try:
        manifest = parse_manifest(json.dumps(doc))  # JSON is YAML
    except ManifestError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return
    seen = [t.id for t in manifest.tickets]
    assert len(seen) == len(set(seen)) <= max_tickets
    for t in manifest.tickets:
        assert all(d in seen and d != t.id for d in t.dependencies)
        assert all(accepted(x) for x in [t.id, *t.dependencies])
