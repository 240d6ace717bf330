"""Feature schemas of the loan scoring models, and validation of applications against them.

A scoring model is defined by its schema: each feature's name, kind (numeric or categorical),
allowed values with their meanings, range, unit, whether it is required, whether it is a protected
attribute, and the adverse-action reason text used when it pushes an applicant's risk up. The
schema is stored as `schema.json` beside each checkpoint, together with the training statistics
(standardisation, baseline values) that turn a validated application into the engine's tabular
batch (see features.py).

Two schemas ship: German Credit (consumer loans, UCI codes from the codebook) and Taiwan (credit
card accounts).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical"]
# A numeric feature's values go through this before standardisation: amounts are heavy-tailed.
Transform = Literal["none", "signed_log1p"]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: FeatureKind
    label: str  # what a person calls it: "Credit amount"
    reason: str  # adverse-action text when this feature raises the risk
    required: bool = True
    protected: bool = False  # used in fairness reports; never quoted as a reason
    unit: str = ""
    minimum: float | None = None  # numeric: inclusive range
    maximum: float | None = None
    integer: bool = False  # numeric: whole numbers only
    values: dict[str, str] = field(default_factory=dict)  # categorical: code -> meaning
    transform: Transform = "none"
    # Training statistics (filled by fit_statistics): standardisation of the transformed value and
    # the baseline value (median / mode) that integrated gradients starts from.
    mean: float = 0.0
    std: float = 1.0
    baseline: float | str | None = None

    @property
    def codes(self) -> list[str]:
        return list(self.values)

    def describe_value(self, value: Any) -> str:
        if value is None:
            return "missing"
        if self.kind == "categorical":
            return f"{value} ({self.values.get(str(value), 'unknown')})"
        unit = f" {self.unit}" if self.unit else ""
        return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


@dataclass(frozen=True)
class FeatureSchema:
    name: str  # "german", "taiwan"
    title: str
    target: str  # label column in the split files: 1 = default / bad credit
    features: tuple[Feature, ...]
    age_feature: str = ""  # the feature that policy age rules read

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.name!r}: duplicate feature names")

    @property
    def numeric(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "numeric"]

    @property
    def categorical(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "categorical"]

    @property
    def protected(self) -> list[Feature]:
        return [f for f in self.features if f.protected]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    # --- validation -------------------------------------------------------------------------

    def validate(self, application: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Check one application. Returns (clean values, errors per field).

        Clean values hold every feature: numbers as float, categories as their code string, and
        None for a missing optional feature. Errors name the field and say what would be accepted.
        """
        if not isinstance(application, dict):
            return {}, {"non_field_errors": ["An application must be a JSON object of field: value."]}
        errors: dict[str, list[str]] = {}
        known = {f.name for f in self.features}
        for name in application:
            if name not in known:
                errors[str(name)] = [
                    f"Unknown field {name!r} for the {self.title} model; "
                    f"accepted fields: {', '.join(sorted(known))}."
                ]
        clean: dict[str, Any] = {}
        for f in self.features:
            raw = application.get(f.name)
            if _is_missing(raw):
                if f.required:
                    errors[f.name] = [f"This field is required ({f.label})."]
                clean[f.name] = None
                continue
            value, error = _check_value(f, raw)
            if error:
                errors[f.name] = [error]
            clean[f.name] = value
        return clean, errors

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "target": self.target,
            "features": [asdict(f) for f in self.features],
            "age_feature": self.age_feature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(
            name=data["name"],
            title=data["title"],
            target=data["target"],
            features=tuple(Feature(**f) for f in data["features"]),
            age_feature=data.get("age_feature", ""),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FeatureSchema:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def with_statistics(self, rows: list[dict[str, Any]]) -> FeatureSchema:
        """This schema with standardisation stats and baselines fitted on (training) rows."""
        fitted = []
        for f in self.features:
            present = [r[f.name] for r in rows if r.get(f.name) is not None]
            if not present:  # never observed: no statistics, baseline is "missing"
                fitted.append(f)
            elif f.kind == "numeric":
                values = sorted(float(v) for v in present)
                transformed = [transform_numeric(f, v) for v in values]
                mean = sum(transformed) / len(transformed)
                var = sum((v - mean) ** 2 for v in transformed) / max(1, len(transformed) - 1)
                median = values[len(values) // 2]
                fitted.append(replace(f, mean=mean, std=math.sqrt(var) or 1.0, baseline=median))
            else:
                counts: dict[str, int] = {}
                for v in present:
                    counts[str(v)] = counts.get(str(v), 0) + 1
                mode = max(counts, key=lambda c: counts[c])
                fitted.append(replace(f, baseline=mode))
        return replace(self, features=tuple(fitted))


def transform_numeric(feature: Feature, value: float) -> float:
    if feature.transform == "signed_log1p":
        return math.copysign(math.log1p(abs(value)), value)
    return value


def _is_missing(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _check_value(f: Feature, raw: Any) -> tuple[Any, str | None]:
    if f.kind == "categorical":
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            return None, f"Expected one of the codes {', '.join(f.codes)}, got {type(raw).__name__}."
        code = str(raw).strip()
        if code not in f.values:
            allowed = "; ".join(f"{c} = {m}" for c, m in f.values.items())
            return None, f"{code!r} is not an allowed value. Allowed: {allowed}."
        return code, None
    if isinstance(raw, bool):
        return None, f"Expected a number{_unit(f)}, got true/false."
    if isinstance(raw, str):
        try:
            number = float(raw.strip().replace(",", ""))
        except ValueError:
            return None, f"Expected a number{_unit(f)}, got {raw!r}."
    elif isinstance(raw, int | float):
        number = float(raw)
    else:
        return None, f"Expected a number{_unit(f)}, got {type(raw).__name__}."
    if not math.isfinite(number):
        return None, f"Expected a finite number{_unit(f)}."
    if f.integer and not number.is_integer():
        return None, f"Expected a whole number{_unit(f)}, got {number:g}."
    if f.minimum is not None and number < f.minimum:
        return None, f"{number:g} is below the minimum {f.minimum:g}{_unit(f)}."
    if f.maximum is not None and number > f.maximum:
        return None, f"{number:g} is above the maximum {f.maximum:g}{_unit(f)}."
    return number, None


def _unit(f: Feature) -> str:
    return f" ({f.unit})" if f.unit else ""


# --- the two shipped schemas ------------------------------------------------------------------

# name: (label, reason, required, protected, unit, min, max, transform) for German numeric fields.
_GERMAN_NUMERIC = {
    "duration_months": ("Duration", "Loan term is long", True, False, "months", 1, 120, "none"),
    "credit_amount": ("Credit amount", "Amount requested is high", True, False, "DM", 1, 1_000_000, "signed_log1p"),
    "installment_rate_pct_income": ("Instalment rate in % of disposable income", "Instalments take a large share of income", True, False, "rate class 1-4", 1, 4, "none"),
    "residence_since": ("Present residence since", "Time at present residence is short", False, False, "years class 1-4", 1, 4, "none"),
    "age_years": ("Age", "Age", True, True, "years", 18, 100, "none"),
    "existing_credits_count": ("Existing credits at this bank", "Number of existing credits at this bank", False, False, "credits", 0, 20, "none"),
    "people_liable_count": ("People liable for maintenance", "Number of dependants", False, False, "people", 0, 20, "none"),
}
# name: (reason, required, protected) for German categorical fields; labels come from the codebook.
_GERMAN_CATEGORICAL = {
    "checking_account_status": ("Checking account balance is low or negative", True, False),
    "credit_history": ("Credit history shows delays or critical accounts", True, False),
    "purpose": ("Purpose of the loan carries higher risk", True, False),
    "savings_account": ("Savings are low or unknown", False, False),
    "employment_since": ("Time in present employment is short", False, False),
    "personal_status_sex": ("Personal status and sex", True, True),
    "other_debtors_guarantors": ("No co-applicant or guarantor", False, False),
    "property": ("No property or only minor property", False, False),
    "other_installment_plans": ("Other instalment plans exist", False, False),
    "housing": ("Housing situation", False, False),
    "job": ("Type of job", False, False),
    "telephone": ("No telephone registered", False, False),
    "foreign_worker": ("Foreign worker", True, True),
}


def german_schema(codebook_path: str | Path) -> FeatureSchema:
    """The German Credit schema, with category meanings read from the dataset's codebook."""
    values: dict[str, dict[str, str]] = {}
    labels: dict[str, str] = {}
    with open(codebook_path, newline="") as fh:
        for row in csv.DictReader(fh):
            labels[row["column"]] = row["attribute"]
            if row["code"] != "(numeric)":
                values.setdefault(row["column"], {})[row["code"]] = row["meaning"]
    features = []
    for name in labels:
        if name in _GERMAN_NUMERIC:
            label, reason, required, protected, unit, low, high, transform = _GERMAN_NUMERIC[name]
            features.append(
                Feature(name, "numeric", label, reason, required, protected, unit, low, high,
                        integer=True, transform=transform)
            )
        else:
            reason, required, protected = _GERMAN_CATEGORICAL[name]
            features.append(
                Feature(name, "categorical", labels[name], reason, required, protected,
                        values=values[name])
            )
    return FeatureSchema("german", "German Credit consumer loans", "bad_credit", tuple(features), "age_years")


_PAY_STATUS = "repayment status: -2 no consumption, -1 paid in full, 0 revolving, 1-9 months late"
_MONTHS = ("September", "August", "July", "June", "May", "April")


def taiwan_schema() -> FeatureSchema:
    """The Taiwan credit-card schema (Yeh & Lien 2009), meanings from the dataset description."""
    features = [
        Feature("LIMIT_BAL", "numeric", "Credit limit", "Credit limit is low", unit="NT$",
                minimum=0, maximum=10_000_000, transform="signed_log1p"),
        Feature("SEX", "categorical", "Sex", "Sex", protected=True, values={"1": "male", "2": "female"}),
        Feature("EDUCATION", "categorical", "Education", "Education level", required=False,
                values={"1": "graduate school", "2": "university", "3": "high school", "4": "others",
                        "0": "undocumented", "5": "undocumented", "6": "undocumented"}),
        Feature("MARRIAGE", "categorical", "Marital status", "Marital status", protected=True,
                required=False, values={"1": "married", "2": "single", "3": "others", "0": "undocumented"}),
        Feature("AGE", "numeric", "Age", "Age", protected=True, unit="years", minimum=18,
                maximum=100, integer=True),
    ]
    for i, (column, month) in enumerate(zip(("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"), _MONTHS, strict=True)):
        features.append(Feature(
            column, "numeric", f"Repayment status in {month} 2005",
            "Payments were late recently" if i < 2 else "Payments were late in earlier months",
            required=i < 2, unit=_PAY_STATUS, minimum=-2, maximum=9, integer=True))
    for i, month in enumerate(_MONTHS, start=1):
        features.append(Feature(
            f"BILL_AMT{i}", "numeric", f"Bill statement in {month} 2005",
            "Outstanding balance is high", required=i == 1, unit="NT$",
            minimum=-10_000_000, maximum=10_000_000, transform="signed_log1p"))
    for i, month in enumerate(_MONTHS, start=1):
        features.append(Feature(
            f"PAY_AMT{i}", "numeric", f"Amount paid in {month} 2005",
            "Recent payments are small relative to the balance", required=i == 1, unit="NT$",
            minimum=0, maximum=10_000_000, transform="signed_log1p"))
    return FeatureSchema("taiwan", "Taiwan credit-card accounts", "default_next_month", tuple(features), "AGE")


# Split files of each dataset under the data folder: <prefix>_<split>.csv.
DATASET_FILES = {"german": "german_credit", "taiwan": "taiwan_credit_default"}


def shipped_schema(name: str, data_dir: str | Path) -> FeatureSchema:
    if name == "german":
        return german_schema(Path(data_dir) / "german_credit_codebook.csv")
    if name == "taiwan":
        return taiwan_schema()
    raise KeyError(f"no shipped schema named {name!r}")


def read_split(schema: FeatureSchema, data_dir: str | Path, split: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The validated rows and labels of one split file (train, valid or test)."""
    path = Path(data_dir) / f"{DATASET_FILES[schema.name]}_{split}.csv"
    rows, labels = [], []
    with open(path, newline="") as fh:
        for line_no, raw in enumerate(csv.DictReader(fh), start=2):
            label = int(raw.pop(schema.target))
            raw.pop("id", None)
            clean, errors = schema.validate(raw)
            if errors:
                raise ValueError(f"{path}:{line_no}: {errors}")
            rows.append(clean)
            labels.append(label)
    return rows, labels
