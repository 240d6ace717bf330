"""CSV and SD-file exports of a job's results with every column, streamed row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from rdkit import Chem, rdBase

from solutions.molecules.models import ScreeningResult
from solutions.molecules.queries import DESCRIPTORS, RULES
from solutions.molecules.tasks import ENDPOINTS

BASE_COLUMNS = (
    "index", "name", "status", "error", "input", "canonical_smiles", "inchikey", "duplicate_of",
    "standardisation",
)  # fmt: skip


def export_columns() -> list[str]:
    columns = list(BASE_COLUMNS) + list(DESCRIPTORS)
    columns += [f"{rule}_pass" for rule in RULES] + ["alerts"]
    for key, _, _ in ENDPOINTS:
        columns += [key, f"{key}_uncertainty", f"{key}_in_domain", f"{key}_nearest_similarity"]
        columns.append(f"{key}_neighbour_estimate")
    return columns


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def row_values(row: ScreeningResult) -> dict[str, str]:
    """Every export column of one result row, as text."""
    values = {
        "index": row.index,
        "name": row.name,
        "status": row.status,
        "error": row.error,
        "input": row.input_text,
        "canonical_smiles": row.canonical_smiles,
        "inchikey": row.inchikey,
        "duplicate_of": row.duplicate_of,
        "standardisation": "; ".join(row.changes),
        "alerts": "; ".join(f"{a['catalog']}:{a['name']}" for a in row.alerts),
    }
    values.update({key: row.descriptors.get(key) for key in DESCRIPTORS})
    values.update({f"{rule}_pass": row.rules.get(rule, {}).get("pass") for rule in RULES})
    for key, _, _ in ENDPOINTS:
        prediction = row.predictions.get(key, {})
        values[key] = prediction.get("value")
        values[f"{key}_uncertainty"] = prediction.get("uncertainty")
        values[f"{key}_in_domain"] = prediction.get("in_domain")
        values[f"{key}_nearest_similarity"] = prediction.get("nearest_similarity")
        values[f"{key}_neighbour_estimate"] = prediction.get("neighbour_estimate")
    return {column: _fmt(value) for column, value in values.items()}


def csv_lines(rows: Iterable[ScreeningResult]) -> Iterator[str]:
    """The header and one CSV line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = export_columns()

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(columns)
    yield take()
    for row in rows:
        values = row_values(row)
        writer.writerow([values[c] for c in columns])
        yield take()


def sdf_records(rows: Iterable[ScreeningResult]) -> Iterator[str]:
    """One SD record per row: the standardised structure (an empty one for error rows) + columns."""
    columns = export_columns()
    for row in rows:
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(row.canonical_smiles) if row.canonical_smiles else None
        if mol is None:
            mol = Chem.Mol()
        mol.SetProp("_Name", row.name or f"row {row.index}")
        values = row_values(row)
        for column in columns:
            if values[column] != "":
                mol.SetProp(column, values[column].replace("\n", " "))
        buffer = io.StringIO()
        with Chem.SDWriter(buffer) as writer:
            writer.write(mol)
        yield buffer.getvalue()
