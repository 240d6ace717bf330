"""Standardisation, identifiers, descriptors, drug-likeness rules and structural alerts.

Everything a screening row needs from RDKit, computed on the standardised parent molecule:
`analyse_molecule(mol)` returns a `MoleculeAnalysis` with the canonical SMILES, InChIKey,
Morgan fingerprint, descriptors, rule verdicts and alert matches. Atom indices in alerts refer
to the atoms of the canonical SMILES in order, so depictions drawn from it highlight the right atoms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.FilterCatalog import (
    FilterCatalog,
    FilterCatalogEntry,
    FilterCatalogParams,
    SmartsMatcher,
)
from rdkit.Chem.MolStandardize import rdMolStandardize

FINGERPRINT_BITS = 2048
FINGERPRINT_RADIUS = 2
ALERT_CATALOGS = ("PAINS_A", "PAINS_B", "PAINS_C", "BRENK", "NIH")

# Drug-likeness rules, each as (descriptor, low, high); a bound of None is open.
# Lipinski's rule of five: Lipinski et al., Adv. Drug Deliv. Rev. 23, 3-25 (1997); one violation allowed.
LIPINSKI = (("mw", None, 500.0), ("clogp", None, 5.0), ("hbd", None, 5), ("hba", None, 10))
# Veber et al., J. Med. Chem. 45, 2615-2623 (2002): oral bioavailability in rats.
VEBER = (("rotatable_bonds", None, 10), ("tpsa", None, 140.0))
# Egan et al., J. Med. Chem. 43, 3867-3877 (2000): the absorption "egg" (WLOGP vs TPSA).
EGAN = (("tpsa", None, 131.6), ("clogp", None, 5.88))
# Bioavailability radar of SwissADME: Daina, Michielin & Zoete, Sci. Rep. 7, 42717 (2017).
# LIPO uses Crippen logP (SwissADME uses XLOGP3), INSOLU the ESOL equation below.
RADAR = (
    ("clogp", -0.7, 5.0),  # LIPO
    ("mw", 150.0, 500.0),  # SIZE
    ("tpsa", 20.0, 130.0),  # POLAR
    ("esol_logs", -6.0, 0.0),  # INSOLU
    ("fsp3", 0.25, 1.0),  # INSATU
    ("rotatable_bonds", 0, 9),  # FLEX
)
RADAR_AXES = ("LIPO", "SIZE", "POLAR", "INSOLU", "INSATU", "FLEX")


@dataclass
class MoleculeAnalysis:
    mol: Chem.Mol  # the standardised parent, atoms in canonical SMILES order
    canonical_smiles: str
    inchikey: str
    fingerprint: bytes  # Morgan bits packed (numpy.packbits order), as stored on a result row
    changes: list[str]  # what standardisation did: "salt stripped", "neutralised", ...
    descriptors: dict[str, float]
    rules: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)


class Standardizer:
    """rdMolStandardize: cleanup, parent fragment, uncharge and optionally canonical tautomer."""

    def __init__(self, canonical_tautomer: bool = False) -> None:
        self.canonical_tautomer = canonical_tautomer
        self._fragment_chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        self._uncharger = rdMolStandardize.Uncharger(canonicalOrder=True)
        self._tautomers = rdMolStandardize.TautomerEnumerator() if canonical_tautomer else None

    def standardize(self, mol: Chem.Mol) -> tuple[Chem.Mol, list[str]]:
        """The standardised parent of `mol` and a list of what changed."""
        changes: list[str] = []
        with rdBase.BlockLogs():
            clean = rdMolStandardize.Cleanup(mol)
            fragments = len(Chem.GetMolFrags(clean))
            parent = self._fragment_chooser.choose(clean) if fragments > 1 else clean
            if fragments > 1:
                changes.append(f"kept the largest of {fragments} fragments (salt/solvent stripped)")
            charged = _charged_atoms(parent)
            if charged:
                parent = self._uncharger.uncharge(parent)
                if _charged_atoms(parent) < charged:
                    changes.append("neutralised")
            if self._tautomers is not None:
                before = Chem.MolToSmiles(parent)
                parent = self._tautomers.Canonicalize(parent)
                if Chem.MolToSmiles(parent) != before:
                    changes.append("canonical tautomer")
        return parent, changes


def _charged_atoms(mol: Chem.Mol) -> int:
    return sum(1 for atom in mol.GetAtoms() if atom.GetFormalCharge())


_MORGAN = rdFingerprintGenerator.GetMorganGenerator(
    radius=FINGERPRINT_RADIUS, fpSize=FINGERPRINT_BITS
)


def morgan_fingerprint(mol: Chem.Mol) -> DataStructs.ExplicitBitVect:
    return _MORGAN.GetFingerprint(mol)


def morgan_bits(mol: Chem.Mol) -> np.ndarray:
    """The Morgan fingerprint as a (FINGERPRINT_BITS,) uint8 0/1 array."""
    return bitvect_to_array(morgan_fingerprint(mol))


def bitvect_to_array(fingerprint: DataStructs.ExplicitBitVect) -> np.ndarray:
    bits = np.zeros(fingerprint.GetNumBits(), dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(fingerprint, bits)
    return bits


def packed_fingerprint(mol: Chem.Mol) -> bytes:
    return np.packbits(morgan_bits(mol)).tobytes()


class FingerprintSet:
    """Packed fingerprints (N, bytes) uint8 held as 64-bit words with their bit counts, so one
    query's Tanimoto similarity to every row is an AND and a popcount per word."""

    def __init__(self, packed: np.ndarray) -> None:
        rows = np.ascontiguousarray(packed, dtype=np.uint8)
        # (bytes / 8, N): word k of every row is contiguous, so a query's word k is ANDed with
        # all rows at once and no per-row reduction is needed.
        self.words = np.ascontiguousarray(rows.view(np.uint64).T)
        self.counts = np.bitwise_count(self.words).sum(axis=0, dtype=np.int64)  # (N,)

    def __len__(self) -> int:
        return self.counts.shape[0]

    def similarity(self, query: bytes | np.ndarray) -> np.ndarray:
        """(N,) Tanimoto similarity of one packed fingerprint to each row."""
        packed = np.frombuffer(query, dtype=np.uint8) if isinstance(query, bytes) else query
        words = np.ascontiguousarray(packed, dtype=np.uint8).view(np.uint64)
        both = np.zeros(self.counts.shape[0], dtype=np.int64)
        common = np.empty(self.counts.shape[0], dtype=np.uint64)
        for row, word in zip(self.words, words, strict=True):
            if word:  # a query word with no bits set adds nothing
                np.bitwise_and(row, word, out=common)
                both += np.bitwise_count(common)
        either = self.counts + int(np.bitwise_count(words).sum()) - both
        return np.where(either > 0, both / np.maximum(either, 1), 0.0)

    def similarity_matrix(self, queries: list[bytes]) -> np.ndarray:
        """(M, N) Tanimoto similarity of each of M packed fingerprints to each row."""
        if not queries:
            return np.zeros((0, len(self)))
        return np.stack([self.similarity(query) for query in queries])


