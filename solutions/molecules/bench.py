"""Throughput of the screening pipeline against RDKit's own floor on the same molecules.

    python -m solutions.molecules.bench [--data PATH] [--molecules N]

Floor: RDKit alone parses each SMILES, standardises it (cleanup, parent fragment, uncharge),
computes the Morgan fingerprint and runs the PAINS/Brenk/NIH FilterCatalog. Pipeline: our
streaming reader, standardisation, canonical SMILES, InChIKey, descriptors, QED, rules, alerts
with atoms (the same matches as the floor's FilterCatalog, each alert screened first by pattern
fingerprint: chemistry.AlertCatalog), fingerprints, duplicate check, and the batched model predictions with the
applicability domain, building the result rows (the database write is left out, so the figure
is the worker's compute). As in the job, each chunk's model call runs on the model server's thread
while the next chunk is analysed. Writes docs/benchmarks/molecules.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform as host_platform
import statistics
import time
from pathlib import Path

import django
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.MolStandardize import rdMolStandardize

from solutions.molecules.chemistry import alert_filter_catalog
from solutions.molecules.parsing import read_smiles_file

REPO = Path(__file__).resolve().parents[2]


def _library(data_dir: Path, count: int) -> list[str]:
    """SMILES lines from the Lipophilicity and Tox21 files (drug-like and environmental)."""
    smiles: list[str] = []
    for name in ("lipophilicity_train.csv", "tox21_train.csv"):
        path = data_dir / name
        if path.is_file():
            with open(path, newline="") as handle:
                smiles += [row["smiles"] for row in csv.DictReader(handle)]
    if not smiles:
        sample = (REPO / "solutions" / "molecules" / "samples" / "drugs.smi").read_bytes()
        smiles = [r.text for r in read_smiles_file(io.BytesIO(sample)) if r.mol is not None]
    return (smiles * (count // len(smiles) + 1))[:count]


def rdkit_floor(smiles: list[str]) -> float:
    """Molecules per second of RDKit's parse + standardise + fingerprint + alerts."""
    catalog = alert_filter_catalog()  # RDKit's own FilterCatalog, matched entry by entry
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
    uncharger = rdMolStandardize.Uncharger()
    started = time.perf_counter()
    with rdBase.BlockLogs():
        for text in smiles:
            mol = Chem.MolFromSmiles(text)
            if mol is None:
                continue
            mol = uncharger.uncharge(chooser.choose(rdMolStandardize.Cleanup(mol)))
            generator.GetFingerprint(mol)
            catalog.GetMatches(mol)
    return len(smiles) / (time.perf_counter() - started)


def pipeline_rate(smiles: list[str]) -> tuple[float, bool]:
    """Molecules per second of the screening pipeline's compute; and whether a model ran."""
    # The solution's modules define Django models: imported once django.setup() has run.
    from solutions.molecules.pipeline import CHUNK_SIZE, Screener, ScreeningParams
    from solutions.molecules.predict import load_predictor

    predictor = load_predictor()
    if predictor is not None:  # load and warm the model outside the timing
        screener = Screener(None, None, ScreeningParams(), predictor)
        records = read_smiles_file(io.BytesIO("\n".join(smiles[:64]).encode()))
        screener.predict([screener.row(r, r.index, "") for r in records])
    screener = Screener(None, None, ScreeningParams(), predictor, store=lambda rows: None)
    stream = io.BytesIO(("\n".join(smiles) + "\n").encode())
    started = time.perf_counter()
    chunk = []
    for record in read_smiles_file(stream):
        chunk.append(screener.row(record, record.index, ""))
        if len(chunk) >= CHUNK_SIZE:
            screener.save(chunk)  # as the job does: the model runs while the next chunk is analysed
            chunk = []
    screener.save(chunk)
    screener.flush()
    return len(smiles) / (time.perf_counter() - started), predictor is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "molecules")
    parser.add_argument("--molecules", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    django.setup()

    smiles = _library(args.data, args.molecules)
    # The CPU is shared: alternate the two measurements and keep each one's median.
    floors, rates = [], []
    for _ in range(args.rounds):
        floors.append(rdkit_floor(smiles))
        rate, with_model = pipeline_rate(smiles)
        rates.append(rate)
    floor, ours = statistics.median(floors), statistics.median(rates)
    ratio = ours / floor
    result = {
        "molecules": len(smiles),
        "rdkit_floor_mol_per_s": round(floor, 1),
        "pipeline_mol_per_s": round(ours, 1),
        "ratio": round(ratio, 3),
        "rounds": args.rounds,
        "ratio_per_round": [round(r / f, 3) for f, r in zip(floors, rates, strict=True)],
        "with_model": with_model,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": host_platform.machine(),
    }
    table = "\n".join([
        "# Molecule screening throughput",
        "",
        f"{len(smiles)} molecules (Lipophilicity + Tox21 SMILES), {os.cpu_count()} CPU cores "
        f"shared with other work, torch threads {torch.get_num_threads()}; medians of {args.rounds} "
        "alternating rounds. Command: `python -m solutions.molecules.bench`.",
        "",
        "| what | molecules/s |",
        "| --- | --- |",
        f"| RDKit floor: parse + standardise + Morgan fingerprint + PAINS/Brenk/NIH alerts | {floor:.1f} |",
        f"| screening pipeline (everything above + InChIKey, descriptors, QED, rules, alert atoms,"
        f" duplicates, {'model predictions + domain' if with_model else 'no model installed'})"
        f" | {ours:.1f} |",
        f"| ratio pipeline / floor | {ratio:.2f} (aim: at least 0.5) |",
        "",
    ])  # fmt: skip
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "molecules.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "molecules.md").write_text(table)


if __name__ == "__main__":
    main()
