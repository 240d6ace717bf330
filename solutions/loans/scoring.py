"""Scoring an application: calibrated PD, score points, grade, decision and principal reasons.

`LoanScorer` holds one base model (engine checkpoint + schema + calibration) and scores validated
applications in batches. The tenant's policy (`PolicySettings`, stored in the LoanPolicy model)
turns a PD into score points (points to double the odds), a grade band and a decision; the
principal reasons are integrated gradients of the model's default logit with respect to the
feature tokens, from a baseline applicant (training medians and modes) to this one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from solutions.loans.features import baseline_row, encode
from solutions.loans.schema import FeatureSchema

MAX_REASONS = 4
HEAD = "default"  # the binary head of every loan model: logits (B, 2), class 1 = default


# --- calibration --------------------------------------------------------------------------


@dataclass
class Calibration:
    """Maps the model's raw default probability to a calibrated PD; fitted on the valid split.

    platt: PD = sigmoid(a * logit(raw) + b). isotonic: a step function through (x, y) knots,
    interpolated linearly between them.
    """

    method: str
    a: float = 1.0
    b: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    @classmethod
    def identity(cls) -> Calibration:
        return cls("platt")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.clip(np.asarray(raw, dtype=np.float64), 1e-6, 1 - 1e-6)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * np.log(raw / (1 - raw)) + self.b)))
        return np.clip(np.interp(raw, self.x, self.y), 1e-4, 1 - 1e-4)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(**data)


def fit_platt(raw: np.ndarray, labels: np.ndarray) -> Calibration:
    from sklearn.linear_model import LogisticRegression

    raw = np.clip(np.asarray(raw, dtype=np.float64), 1e-6, 1 - 1e-6)
    logits = np.log(raw / (1 - raw)).reshape(-1, 1)
    fitted = LogisticRegression(C=1e4).fit(logits, labels)
    return Calibration("platt", a=float(fitted.coef_[0, 0]), b=float(fitted.intercept_[0]))


def fit_isotonic(raw: np.ndarray, labels: np.ndarray) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(raw, labels)
    return Calibration("isotonic", x=fitted.X_thresholds_.tolist(), y=fitted.y_thresholds_.tolist())


def fit_calibration(raw: np.ndarray, labels: np.ndarray, folds: int = 5) -> Calibration:
    """Platt or isotonic, whichever has the lower cross-validated Brier score on these rows."""
    raw, labels = np.asarray(raw, dtype=np.float64), np.asarray(labels)
    order = np.random.default_rng(0).permutation(len(raw))
    errors = {"platt": 0.0, "isotonic": 0.0}
    for k in range(folds):
        held = order[k::folds]
        kept = np.setdiff1d(order, held)
        for method, fit in (("platt", fit_platt), ("isotonic", fit_isotonic)):
            predicted = fit(raw[kept], labels[kept]).apply(raw[held])
            errors[method] += float(np.sum((predicted - labels[held]) ** 2))
    best = min(errors, key=lambda m: errors[m])
    return (fit_platt if best == "platt" else fit_isotonic)(raw, labels)


# --- policy: points, grades, decisions ------------------------------------------------------

DEFAULT_GRADE_BANDS = [["A", 0.02], ["B", 0.05], ["C", 0.10], ["D", 0.20], ["E", 0.35], ["F", 0.55], ["G", 1.0]]


@dataclass
class PolicySettings:
    """A tenant's credit policy (the plain values of its LoanPolicy row)."""

    approve_max_pd: float = 0.15  # PD at or below: approve (unless a hard rule says otherwise)
    decline_min_pd: float = 0.40  # PD at or above: decline; in between: refer to an analyst
    min_age: int = 18  # hard rule: younger applicants are declined
    max_age: int | None = None  # hard rule: older applicants are referred
    base_score: float = 600.0  # score points at base_odds (good:bad)
    base_odds: float = 50.0
    pdo: float = 20.0  # points to double the odds
    grade_bands: list[list[Any]] = field(default_factory=lambda: [list(b) for b in DEFAULT_GRADE_BANDS])

    def __post_init__(self) -> None:
        if not 0 < self.approve_max_pd <= self.decline_min_pd <= 1:
            raise ValueError("PD cut-offs must satisfy 0 < approve_max_pd <= decline_min_pd <= 1")
        if self.pdo <= 0 or self.base_odds <= 0:
            raise ValueError("pdo and base_odds must be positive")
        limits = [float(b[1]) for b in self.grade_bands]
        if not limits or limits != sorted(limits) or limits[-1] < 1.0:
            raise ValueError("grade bands need increasing PD limits ending at 1.0")