def nearest_per_group(similarity: np.ndarray, group_starts: np.ndarray) -> np.ndarray:
    """(M, G) from a similarity matrix (M, N): the largest similarity within each group of
    consecutive columns, group g starting at column group_starts[g] (increasing; a group with
    no columns gives 0)."""
    ends = np.append(group_starts[1:], similarity.shape[1])
    nearest = np.zeros((similarity.shape[0], len(group_starts)))
    filled = ends > group_starts
    if filled.any() and similarity.shape[0]:
        nearest[:, filled] = np.maximum.reduceat(similarity, group_starts[filled], axis=1)
    return nearest


def tanimoto(query: bytes | np.ndarray, packed: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of one packed fingerprint to each row of `packed` (N, bytes) uint8."""
    return FingerprintSet(packed).similarity(query)


def esol_logs(mol: Chem.Mol, clogp: float, mw: float, rotatable: int) -> float:
    """Delaney's ESOL equation (J. Chem. Inf. Comput. Sci. 44, 1000 (2004)), log10 mol/L."""
    heavy = mol.GetNumHeavyAtoms()
    aromatic = sum(1 for atom in mol.GetAtoms() if atom.GetIsAromatic())
    proportion = aromatic / heavy if heavy else 0.0
    return 0.16 - 0.63 * clogp - 0.0062 * mw + 0.066 * rotatable - 0.74 * proportion


def qed(mol: Chem.Mol, clogp: float | None = None) -> float:
    """RDKit's QED (Bickerton et al., Nat. Chem. 4, 90 (2012)) with its eight properties computed
    as QED.properties does, but on `mol` itself when it has no explicit hydrogens (QED.properties
    copies it, losing RDKit's cached logP), with a known `clogp` reused and the 116 unwanted-
    substructure alerts matched in one FilterCatalog call."""
    if any(atom.GetAtomicNum() == 1 for atom in mol.GetAtoms()):
        mol, clogp = Chem.RemoveHs(mol), None
    properties = QED.QEDproperties(
        MW=rdMolDescriptors._CalcMolWt(mol),
        ALOGP=Crippen.MolLogP(mol) if clogp is None else clogp,
        HBA=sum(len(mol.GetSubstructMatches(pattern)) for pattern in QED.Acceptors),
        HBD=rdMolDescriptors.CalcNumHBD(mol),
        PSA=rdMolDescriptors.CalcTPSA(mol),
        ROTB=rdMolDescriptors.CalcNumRotatableBonds(mol, rdMolDescriptors.NumRotatableBondsOptions.Strict),
        AROM=len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings))),
        ALERTS=len(_qed_alerts().GetMatches(mol)),
    )
    return QED.qed(mol, qedProperties=properties)


