"""Playbook rules checked against a contract's findings and key terms.

A rule is a JSON object with a `kind`, a `label` and a `severity` (high, medium, low):
- clause_required {"category": "Cap on Liability"}: pass when the clause is found, otherwise
  missing (the "clause absent" finding);
- clause_flagged {"category": "Uncapped Liability"}: fail when the clause is found, else pass;
- notice_period_min_days {"min_days": 60}: fail when the renewal notice period is shorter,
  pass when at least that long, missing when the contract states none;
- governing_law_allowed {"allowed": ["Delaware", "New York"]}: fail when the governing law is
  another one, pass when listed, missing when none is stated.
Each result carries its evidence: the finding or key term with offsets and text.
"""

from dataclasses import dataclass, field
from typing import Any

RULE_KINDS = ("clause_required", "clause_flagged", "notice_period_min_days", "governing_law_allowed")
SEVERITIES = ("high", "medium", "low")
PASS, FAIL, MISSING = "pass", "fail", "missing"

DEFAULT_RULES: list[dict[str, Any]] = [
    {"kind": "clause_required", "category": "Cap on Liability", "severity": "high",
     "label": "A Cap on Liability clause must exist"},
    {"kind": "clause_flagged", "category": "Uncapped Liability", "severity": "high",
     "label": "Flag uncapped liability"},
    {"kind": "clause_required", "category": "Governing Law", "severity": "medium",
     "label": "A Governing Law clause must exist"},
    {"kind": "clause_required", "category": "Insurance", "severity": "low",
     "label": "An Insurance clause should exist"},
    {"kind": "clause_flagged", "category": "Non-Compete", "severity": "medium",
     "label": "Flag non-compete obligations"},
    {"kind": "clause_flagged", "category": "Liquidated Damages", "severity": "medium",
     "label": "Flag liquidated damages"},
    {"kind": "notice_period_min_days", "min_days": 60, "severity": "medium",
     "label": "Renewal notice of at least 60 days"},
    {"kind": "governing_law_allowed", "allowed": ["Delaware", "New York", "California", "England and Wales"],
     "severity": "medium", "label": "Governing law in an allowed jurisdiction"},
]


class InvalidPlaybook(ValueError):
    pass


@dataclass
class Evidence:
    start: int
    end: int
    text: str
    score: float | None = None


@dataclass
class RuleResult:
    index: int
    rule: dict[str, Any]
    status: str  # pass, fail, missing
    message: str
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"index": self.index, "rule": self.rule, "status": self.status, "message": self.message,
                "evidence": [vars(e) for e in self.evidence]}


def validate_rules(rules: Any, categories: list[str] | None = None) -> list[dict[str, Any]]:
    """The rules if they are well formed, else InvalidPlaybook naming the first problem."""
    if not isinstance(rules, list):
        raise InvalidPlaybook("A playbook is a JSON list of rules.")
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or rule.get("kind") not in RULE_KINDS:
            raise InvalidPlaybook(f"Rule {number}: kind must be one of {', '.join(RULE_KINDS)}.")
        if rule.get("severity", "medium") not in SEVERITIES:
            raise InvalidPlaybook(f"Rule {number}: severity must be one of {', '.join(SEVERITIES)}.")
        kind = rule["kind"]
        if kind in ("clause_required", "clause_flagged"):
            if not isinstance(rule.get("category"), str) or (categories and rule["category"] not in categories):
                raise InvalidPlaybook(f"Rule {number}: category must name one of the clause categories.")
        elif kind == "notice_period_min_days":
            if not isinstance(rule.get("min_days"), int) or rule["min_days"] < 0:
                raise InvalidPlaybook(f"Rule {number}: min_days must be a whole number of days.")
        elif not isinstance(rule.get("allowed"), list) or not all(isinstance(a, str) for a in rule["allowed"]):
            raise InvalidPlaybook(f"Rule {number}: allowed must be a list of jurisdictions.")
    return rules


def _label(rule: dict[str, Any]) -> str:
    return rule.get("label") or rule["kind"].replace("_", " ")


def _same_place(a: str, b: str) -> bool:
    def norm(place: str) -> str:
        return " ".join(place.lower().replace("the ", "").replace("state of ", "").split())

    return norm(a) == norm(b) or norm(a).startswith(norm(b)) or norm(b).startswith(norm(a))


def check(rules: list[dict[str, Any]], findings: list[dict[str, Any]], key_terms: list[dict[str, Any]]) -> list[RuleResult]:
    """Evaluate every rule. findings: {category, score, start, end, text} (the accepted or
    proposed ones above threshold); key_terms: {kind, value, text, start, end, detail}."""
    results = []
    for index, rule in enumerate(rules):
        kind = rule["kind"]
        if kind in ("clause_required", "clause_flagged"):
            hits = sorted((f for f in findings if f["category"] == rule["category"]), key=lambda f: -f["score"])
            evidence = [Evidence(f["start"], f["end"], f["text"], f["score"]) for f in hits[:3]]
            if kind == "clause_required":
                status = PASS if hits else MISSING
                message = f"{rule['category']} found." if hits else f"No {rule['category']} clause found."
            else:
                status = FAIL if hits else PASS
                message = f"{rule['category']} found: review it." if hits else f"No {rule['category']} clause."
        else:
            wanted = "notice_period" if kind == "notice_period_min_days" else "governing_law"
            term = next((t for t in key_terms if t["kind"] == wanted), None)
            evidence = [Evidence(term["start"], term["end"], term["text"])] if term else []
            if term is None:
                status = MISSING
                message = "No renewal notice period stated." if wanted == "notice_period" else "No governing law stated."
            elif kind == "notice_period_min_days":
                days = int(term["value"])
                status = PASS if days >= rule["min_days"] else FAIL
                message = f"Renewal notice is {days} days (minimum {rule['min_days']})."
            else:
                allowed = any(_same_place(term["value"], place) for place in rule["allowed"])
                status = PASS if allowed else FAIL
                message = f"Governed by the laws of {term['value']}" + ("." if allowed else ", which is not on the allowed list.")
        results.append(RuleResult(index, {**rule, "label": _label(rule)}, status, message, evidence))
    return results


def risk_level(results: list[RuleResult]) -> str:
    """high when a high-severity rule fails or is missing, medium for any other failure, else low."""
    problems = [r for r in results if r.status in (FAIL, MISSING)]
    if any(r.rule.get("severity", "medium") == "high" for r in problems):
        return "high"
    if any(r.rule.get("severity", "medium") == "medium" for r in problems):
        return "medium"
    return "low"


def default_rules_copy() -> list[dict[str, Any]]:
    return [dict(rule) for rule in DEFAULT_RULES]
