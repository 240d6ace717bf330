"""The screening job: stream each input file, analyse every row, predict, save rows in bulk.

Rows are processed in chunks of `CHUNK_SIZE`, so memory stays bounded however large the
library is; progress is the share of input bytes read. Every input row becomes exactly one
`ScreeningResult`, in input order; a row RDKit cannot read is saved with its error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quorum.jobs.runner import JobContext, JobFailed
from solutions.molecules.chemistry import MoleculeAnalysis, Standardizer, analyse_molecule
from solutions.molecules.models import ResultStatus, ScreeningResult
from solutions.molecules.parsing import InputError, InputRecord, read_molecules
from solutions.molecules.predict import PendingProperties, PropertyPredictor, load_predictor

CHUNK_SIZE = 256
Chunk = list[tuple[ScreeningResult, MoleculeAnalysis | None]]  # rows and their analyses


@dataclass
class ScreeningParams:
    smiles_column: str | None = None
    name_column: str | None = None
    canonical_tautomer: bool = False

    @classmethod
    def from_job(cls, params: dict[str, Any]) -> ScreeningParams:
        def text(key: str) -> str | None:
            value = params.get(key)
            if value is not None and not isinstance(value, str):
                raise JobFailed(f"the parameter {key} must be a column name (text)")
            return value or None

        tautomer = params.get("canonical_tautomer", False)
        if not isinstance(tautomer, bool):
            raise JobFailed("the parameter canonical_tautomer must be true or false")
        return cls(text("smiles_column"), text("name_column"), tautomer)


@dataclass
class RunTotals:
    molecules: int = 0
    ok: int = 0
    errors: int = 0
    duplicates: int = 0
    with_alerts: int = 0
    with_pains: int = 0
    rule_passes: dict[str, int] = field(default_factory=dict)

    def count(self, row: ScreeningResult) -> None:
        self.molecules += 1
        if row.status == ResultStatus.ERROR:
            self.errors += 1
            return
        self.ok += 1
        self.duplicates += row.duplicate_of is not None
        self.with_alerts += bool(row.alerts)
        self.with_pains += "|PAINS" in row.alert_index
        for rule, verdict in row.rules.items():
            self.rule_passes[rule] = self.rule_passes.get(rule, 0) + bool(verdict["pass"])


class Screener:
    """Turns input records into result rows for one job, flagging duplicates across its files."""

    def __init__(
        self,
        tenant: Any,
        job: Any,
        params: ScreeningParams,
        predictor: PropertyPredictor | None,
        adapter_id: str | None = None,
        store: Callable[[list[ScreeningResult]], Any] | None = None,
    ) -> None:
        self.tenant = tenant
        self.job = job
        self.standardizer = Standardizer(params.canonical_tautomer)
        self.predictor = predictor
        self.adapter_id = adapter_id
        self.first_index: dict[bytes, int] = {}  # digest of canonical SMILES -> first row index
        self.totals = RunTotals()
        self.store = store or ScreeningResult.objects.bulk_create  # writes a chunk's rows
        self.unsaved: tuple[Chunk, PendingProperties | None] | None = None

    def row(self, record: InputRecord, index: int, prefix: str) -> tuple[ScreeningResult, Any]:
        common = {
            "tenant": self.tenant, "job": self.job, "index": index,
            "input_text": record.text, "name": record.name[:255],
        }  # fmt: skip
        if record.mol is None:
            return ScreeningResult(
                **common, status=ResultStatus.ERROR, error=prefix + record.error
            ), None
        try:
            analysis = analyse_molecule(record.mol, self.standardizer)
        except (ValueError, RuntimeError) as exc:
            # RDKit raises on rare molecules it parsed but cannot standardise or describe.
            message = f"{prefix}{record.location}: could not be standardised: {exc}"
            return ScreeningResult(**common, status=ResultStatus.ERROR, error=message), None
        digest = hashlib.blake2b(analysis.canonical_smiles.encode(), digest_size=16).digest()
        first = self.first_index.setdefault(digest, index)
        return ScreeningResult(
            **common,
            status=ResultStatus.OK,
            canonical_smiles=analysis.canonical_smiles,
            inchikey=analysis.inchikey,
            duplicate_of=first if first != index else None,
            changes=analysis.changes,
            descriptors=analysis.descriptors,
            rules=analysis.rules,
            alerts=analysis.alerts,
            alert_index=alert_index(analysis.alerts),
            fingerprint=analysis.fingerprint,
        ), analysis

    def start_predictions(self, chunk: Chunk) -> PendingProperties | None:
        """Start the batched model call for the chunk's analysed rows; None without a model."""
        analysed = [a for _, a in chunk if a is not None]
        if self.predictor is None or not analysed:
            return None
        return self.predictor.submit(
            [a.mol for a in analysed], [a.fingerprint for a in analysed], self.adapter_id
        )

    @staticmethod
    def fill_predictions(chunk: Chunk, pending: PendingProperties | None) -> None:
        if pending is None:
            return
        analysed = [row for row, a in chunk if a is not None]
        for row, prediction in zip(analysed, pending.result(), strict=True):
            row.predictions = prediction

    def predict(self, chunk: Chunk) -> None:
        """Fill in the predictions of the chunk's analysed rows now."""
        self.fill_predictions(chunk, self.start_predictions(chunk))

    def save(self, chunk: Chunk) -> None:
        """Start the chunk's predictions and write the previous chunk, whose model call ran on
        the server's thread while this chunk was analysed; `flush` writes the last one."""
        pending = self.start_predictions(chunk)
        self.flush()
        self.unsaved = (chunk, pending)

    def flush(self) -> None:
        if self.unsaved is None:
            return
        chunk, pending = self.unsaved
        self.unsaved = None
        self.fill_predictions(chunk, pending)
        rows = [row for row, _ in chunk]
        self.store(rows)
        for row in rows:
            self.totals.count(row)