def score_points(pd: float, policy: PolicySettings) -> int:
    """Points-to-double-odds scaling: score = offset + factor * ln(good:bad odds)."""
    pd = min(max(pd, 1e-6), 1 - 1e-6)
    factor = policy.pdo / math.log(2)
    offset = policy.base_score - factor * math.log(policy.base_odds)
    return round(offset + factor * math.log((1 - pd) / pd))


def grade(pd: float, policy: PolicySettings) -> str:
    for name, limit in policy.grade_bands:
        if pd <= float(limit):
            return str(name)
    return str(policy.grade_bands[-1][0])


def decide(pd: float, application: dict[str, Any], schema: FeatureSchema, policy: PolicySettings) -> tuple[str, list[str]]:
    """approve / refer / decline and the policy rules that fired (hard rules first)."""
    rules: list[str] = []
    age = application.get(schema.age_feature) if schema.age_feature else None
    if age is not None and age < policy.min_age:
        return "decline", [f"Applicant is younger than the minimum age of {policy.min_age}"]
    if age is not None and policy.max_age is not None and age > policy.max_age:
        rules.append(f"Applicant is older than {policy.max_age}: refer to an analyst")
    if pd >= policy.decline_min_pd:
        return "decline", [*rules, f"Probability of default {pd:.1%} is at or above the decline cut-off {policy.decline_min_pd:.0%}"]
    if pd > policy.approve_max_pd:
        return "refer", [*rules, f"Probability of default {pd:.1%} is between the cut-offs"]
    return ("refer" if rules else "approve"), rules


# --- the scorer --------------------------------------------------------------------------------


@dataclass
class Reason:
    feature: str
    text: str
    value: str  # this applicant's value, described
    contribution: float  # log-odds points this feature added, relative to the baseline applicant


