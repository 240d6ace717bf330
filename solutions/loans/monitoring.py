"""Model monitoring: population stability, calibration against outcomes, and fairness.

- PSI per feature and of the PD between the training data (binned at training time into
  `reference.json`) and a window of recent applications: sum over bins of
  (actual - expected) * ln(actual / expected). Below 0.10 stable, 0.10-0.25 watch, above 0.25 shift.
- Calibration: predicted PD against the observed default rate, per PD band, where outcomes
  were uploaded.
- Fairness: approval rate per group of each protected attribute and its ratio to the best
  group's; a ratio below 0.8 breaks the four-fifths rule and is flagged.
"""

import itertools
from typing import Any

import numpy as np

from solutions.loans.schema import Feature, FeatureSchema

PSI_WATCH, PSI_SHIFT = 0.10, 0.25
FOUR_FIFTHS = 0.8
_EPSILON = 1e-4  # a bin empty on one side would make PSI infinite
_BINS = 10
AGE_BANDS = [(18, 25), (25, 35), (35, 50), (50, 200)]


def _numeric_edges(values: np.ndarray, bins: int = _BINS) -> list[float]:
    """Inner bin edges at the deciles of the training values (duplicates merged)."""
    if values.size == 0:
        return []
    return sorted(set(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]).tolist()))


def _bin_numeric(values: list[float | None], edges: list[float]) -> np.ndarray:
    """Proportions over [missing, bin 0, ..., bin len(edges)]."""
    counts = np.zeros(len(edges) + 2)
    for value in values:
        counts[0 if value is None else 1 + int(np.searchsorted(edges, value, side="right"))] += 1
    return counts / max(1, len(values))


def _bin_categorical(values: list[Any], codes: list[str]) -> np.ndarray:
    """Proportions over [missing, code 1, ...]."""
    counts = np.zeros(len(codes) + 1)
    for value in values:
        counts[0 if value is None else 1 + codes.index(str(value))] += 1
    return counts / max(1, len(values))


def reference_distributions(schema: FeatureSchema, rows: list[dict[str, Any]], pds: np.ndarray) -> dict[str, Any]:
    """The binned training distributions PSI compares against (stored as reference.json)."""
    features: dict[str, Any] = {}
    for f in schema.features:
        values = [row.get(f.name) for row in rows]
        if f.kind == "numeric":
            edges = _numeric_edges(np.array([v for v in values if v is not None], dtype=float))
            features[f.name] = {"edges": edges, "proportions": _bin_numeric(values, edges).tolist()}
        else:
            features[f.name] = {"codes": f.codes, "proportions": _bin_categorical(values, f.codes).tolist()}
    pd_edges = _numeric_edges(np.asarray(pds, dtype=float))
    return {
        "rows": len(rows),
        "features": features,
        "pd": {"edges": pd_edges, "proportions": _bin_numeric([float(p) for p in pds], pd_edges).tolist()},
    }


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, dtype=float), _EPSILON, None)
    actual = np.clip(np.asarray(actual, dtype=float), _EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_status(value: float) -> str:
    return "shift" if value > PSI_SHIFT else "watch" if value > PSI_WATCH else "stable"


def _bin_labels(entry: dict[str, Any]) -> list[str]:
    if "codes" in entry:
        return ["missing", *entry["codes"]]
    edges = entry["edges"]
    if not edges:
        return ["missing", "all"]
    inner = [f"{lo:.4g} to {hi:.4g}" for lo, hi in itertools.pairwise(edges)]
    return ["missing", f"below {edges[0]:.4g}", *inner, f"{edges[-1]:.4g} and above"]


def stability_report(reference: dict[str, Any], schema: FeatureSchema, rows: list[dict[str, Any]], pds: list[float]) -> dict[str, Any]:
    """PSI of the PD and of every feature, recent rows against the training reference."""
    report: dict[str, Any] = {"rows": len(rows), "features": []}
    for f in schema.features:
        entry = reference["features"][f.name]
        values = [row.get(f.name) for row in rows]
        actual = (_bin_categorical(values, entry["codes"]) if "codes" in entry
                  else _bin_numeric([None if v is None else float(v) for v in values], entry["edges"]))
        value = psi(np.array(entry["proportions"]), actual)
        report["features"].append({
            "feature": f.name, "label": f.label, "psi": round(value, 4), "status": psi_status(value),
            "bins": _bin_labels(entry), "expected": entry["proportions"], "actual": actual.tolist(),
        })
    pd_entry = reference["pd"]
    actual_pd = _bin_numeric([float(p) for p in pds], pd_entry["edges"])
    value = psi(np.array(pd_entry["proportions"]), actual_pd)
    report["pd"] = {"psi": round(value, 4), "status": psi_status(value), "bins": _bin_labels(pd_entry),
                    "expected": pd_entry["proportions"], "actual": actual_pd.tolist()}
    report["features"].sort(key=lambda item: -item["psi"])
    return report


def calibration_report(pds: list[float], outcomes: list[bool], bands: int = 5) -> dict[str, Any]:
    """Predicted PD against observed default rate per PD quantile band."""
    if not pds:
        return {"rows": 0, "bands": []}
    pd_array, observed = np.asarray(pds, dtype=float), np.asarray(outcomes, dtype=float)
    order = np.argsort(pd_array, kind="stable")
    rows = []
    for chunk in np.array_split(order, min(bands, len(order))):
        rows.append({"n": int(chunk.size), "predicted": float(pd_array[chunk].mean()), "observed": float(observed[chunk].mean())})
    return {
        "rows": len(pds),
        "predicted_rate": float(pd_array.mean()),
        "observed_rate": float(observed.mean()),
        "brier": float(np.mean((pd_array - observed) ** 2)),
        "bands": rows,
    }


def protected_group(feature: Feature, value: Any) -> str:
    """The fairness group of a value: the code's meaning, or an age band for ages."""
    if value is None:
        return "missing"
    if feature.kind == "categorical":
        return feature.values.get(str(value), str(value))
    for low, high in AGE_BANDS:
        if low <= float(value) < high:
            return f"{low}-{high - 1}" if high < 200 else f"{low}+"
    return f"below {AGE_BANDS[0][0]}"


def fairness_report(schema: FeatureSchema, rows: list[dict[str, Any]], decisions: list[str]) -> list[dict[str, Any]]:
    """Per protected attribute: approval rate by group, its ratio to the best group, the flag."""
    report = []
    for f in schema.protected:
        groups: dict[str, list[int]] = {}
        for row, decision in zip(rows, decisions, strict=True):
            groups.setdefault(protected_group(f, row.get(f.name)), []).append(decision == "approve")
        rates = {g: sum(v) / len(v) for g, v in groups.items()}
        best = max(rates.values(), default=0.0)
        entries = [
            {"group": g, "n": len(groups[g]), "approval_rate": rates[g],
             "ratio": (rates[g] / best) if best > 0 else None,  # nobody approved: no ratio
             "flagged": best > 0 and rates[g] / best < FOUR_FIFTHS}
            for g in sorted(groups)
        ]
        report.append({"feature": f.name, "label": f.label, "groups": entries,
                       "flagged": any(e["flagged"] for e in entries)})
    return report