def compute_descriptors(mol: Chem.Mol) -> dict[str, float]:
    mw = Descriptors.MolWt(mol)
    clogp = Crippen.MolLogP(mol)
    rotatable = rdMolDescriptors.CalcNumRotatableBonds(mol)
    with rdBase.BlockLogs():
        qed_score = qed(mol, clogp)
    return {
        "mw": round(mw, 3),
        "clogp": round(clogp, 3),
        "tpsa": round(rdMolDescriptors.CalcTPSA(mol), 2),
        "hbd": rdMolDescriptors.CalcNumHBD(mol),
        "hba": rdMolDescriptors.CalcNumHBA(mol),
        "rotatable_bonds": rotatable,
        "fsp3": round(rdMolDescriptors.CalcFractionCSP3(mol), 3),
        "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings(mol),
        "heavy_atoms": mol.GetNumHeavyAtoms(),
        "qed": round(qed_score, 3),
        "esol_logs": round(esol_logs(mol, clogp, mw, rotatable), 3),
    }


def _check(descriptors: dict[str, float], bounds: tuple) -> list[str]:
    """The violated bounds of a rule, as readable strings ("mw 612.3 > 500")."""
    violations = []
    for key, low, high in bounds:
        value = descriptors[key]
        if low is not None and value < low:
            violations.append(f"{key} {value:g} < {low:g}")
        if high is not None and value > high:
            violations.append(f"{key} {value:g} > {high:g}")
    return violations


def evaluate_rules(descriptors: dict[str, float]) -> dict[str, Any]:
    """Verdicts of Lipinski, Veber, Egan and the bioavailability radar on a descriptor dict."""
    lipinski = _check(descriptors, LIPINSKI)
    veber = _check(descriptors, VEBER)
    egan = _check(descriptors, EGAN)
    radar_axes = {}
    for axis, (key, low, high) in zip(RADAR_AXES, RADAR, strict=True):
        value = descriptors[key]
        radar_axes[axis] = {
            "property": key,
            "value": value,
            "low": low,
            "high": high,
            "pass": low <= value <= high,
        }
    return {
        "lipinski": {"pass": len(lipinski) <= 1, "violations": lipinski},
        "veber": {"pass": not veber, "violations": veber},
        "egan": {"pass": not egan, "violations": egan},
        "radar": {
            "pass": all(a["pass"] for a in radar_axes.values()),
            "violations": [a for a, v in radar_axes.items() if not v["pass"]],
            "axes": radar_axes,
        },
    }


# A FilterCatalogEntry holding one SMARTS matcher serialises (a boost text archive) as this
# header, then "<length> <RDKit mol binary> <min count> <max count>" and the entry's properties.
_SMARTS_ENTRY_HEADER = re.compile(rb"22 serialization::archive \d+ 1 1\n0 0 1 4 1 1\n1 0 0 (\d+) ")
_LENGTH = re.compile(rb"(\d+) ")
_COUNTS = re.compile(rb" (\d+) (\d+) ")
PATTERN_FINGERPRINT_BITS = 2048


def _entry_pattern(entry: FilterCatalogEntry) -> Chem.Mol | None:
    """The query molecule of an entry that is one SMARTS pattern needed at least once; None for
    any other entry (those are always matched in full)."""
    data = entry.Serialize()
    header = _SMARTS_ENTRY_HEADER.match(data)
    if header is None:
        return None
    at = header.end() + int(header.group(1)) + 1  # past the matcher's name
    length = _LENGTH.match(data, at)
    if length is None:
        return None
    start, end = length.end(), length.end() + int(length.group(1))
    counts = _COUNTS.match(data, end)
    if counts is None or int(counts.group(1)) < 1:
        return None
    try:
        return Chem.Mol(data[start:end])
    except RuntimeError:
        return None


def _fingerprint_words(fingerprint: DataStructs.ExplicitBitVect) -> np.ndarray:
    return np.packbits(bitvect_to_array(fingerprint)).view(np.uint64)