def alert_index(alerts: list[dict[str, Any]]) -> str:
    """'|CATALOG:name|...|' for substring filters; empty when there is no alert."""
    return "".join(f"|{a['catalog']}:{a['name']}" for a in alerts) + "|" if alerts else ""


def run(ctx: JobContext) -> dict[str, Any]:
    """Screen every molecule of the job's files; returns the run's summary."""
    params = ScreeningParams.from_job(ctx.params)
    if not ctx.files:
        raise JobFailed("The job has no input file: upload a SMILES, CSV, SD or JSON file.")
    predictor = load_predictor()
    adapter_id = None if ctx.adapter is None else str(getattr(ctx.adapter, "pk", ctx.adapter))
    screener = Screener(ctx.tenant, ctx.job, params, predictor, adapter_id)
    total_bytes = max(sum(f.size for f in ctx.files), 1)
    done_bytes = 0
    index = 0
    ctx.progress(0, "reading molecules")
    for job_file in ctx.files:
        prefix = f"{job_file.name}, " if len(ctx.files) > 1 else ""
        chunk: Chunk = []
        with ctx.open_file(job_file) as stream:
            try:
                records = read_molecules(
                    stream, job_file.name,
                    smiles_column=params.smiles_column, name_column=params.name_column,
                )  # fmt: skip
                for record in records:
                    chunk.append(screener.row(record, index, prefix))
                    index += 1
                    if len(chunk) >= CHUNK_SIZE:
                        screener.save(chunk)
                        chunk = []
                        percent = 100 * (done_bytes + stream.tell()) / total_bytes
                        ctx.progress(min(percent, 99), f"{index:,} molecules screened")
            except InputError as exc:
                raise JobFailed(f"{job_file.name}: {exc}") from None
            if chunk:
                screener.save(chunk)
        done_bytes += job_file.size
    screener.flush()
    totals = screener.totals
    ctx.progress(100, f"{totals.molecules:,} molecules screened")
    return {
        "molecules": totals.molecules,
        "ok": totals.ok,
        "errors": totals.errors,
        "duplicates": totals.duplicates,
        "with_alerts": totals.with_alerts,
        "with_pains": totals.with_pains,
        "rule_passes": totals.rule_passes,
        "model": str(predictor.checkpoint_dir.name) if predictor else None,
        "canonical_tautomer": params.canonical_tautomer,
    }


def clear_results(job: Any) -> None:
    """Delete a job's result rows (the runner calls this before each attempt)."""
    ScreeningResult.objects.filter(job=job).delete()
