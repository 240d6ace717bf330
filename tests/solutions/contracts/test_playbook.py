"""Each playbook rule kind yields pass, fail or missing with its evidence."""

import pytest

from solutions.contracts.playbook import (
    DEFAULT_RULES,
    InvalidPlaybook,
    check,
    risk_level,
    validate_rules,
)

CAP = {"category": "Cap on Liability", "score": 0.8, "start": 10, "end": 40, "text": "liability shall not exceed $1"}
UNCAPPED = {"category": "Uncapped Liability", "score": 0.7, "start": 50, "end": 80, "text": "unlimited liability"}


def term(kind: str, value: str) -> dict:
    return {"kind": kind, "value": value, "text": value, "start": 100, "end": 100 + len(value), "detail": {}}


def status(rule: dict, findings: list[dict], terms: list[dict]) -> tuple[str, list]:
    result = check([rule], findings, terms)[0]
    return result.status, result.evidence


def test_clause_required():
    rule = {"kind": "clause_required", "category": "Cap on Liability", "severity": "high"}
    assert status(rule, [CAP], [])[0] == "pass"
    assert status(rule, [CAP], [])[1][0].start == 10
    assert status(rule, [UNCAPPED], []) == ("missing", [])


def test_clause_flagged():
    rule = {"kind": "clause_flagged", "category": "Uncapped Liability"}
    found, evidence = status(rule, [CAP, UNCAPPED], [])
    assert found == "fail" and evidence[0].text == "unlimited liability"
    assert status(rule, [CAP], [])[0] == "pass"


def test_notice_period_min_days():
    rule = {"kind": "notice_period_min_days", "min_days": 60}
    assert status(rule, [], [term("notice_period", "30")])[0] == "fail"
    assert status(rule, [], [term("notice_period", "60")])[0] == "pass"
    assert status(rule, [], [])[0] == "missing"


def test_governing_law_allowed():
    rule = {"kind": "governing_law_allowed", "allowed": ["Delaware", "New York"]}
    assert status(rule, [], [term("governing_law", "New York")])[0] == "pass"
    assert status(rule, [], [term("governing_law", "the State of Delaware")])[0] == "pass"
    failed, evidence = status(rule, [], [term("governing_law", "Texas")])
    assert failed == "fail" and evidence[0].text == "Texas"
    assert status(rule, [], [])[0] == "missing"


def test_risk_follows_the_worst_rule():
    results = check(DEFAULT_RULES, [CAP], [term("governing_law", "Delaware"), term("notice_period", "90")])
    assert risk_level(results) == "medium"  # Governing Law clause and Insurance missing, cap present
    results = check(DEFAULT_RULES, [UNCAPPED], [])
    assert risk_level(results) == "high"


@pytest.mark.parametrize("rules", [
    {"kind": "clause_required"},
    [{"kind": "no_such_rule"}],
    [{"kind": "clause_required", "category": "Not a category"}],
    [{"kind": "notice_period_min_days", "min_days": "sixty"}],
    [{"kind": "governing_law_allowed", "allowed": "Delaware"}],
    [{"kind": "clause_flagged", "category": "Non-Compete", "severity": "urgent"}],
])
def test_malformed_playbooks_are_refused(rules):
    with pytest.raises(InvalidPlaybook):
        validate_rules(rules, categories=["Non-Compete", "Cap on Liability"])


def test_the_default_playbook_is_valid():
    assert validate_rules(DEFAULT_RULES) == DEFAULT_RULES
