"""Filtering, sorting and searching a job's screening results (shared by the API and the pages).

Filters come from query parameters: status, duplicates, rule verdicts, alerts, name, and
min_<property> / max_<property> for any descriptor or prediction; sort=<property> or
-<property>. Similarity (Tanimoto on Morgan fingerprints) and substructure (SMARTS) searches
scan the job's rows in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from django.db.models import F, FloatField, QuerySet
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from rdkit import Chem, rdBase

from solutions.molecules.chemistry import ALERT_CATALOGS, Standardizer, analyse_molecule, tanimoto
from solutions.molecules.models import ResultStatus, ScreeningResult
from solutions.molecules.parsing import captured_log, mol_from_smiles

RULES = ("lipinski", "veber", "egan", "radar")
DESCRIPTORS = (
    "mw", "clogp", "tpsa", "hbd", "hba", "rotatable_bonds", "fsp3", "aromatic_rings",
    "heavy_atoms", "qed", "esol_logs",
)  # fmt: skip
PLAIN_SORTS = {"index": "index", "name": "name", "status": "status", "alerts": "alert_index"}
SCAN_CHUNK = 2000
MAX_SEARCH_HITS = 500


class QueryError(ValueError):
    """A filter, sort or search parameter that cannot be applied; the message says why."""


def _property_expression(name: str) -> Cast:
    """A float expression for a descriptor ('mw') or a prediction ('esol', 'tox21_NR-AR')."""
    if name in DESCRIPTORS:
        return Cast(KeyTextTransform(name, "descriptors"), FloatField())
    return Cast(KeyTextTransform("value", KeyTransform(name, "predictions")), FloatField())


def _is_property(name: str, endpoints: set[str]) -> bool:
    return name in DESCRIPTORS or name in endpoints


def _number(key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise QueryError(f"{key} must be a number, got {raw!r}") from None


def filter_results(
    rows: QuerySet[ScreeningResult], params: Mapping[str, str], endpoints: set[str]
) -> QuerySet[ScreeningResult]:
    """Apply the filters named in `params` (unknown keys are ignored: pagination, sort)."""
    status = params.get("status")
    if status:
        if status not in ResultStatus.values:
            raise QueryError(f"status must be one of {', '.join(ResultStatus.values)}")
        rows = rows.filter(status=status)
    duplicate = params.get("duplicate")
    if duplicate in ("true", "false"):
        rows = rows.filter(duplicate_of__isnull=duplicate == "false")
    for rule in RULES:
        verdict = params.get(rule)
        if verdict:
            if verdict not in ("pass", "fail"):
                raise QueryError(f"{rule} must be 'pass' or 'fail'")
            rows = rows.filter(
                status=ResultStatus.OK, **{f"rules__{rule}__pass": verdict == "pass"}
            )
    alert = params.get("alert")
    if alert:
        rows = _filter_alert(rows, alert)
    name = params.get("q")
    if name:
        rows = rows.filter(name__icontains=name)
    for key, raw in params.items():
        bound, _, prop = key.partition("_")
        if bound not in ("min", "max") or not prop or raw == "":
            continue
        if not _is_property(prop, endpoints):
            raise QueryError(f"{key}: there is no property {prop!r}")
        value = _number(key, raw)
        annotation = f"filter_{bound}_{prop}"
        rows = rows.annotate(**{annotation: _property_expression(prop)})
        rows = rows.filter(**{f"{annotation}__{'gte' if bound == 'min' else 'lte'}": value})
    return rows


def _filter_alert(rows: QuerySet[ScreeningResult], alert: str) -> QuerySet[ScreeningResult]:
    """any / none / a catalog family (PAINS, PAINS_A, BRENK, NIH) / an alert name."""
    if alert == "any":
        return rows.exclude(alert_index="")
    if alert == "none":
        return rows.filter(status=ResultStatus.OK, alert_index="")
    family = alert.upper()
    if family == "PAINS" or family in ALERT_CATALOGS:
        return rows.filter(alert_index__contains=f"|{family}")
    return rows.filter(alert_index__contains=f":{alert}|")


def order_results(
    rows: QuerySet[ScreeningResult], sort: str | None, endpoints: set[str]
) -> QuerySet[ScreeningResult]:
    """Order by a property, name or index; missing values go last, input order breaks ties."""
    if not sort:
        return rows.order_by("index")
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key in PLAIN_SORTS:
        field = F(PLAIN_SORTS[key])
    elif _is_property(key, endpoints):
        rows = rows.annotate(sort_value=_property_expression(key))
        field = F("sort_value")
    else:
        raise QueryError(f"cannot sort by {key!r}")
    ordering = field.desc(nulls_last=True) if descending else field.asc(nulls_last=True)
    return rows.order_by(ordering, "index")


@dataclass
class SearchHit:
    row: ScreeningResult
    similarity: float | None = None


def _scan(rows: QuerySet[ScreeningResult]) -> Iterator[list[ScreeningResult]]:
    """The job's analysed rows in chunks of SCAN_CHUNK, by input order (bounded memory)."""
    chunk: list[ScreeningResult] = []
    for row in (
        rows.filter(status=ResultStatus.OK).order_by("index").iterator(chunk_size=SCAN_CHUNK)
    ):
        chunk.append(row)
        if len(chunk) == SCAN_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def similarity_search(
    rows: QuerySet[ScreeningResult], smiles: str, threshold: float = 0.4
) -> list[SearchHit]:
    """Rows whose Morgan Tanimoto similarity to `smiles` is at least `threshold`, best first."""
    if not 0.0 <= threshold <= 1.0:
        raise QueryError("threshold must be between 0 and 1")
    mol, reason = mol_from_smiles(smiles)
    if mol is None:
        raise QueryError(f"the query SMILES {smiles!r} could not be parsed: {reason}")
    query = analyse_molecule(mol, Standardizer()).fingerprint
    hits: list[SearchHit] = []
    for chunk in _scan(rows.defer("descriptors", "rules", "predictions")):
        packed = np.frombuffer(b"".join(bytes(r.fingerprint) for r in chunk), dtype=np.uint8)
        scores = tanimoto(query, packed.reshape(len(chunk), -1))
        hits.extend(
            SearchHit(row, round(float(score), 4))
            for row, score in zip(chunk, scores, strict=True)
            if score >= threshold
        )
    hits.sort(key=lambda hit: (-hit.similarity, hit.row.index))
    return hits[:MAX_SEARCH_HITS]


def substructure_search(rows: QuerySet[ScreeningResult], smarts: str) -> list[SearchHit]:
    """Rows whose standardised structure contains the SMARTS pattern, in input order."""
    with rdBase.CaptureErrorLog() as capture:
        pattern = Chem.MolFromSmarts(smarts) if smarts.strip() else None
    if pattern is None:
        reason = captured_log(capture).strip().splitlines()[-1:] or ["it is empty"]
        raise QueryError(f"the SMARTS {smarts!r} could not be parsed: {reason[0]}")
    hits: list[SearchHit] = []
    for chunk in _scan(rows.only("id", "index", "name", "canonical_smiles", "job_id", "tenant_id")):
        for row in chunk:
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(row.canonical_smiles)
            if mol is not None and mol.HasSubstructMatch(pattern):
                hits.append(SearchHit(row))
                if len(hits) >= MAX_SEARCH_HITS:
                    return hits
    return hits
