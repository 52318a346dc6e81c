from pathlib import Path

import pytest
import yaml

from nightshift.manifest import ManifestError, dump_manifest, load_manifest, parse_manifest
from nightshift.models import BatchStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "include" / "demo" / "manifest-example.yaml"

HEADER = 'batch_id: "b-1"\ncreated_at: "2024-01-15T18:00:00Z"\n'


def problems_of(text: str) -> list[str]:
    with pytest.raises(ManifestError) as err:
        parse_manifest(text)
    return [str(p) for p in err.value.problems]


def test_spec_example_loads_and_round_trips():
    manifest = load_manifest(EXAMPLE)
    assert manifest.batch_id == "2024-01-15-overnight"
    assert manifest.created_at == "2024-01-15T18:00:00Z"
    assert manifest.config.timeout_per_ticket == "30m" and manifest.config.timeout_seconds == 1800
    assert [t.id for t in manifest.tickets] == ["PROJ-142", "PROJ-138", "PROJ-145"]
    assert manifest.ticket("PROJ-145").dependencies == ["PROJ-142"]
    assert manifest.status is BatchStatus.PENDING
    dumped = dump_manifest(manifest)
    assert parse_manifest(dumped) == manifest
    # Same data as the spec's YAML, key for key.
    assert yaml.safe_load(dumped) == yaml.safe_load(EXAMPLE.read_text())
    assert dump_manifest(parse_manifest(dumped)) == dumped


def test_every_problem_is_reported_at_once_with_ticket_and_field():
    text = (
        HEADER
        + """config: {max_tickets: 3}
tickets:
  - {id: "A-1", dependencies: ["A-2"]}
  - {id: "A-2", dependencies: ["A-1"]}
  - {id: "A-3", dependencies: ["NOPE-9", "NOPE-8"]}
  - {id: "PROJ-1$(id)"}
  - {id: "A-3", priority: urgent, complexity: huge}
"""
    )
    lines = problems_of(text)
    joined = "\n".join(lines)
    assert "ticket A-1: dependencies: dependency cycle A-1 -> A-2 -> A-1" in lines
    assert "ticket A-3: dependencies: unknown dependency NOPE-9" in lines
    assert "ticket A-3: dependencies: unknown dependency NOPE-8" in lines
    assert any(line.startswith("ticket PROJ-1$(id): id:") for line in lines)
    assert "ticket A-3: id: duplicate id (2 tickets)" in lines
    assert any(line.startswith("ticket A-3: priority: 'urgent' is not allowed") for line in lines)
    assert any(line.startswith("ticket A-3: complexity: 'huge'") for line in lines)
    assert "tickets: 5 tickets is more than config.max_tickets (3)" in joined


def test_self_loop_and_config_errors():
    lines = problems_of(
        HEADER + 'config: {timeout_per_ticket: "30 min", parallel_agents: 0}\n'
        'tickets:\n  - {id: "A-1", dependencies: ["A-1"]}\n'
    )
    assert "ticket A-1: dependencies: dependency cycle A-1 -> A-1" in lines
    assert any(line.startswith("config.timeout_per_ticket:") for line in lines)
    assert any(line.startswith("config.parallel_agents:") for line in lines)


def test_unknown_fields_and_status_are_named():
    lines = problems_of(HEADER + "status: done\nextra: 1\ntickets:\n  - {id: A-1, colour: red}\n")
    assert "ticket A-1: colour: unknown field" in lines
    assert "extra: unknown field" in lines
    assert any(line.startswith("status:") for line in lines)


def test_bidi_ids_are_escaped_in_messages():
    lines = problems_of(HEADER + 'tickets:\n  - {id: "PROJ-1\\u202e"}\n')
    assert lines[0].startswith("ticket 'PROJ-1\\u202e': id:")


@pytest.mark.reliability
def test_long_chain_cycle_is_found_without_recursion(reliability_row):
    n = 10_000
    entries = "\n".join(f'  - {{id: "C-{i}", dependencies: ["C-{(i + 1) % n}"]}}' for i in range(n))
    lines = problems_of(HEADER + "config: {max_tickets: 1000}\ntickets:\n" + entries + "\n")
    cycle = [line for line in lines if "dependency cycle" in line]
    reliability_row(row="Dependency cycles", injection=f"{n}-node cycle", figure=f"{len(cycle)} cycle named",
                    criterion="rejected, naming the cycle", passed=len(cycle) == 1)
    assert len(cycle) == 1 and cycle[0].count("->") == n


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('a: &x ["lol"]\nb: *x\n', "anchors"),
        ("batch_id: a\nbatch_id: b\n", "duplicate key 'batch_id'"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "nested deeper"),
        ("a: [unclosed\n", "invalid YAML"),
        ("? [a, b]\n: 1\n", "complex mapping keys"),
        ("tickets:\n  - {id: A-1, id: A-2}\n", "duplicate key 'id'"),
    ],
)
def test_hostile_yaml_is_rejected_with_the_reason(text, reason):
    lines = problems_of(text)
    assert len(lines) == 1 and reason in lines[0]


@pytest.mark.reliability
def test_billion_laughs_is_rejected(reliability_row):
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: &d [*c,*c]\n'
    problems = problems_of(bomb)
    reliability_row(row="YAML bombs", injection="alias bomb", figure=problems[0][:60],
                    criterion="rejected with the reason", passed="anchors" in problems[0])
    assert "anchors" in problems[0]


def test_non_utf8_and_oversized_input_are_rejected(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(HEADER.encode() + b"note: caf\xe9\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(bad)
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(HEADER.encode() + b"#" * (2 * 1024 * 1024))
    with pytest.raises(ManifestError, match="over the"):
        load_manifest(huge)
    with pytest.raises(ManifestError, match="No such file"):
        load_manifest(tmp_path / "missing.yaml")