@dataclass
class Score:
    pd: float
    score: int
    grade: str
    decision: str
    reasons: list[Reason]
    policy_rules: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoanScorer:
    """One base model: engine checkpoint, its schema and its calibration, loaded from one folder."""

    def __init__(self, model: torch.nn.Module, schema: FeatureSchema, calibration: Calibration,
                 reference: dict[str, Any] | None = None, model_card: str = "", server: Any = None) -> None:
        self.model = model.eval()
        # PDs go through the engine's ModelServer when given (batched across threads and jobs);
        # attributions need gradients and hooks, so they run on this scorer's own model copy.
        self.server = server
        self._attribution_lock = threading.Lock()  # the encoder hook must see one caller only
        self.schema = schema
        self.calibration = calibration
        self.reference = reference  # binned training distributions for PSI (reference.json)
        self.model_card = model_card  # MODEL_CARD.md
        self._baseline = encode(schema, [baseline_row(schema)])

    @classmethod
    def load(cls, directory: str | Path) -> LoanScorer:
        from engine.checkpoint import load_checkpoint

        directory = Path(directory)
        calibration = Calibration.from_dict(json.loads((directory / "calibration.json").read_text()))
        reference_file, card_file = directory / "reference.json", directory / "MODEL_CARD.md"
        return cls(
            load_checkpoint(directory), FeatureSchema.load(directory / "schema.json"), calibration,
            reference=json.loads(reference_file.read_text()) if reference_file.is_file() else None,
            model_card=card_file.read_text() if card_file.is_file() else "",
        )

    def save_extras(self, directory: str | Path) -> None:
        """Write schema.json and calibration.json beside the checkpoint."""
        directory = Path(directory)
        self.schema.save(directory / "schema.json")
        (directory / "calibration.json").write_text(json.dumps(self.calibration.to_dict(), indent=2) + "\n")

    def default_logit(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.model(batch).heads[HEAD]  # (B, 2)
        return logits[:, 1] - logits[:, 0]

    @torch.no_grad()
    def raw_pd(self, rows: list[dict[str, Any]], adapter_id: str | None = None) -> np.ndarray:
        """The model's uncalibrated default probability per clean row, with a tenant adapter
        (an adapter version id) when given."""
        batch = encode(self.schema, rows)
        if adapter_id is not None and self.server is None:
            raise ValueError("tenant adapters are served by the engine's ModelServer: give the scorer a server")
        if self.server is not None:
            logits = self.server.predict(batch, adapter_id)[HEAD]  # (B, 2)
            logit = logits[:, 1] - logits[:, 0]
        else:
            with self._attribution_lock:  # never while another thread's encoder hook is set
                logit = self.default_logit(batch)
        return torch.sigmoid(logit).double().numpy()

    def pd(self, rows: list[dict[str, Any]], adapter_id: str | None = None) -> np.ndarray:
        raw = self.raw_pd(rows, adapter_id)
        # The base calibration maps the base model's scores onto the base population. A tenant
        # adapter's head was trained on the tenant's own outcomes: its probability is already
        # the tenant's PD, and the base mapping would pull it away from them.
        return raw if adapter_id else self.calibration.apply(raw)

    def attributions(self, rows: list[dict[str, Any]], steps: int = 16) -> np.ndarray:
        """Integrated gradients per feature, (B, F) in schema order, in default log-odds.

        The path runs over the encoder's feature tokens from the baseline applicant's tokens to
        this applicant's; a positive value means the feature raised the risk. Rows of the path are
        batched so one forward/backward pass computes every step of every applicant.
        """
        batch = encode(self.schema, rows)
        encoder = self.model.encoder
        with self._attribution_lock:  # the encoder and its hook are this call's alone
            with torch.no_grad():
                tokens = encoder(batch).tokens  # (B, 1 + F, D), CLS first
                base = encoder(self._baseline).tokens.expand_as(tokens)
            B, T, D = tokens.shape
            alphas = (torch.arange(steps, dtype=tokens.dtype) + 0.5) / steps  # midpoint rule
            path = base.unsqueeze(0) + alphas.view(-1, 1, 1, 1) * (tokens - base).unsqueeze(0)  # (S, B, T, D)
            path = path.reshape(steps * B, T, D).requires_grad_(True)
            repeated = {k: v.repeat(steps, *([1] * (v.dim() - 1))) for k, v in batch.items()}

            def replace_tokens(module: torch.nn.Module, inputs: Any, output: Any) -> Any:
                return dataclasses.replace(output, tokens=path)

            handle = encoder.register_forward_hook(replace_tokens)
            try:
                logit = self.default_logit(repeated)
            finally:
                handle.remove()
        (grad,) = torch.autograd.grad(logit.sum(), path)
        mean_grad = grad.reshape(steps, B, T, D).mean(0)  # (B, T, D)
        per_token = ((tokens - base) * mean_grad).sum(-1)[:, 1:]  # (B, F), CLS dropped
        # Encoder token order is numeric features then categorical; map back to schema order.
        token_order = [f.name for f in self.schema.numeric] + [f.name for f in self.schema.categorical]
        column = [token_order.index(f.name) for f in self.schema.features]
        return per_token[:, column].detach().double().numpy()

    def reasons(self, rows: list[dict[str, Any]]) -> list[list[Reason]]:
        """Up to four features that raised each applicant's risk the most (never protected ones)."""
        contributions = self.attributions(rows)
        result = []
        for row, contribution in zip(rows, contributions, strict=True):
            ranked = sorted(range(len(contribution)), key=lambda j: -contribution[j])
            picked = []
            for j in ranked:
                feature = self.schema.features[j]
                if contribution[j] <= 0 or len(picked) == MAX_REASONS:
                    break
                if feature.protected:
                    continue
                picked.append(Reason(feature.name, feature.reason, feature.describe_value(row.get(feature.name)), round(float(contribution[j]), 4)))
            result.append(picked)
        return result

    def score(self, rows: list[dict[str, Any]], policy: PolicySettings, adapter_id: str | None = None) -> list[Score]:
        """Score clean rows (from FeatureSchema.validate) under a tenant's policy.

        With `adapter_id` the PD comes from the tenant's adapter; the reasons stay those of the
        base model (attributions run on the scorer's own copy of the base weights).
        """
        if not rows:
            return []
        pds = self.pd(rows, adapter_id)
        reasons = self.reasons(rows)
        scores = []
        for row, pd, why in zip(rows, pds, reasons, strict=True):
            decision, rules = decide(float(pd), row, self.schema, policy)
            scores.append(Score(round(float(pd), 6), score_points(float(pd), policy), grade(float(pd), policy), decision, why, rules))
        return scores
