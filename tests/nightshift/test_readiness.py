from nightshift.models import Ticket
from nightshift.readiness import assess, parse_checklist, section_items

SPEC_CHECKLIST = """Some intro.

## Agent Readiness
- [x] Acceptance criteria clear
- [x] No open questions
- [x] Dependencies: None
- [x] Estimated files: src/feature.py, tests/
- [x] Complexity: Small
"""


def test_parses_the_spec_checklist():
    checklist = parse_checklist(SPEC_CHECKLIST)
    assert checklist.present
    assert checklist.acceptance_criteria_clear is True
    assert checklist.no_open_questions is True
    assert checklist.dependencies == [] and checklist.dependencies_checked is True
    assert checklist.estimated_files == ["src/feature.py", "tests/"]
    assert checklist.complexity == "small"


def test_unticked_items_and_dependency_ids():
    checklist = parse_checklist(
        "## Agent Readiness\n- [ ] Acceptance criteria clear\n- [ ] No open questions\n"
        "- [x] Dependencies: PROJ-142 completed, PROJ-7\n- [x] Complexity: Small / Medium / Large\n"
    )
    assert checklist.acceptance_criteria_clear is False
    assert checklist.no_open_questions is False
    assert checklist.dependencies == ["PROJ-142", "PROJ-7"]
    assert checklist.complexity is None  # the template line, not an estimate


def test_no_checklist():
    assert parse_checklist("just text").present is False


def test_ready_ticket_with_all_recommended_items():
    ticket = Ticket(
        id="P-1",
        acceptance_criteria=["works"],
        estimated_files=["a.py"],
        complexity="small",
        test_cases=["t"],
        dependencies=["P-0"],
    )
    report = assess(ticket, parse_checklist(SPEC_CHECKLIST), resolved_dependencies={"P-0"})
    assert report.ready and report.missing_recommended == []


def test_required_and_recommended_are_reported_separately():
    ticket = Ticket(id="P-2", open_questions=["Which database?"], dependencies=["P-9", "P-3"])
    report = assess(ticket, parse_checklist(""), resolved_dependencies={"P-3"})
    assert not report.ready
    assert report.missing_required == [
        "acceptance criteria: none found and the checklist does not tick them",
        "no open questions: Which database?",
        "dependencies resolved: waiting on P-9",
    ]
    assert report.missing_recommended == ["files identified", "complexity estimated", "test cases defined"]


def test_checklist_can_say_criteria_are_not_clear():
    ticket = Ticket(id="P-3", acceptance_criteria=["x"])
    report = assess(ticket, parse_checklist("## Agent Readiness\n- [ ] Acceptance criteria clear\n"))
    assert report.missing_required == ["acceptance criteria: the checklist says they are not clear yet"]


def test_section_items():
    md = "## Acceptance criteria\n- adds 1\n- adds 2\n\n## Test cases\n1. one\n2. two\n## Other\n- x\n"
    assert section_items(md, "acceptance criteria") == ["adds 1", "adds 2"]
    assert section_items(md, "test cases") == ["one", "two"]
    assert section_items(md, "open questions") == []