class AlertCatalog:
    """RDKit's FilterCatalog for PAINS A/B/C, Brenk and NIH, giving what its GetMatches gives,
    about twice as fast: each alert's pattern is screened first with RDKit's substructure
    (pattern) fingerprint, since a pattern whose fingerprint bits are not all set in the
    molecule's cannot match it. About a quarter of the 765 alerts pass to the full match.
    """

    def __init__(self, catalog: FilterCatalog) -> None:
        self.entries = [catalog.GetEntryWithIdx(i) for i in range(catalog.GetNumEntries())]
        patterns = [_entry_pattern(entry) for entry in self.entries]
        self._screened = np.array([i for i, p in enumerate(patterns) if p is not None], dtype=np.int64)
        self._unscreened = [i for i, p in enumerate(patterns) if p is None]
        self._pattern_words = np.stack([
            _fingerprint_words(Chem.PatternFingerprint(p, fpSize=PATTERN_FINGERPRINT_BITS))
            for p in patterns if p is not None
        ])  # (screened, PATTERN_FINGERPRINT_BITS / 64)

    def matches(self, mol: Chem.Mol) -> list[FilterCatalogEntry]:
        """The entries that match `mol`, in catalog order."""
        # On a copy: PatternFingerprint may re-perceive the rings of the molecule it is given,
        # and ring-size queries ([r7]) matched afterwards would see the new rings.
        fingerprint = Chem.PatternFingerprint(Chem.Mol(mol), fpSize=PATTERN_FINGERPRINT_BITS)
        words = _fingerprint_words(fingerprint)
        possible = ((self._pattern_words & words) == self._pattern_words).all(axis=1)
        candidates = sorted([*self._screened[possible].tolist(), *self._unscreened])
        return [self.entries[i] for i in candidates if self.entries[i].HasFilterMatch(mol)]


def alert_filter_catalog() -> FilterCatalog:
    """RDKit's FilterCatalog of the ALERT_CATALOGS."""
    params = FilterCatalogParams()
    for name in ALERT_CATALOGS:
        params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name))
    return FilterCatalog(params)


def _qed_filter_catalog() -> FilterCatalog:
    catalog = FilterCatalog()
    for i, smarts in enumerate(QED.StructuralAlertSmarts):
        catalog.AddEntry(FilterCatalogEntry(f"qed-{i}", SmartsMatcher(f"qed-{i}", smarts, 1)))
    return catalog


@cache
def _screened_alerts() -> AlertCatalog:
    """Built on first use: screening the 765 patterns takes a quarter of a second, which a
    process that never analyses a molecule (a web server) need not pay."""
    return AlertCatalog(alert_filter_catalog())


@cache
def _qed_alerts() -> FilterCatalog:
    return _qed_filter_catalog()  # not screened: a screen's fingerprint costs more than 116 matches save


def find_alerts(mol: Chem.Mol) -> list[dict[str, Any]]:
    """PAINS A/B/C, Brenk and NIH matches: catalog, alert name and matched atom indices.

    Only the few matching entries are asked for their atoms (asking every entry for atom
    matches is several times slower).
    """
    found = []
    for entry in _screened_alerts().matches(mol):
        atoms = sorted({pair.target for m in entry.GetFilterMatches(mol) for pair in m.atomPairs})
        found.append(
            {
                "catalog": entry.GetProp("FilterSet").upper(),
                "name": entry.GetDescription(),
                "atoms": atoms,
            }
        )
    return found


def _in_canonical_order(mol: Chem.Mol) -> tuple[Chem.Mol, str]:
    """The molecule renumbered to its canonical SMILES atom order, and that SMILES."""
    smiles = Chem.MolToSmiles(mol)
    order = mol.GetProp("_smilesAtomOutputOrder")
    ranks = [int(i) for i in order.strip("[]").split(",") if i]
    return Chem.RenumberAtoms(mol, ranks), smiles


def analyse_molecule(mol: Chem.Mol, standardizer: Standardizer) -> MoleculeAnalysis:
    """Standardise a parsed molecule and compute everything a screening row shows."""
    parent, changes = standardizer.standardize(mol)
    parent, smiles = _in_canonical_order(parent)
    with rdBase.BlockLogs():
        inchikey = Chem.MolToInchiKey(parent) or ""
    descriptors = compute_descriptors(parent)
    return MoleculeAnalysis(
        mol=parent,
        canonical_smiles=smiles,
        inchikey=inchikey,
        fingerprint=packed_fingerprint(parent),
        changes=changes,
        descriptors=descriptors,
        rules=evaluate_rules(descriptors),
        alerts=find_alerts(parent),
    )
