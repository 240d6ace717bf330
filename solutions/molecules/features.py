"""Featurisation of molecules for the engine's graph encoder.

Each heavy atom becomes a token whose features are small categorical indices (0 = padding or
unknown): element, degree, formal charge, hybridisation, aromaticity, ring membership and size,
hydrogens, chirality, the atom's Crippen logP and TPSA contributions (binned), and a few binned
whole-molecule descriptors repeated on every atom. The attention bias comes from the topological
distance matrix. `collate_graphs` pads a list of featurised molecules into one batch with keys
atom_features (B, N, Fa) long, atom_mask (B, N) bool and distances (B, N, N) float.

`GlobalFeatures` describes the whole molecule for the engine's CLS token (the batch key
global_features (B, F) float): RDKit's 2D descriptors, each mapped through its training-set
distribution (the empirical CDF, as Chemprop's normalised descriptors), beside log counts of
folded Morgan substructures. A checkpoint keeps the fitted form in `global_features.json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.EState import EState

from solutions.molecules.chemistry import esol_logs

MAX_ATOMS = (
    64  # larger molecules keep their first MAX_ATOMS atoms (canonical order) and are flagged
)

ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "H", "Na", "K", "Sn")
HYBRIDISATIONS = (
    Chem.HybridizationType.S,
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
)
CHIRAL_TAGS = (
    Chem.ChiralType.CHI_UNSPECIFIED,
    Chem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW,
)


def _bin(value: float, low: float, high: float, n_bins: int) -> int:
    """1-based bin of value in [low, high) cut into n_bins; values outside go to the end bins."""
    position = int((value - low) / (high - low) * n_bins)
    return min(max(position, 0), n_bins - 1) + 1


# Feature name -> number of values (excluding 0); the order is the column order of atom_features.
ATOM_FEATURES: dict[str, int] = {
    "element": len(ELEMENTS) + 1,  # last value: any other element
    "degree": 7,  # 0..6+
    "formal_charge": 5,  # -2..+2
    "hybridisation": len(HYBRIDISATIONS) + 1,
    "aromatic": 2,
    "ring_size": 7,  # not in ring, 3, 4, 5, 6, 7, 8+
    "hydrogens": 5,  # 0..4+
    "chirality": len(CHIRAL_TAGS) + 1,
    "crippen_logp": 16,  # per-atom contribution, binned over [-1.5, 1.5)
    "tpsa": 8,  # per-atom contribution: 0, then bins over (0, 28)
    "mol_clogp": 24,  # whole-molecule Crippen logP over [-4, 8)
    "mol_mw": 24,  # molecular weight over [0, 720) Da
    "mol_tpsa": 20,  # TPSA over [0, 200) A^2
    "mol_heavy_atoms": 20,  # heavy atoms over [0, 80)
    "mol_hbd": 6,  # 0..5+
    "mol_rotatable": 12,  # 0..11+
    "mol_aromatic_share": 10,  # aromatic share of heavy atoms over [0, 1]
    "mol_esol": 24,  # Delaney's ESOL equation estimate of logS over [-10, 2)
}
ATOM_FEATURE_CARDINALITIES = list(ATOM_FEATURES.values())


# Left out of the descriptors: the slowest to compute (QED, SPS, Bertz, BCUT2D, together about
# half of the time) and Ipc, whose values overflow any scale.
SLOW_OR_UNBOUNDED = {"qed", "SPS", "BertzCT", "Ipc", "AvgIpc"}
DESCRIPTOR_NAMES = tuple(
    name
    for name, _ in Descriptors._descList
    if name not in SLOW_OR_UNBOUNDED and not name.startswith("BCUT2D")
)
_DESCRIPTOR_FUNCTIONS = dict(Descriptors._descList)
# RDKit computes the E-state indices anew for each of these four; they read one vector here.
_ESTATE_SUMMARIES = {
    "MaxEStateIndex": max,
    "MinEStateIndex": min,
    "MaxAbsEStateIndex": lambda indices: max(abs(x) for x in indices),
    "MinAbsEStateIndex": lambda indices: min(abs(x) for x in indices),
}
GLOBAL_FEATURES_FILE = "global_features.json"  # in a checkpoint folder
MORGAN_COUNT_BITS = 1024  # folded Morgan (r=2) substructure counts
N_QUANTILES = 101  # points of each descriptor's stored training distribution
_MORGAN_COUNTS = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=MORGAN_COUNT_BITS)


def raw_descriptors(mol: Chem.Mol, names: tuple[str, ...] = DESCRIPTOR_NAMES) -> np.ndarray:
    """(len(names),) float64 descriptor values; NaN where RDKit fails or lacks the name."""
    values = np.full(len(names), math.nan)
    estate_indices = None
    with rdBase.BlockLogs():
        for i, name in enumerate(names):
            function = _DESCRIPTOR_FUNCTIONS.get(name)
            if function is None:
                continue
            try:
                if name in _ESTATE_SUMMARIES:
                    if estate_indices is None:
                        estate_indices = EState.EStateIndices(mol)
                    values[i] = _ESTATE_SUMMARIES[name](estate_indices)
                else:
                    values[i] = function(mol)
            except (ValueError, RuntimeError, ZeroDivisionError, OverflowError):
                continue
    values[~np.isfinite(values)] = math.nan
    return values


@dataclass
class GlobalFeatures:
    """The whole-molecule vector: descriptor CDFs, then log1p of folded Morgan counts.

    Each descriptor becomes sqrt(3) * (2u - 1) with u its quantile among the training
    molecules (ties share their middle rank), so every column is bounded, roughly unit
    variance, and one outlier cannot dominate; an unknown value stays NaN (the engine reads 0).
    """

    descriptor_names: tuple[str, ...]
    quantiles: np.ndarray  # (len(descriptor_names), N_QUANTILES) training quantiles
    morgan_bits: int = MORGAN_COUNT_BITS

    @property
    def width(self) -> int:
        return len(self.descriptor_names) + self.morgan_bits

    @classmethod
    def fit(cls, descriptors: np.ndarray) -> GlobalFeatures:
        """From raw_descriptors of the training molecules, (n, len(DESCRIPTOR_NAMES))."""
        levels = np.linspace(0.0, 1.0, N_QUANTILES)
        columns = []
        for column in descriptors.T:
            known = column[~np.isnan(column)]
            columns.append(np.quantile(known, levels) if known.size else np.zeros(N_QUANTILES))
        return cls(DESCRIPTOR_NAMES, np.stack(columns))

    def transform(self, descriptors: np.ndarray, mol: Chem.Mol) -> np.ndarray:
        """(width,) float32 from one molecule's raw descriptors (in descriptor_names order)."""
        values = np.asarray(descriptors, dtype=np.float64)[:, None]  # (F, 1) against (F, Q) quantiles
        # Per row, the sorted quantiles below the value and those not above it: both searchsorted sides at once.
        below = (self.quantiles < values).sum(axis=1)
        not_above = (self.quantiles <= values).sum(axis=1)
        scaled = (below + not_above) / (2 * self.quantiles.shape[1])
        scaled = np.where(np.isnan(values[:, 0]), math.nan, math.sqrt(3.0) * (2.0 * scaled - 1.0))
        counts = np.zeros(self.morgan_bits)
        if self.morgan_bits:
            for bit, count in _morgan_counts(mol, self.morgan_bits).items():
                counts[bit] = math.log1p(count)
        return np.concatenate([scaled, counts]).astype(np.float32)

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        return self.transform(raw_descriptors(mol, self.descriptor_names), mol)

    def to_json(self) -> str:
        return json.dumps(
            {
                "descriptor_names": list(self.descriptor_names),
                "quantiles": self.quantiles.tolist(),
                "morgan_bits": self.morgan_bits,
            }
        )

    @classmethod
    def load(cls, checkpoint_dir: Path) -> GlobalFeatures | None:
        """A checkpoint's fitted features; None for a model trained without them."""
        path = checkpoint_dir / GLOBAL_FEATURES_FILE
        return cls.from_json(path.read_text()) if path.is_file() else None

    @classmethod
    def from_json(cls, text: str) -> GlobalFeatures:
        data = json.loads(text)
        return cls(
            tuple(data["descriptor_names"]), np.asarray(data["quantiles"], float), data["morgan_bits"]
        )


def _morgan_counts(mol: Chem.Mol, n_bits: int) -> dict[int, int]:
    if n_bits == MORGAN_COUNT_BITS:
        return _MORGAN_COUNTS.GetCountFingerprint(mol).GetNonzeroElements()
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits)
    return generator.GetCountFingerprint(mol).GetNonzeroElements()


@dataclass
class MolGraph:
    atom_features: np.ndarray  # (n, Fa) int64, values 1..cardinality
    distances: np.ndarray  # (n, n) float32 topological distances, inf = not connected
    truncated: bool  # more than MAX_ATOMS heavy atoms: only the first MAX_ATOMS are kept
    global_features: np.ndarray | None = None  # (F,) float32 from GlobalFeatures, if the model has them


def _ring_size(atom: Chem.Atom) -> int:
    if not atom.IsInRing():
        return 1
    for offset, size in enumerate((3, 4, 5, 6, 7)):
        if atom.IsInRingSize(size):
            return offset + 2
    return 7


def featurise(
    mol: Chem.Mol,
    global_features: GlobalFeatures | None = None,
    descriptors: np.ndarray | None = None,
) -> MolGraph:
    """Atom feature indices and topological distances of a (hydrogen-suppressed) molecule,
    and its global feature vector when given `global_features` (from `descriptors`, the
    molecule's raw_descriptors, when already computed)."""
    n = min(mol.GetNumAtoms(), MAX_ATOMS)
    logp_contribs = [c for c, _ in rdMolDescriptors._CalcCrippenContribs(mol)]
    tpsa_contribs = rdMolDescriptors._CalcTPSAContribs(mol)
    clogp, mw = Crippen.MolLogP(mol), Descriptors.MolWt(mol)
    rotatable = rdMolDescriptors.CalcNumRotatableBonds(mol)
    heavy = max(mol.GetNumHeavyAtoms(), 1)
    aromatic_share = sum(atom.GetIsAromatic() for atom in mol.GetAtoms()) / heavy
    molecule = (
        _bin(clogp, -4.0, 8.0, 24),
        _bin(mw, 0.0, 720.0, 24),
        _bin(rdMolDescriptors.CalcTPSA(mol), 0.0, 200.0, 20),
        _bin(mol.GetNumHeavyAtoms(), 0.0, 80.0, 20),
        min(rdMolDescriptors.CalcNumHBD(mol), 5) + 1,
        min(rotatable, 11) + 1,
        _bin(aromatic_share, 0.0, 1.0001, 10),
        _bin(esol_logs(mol, clogp, mw, rotatable), -10.0, 2.0, 24),
    )
    features = np.zeros((n, len(ATOM_FEATURES)), dtype=np.int64)
    for i in range(n):
        atom = mol.GetAtomWithIdx(i)
        symbol = atom.GetSymbol()
        hybridisation = atom.GetHybridization()
        chirality = atom.GetChiralTag()
        tpsa = tpsa_contribs[i]
        features[i] = (
            ELEMENTS.index(symbol) + 1 if symbol in ELEMENTS else len(ELEMENTS) + 1,
            min(atom.GetDegree(), 6) + 1,
            min(max(atom.GetFormalCharge(), -2), 2) + 3,
            HYBRIDISATIONS.index(hybridisation) + 1 if hybridisation in HYBRIDISATIONS else 7,
            int(atom.GetIsAromatic()) + 1,
            _ring_size(atom),
            min(atom.GetTotalNumHs(), 4) + 1,
            CHIRAL_TAGS.index(chirality) + 1 if chirality in CHIRAL_TAGS else 4,
            _bin(logp_contribs[i], -1.5, 1.5, 16),
            1 if tpsa <= 0 else _bin(tpsa, 0.0, 28.0, 7) + 1,
            *molecule,
        )
    distances = Chem.GetDistanceMatrix(mol)[:n, :n].astype(np.float32)
    distances[distances >= 1e7] = np.inf  # RDKit marks unconnected pairs with 1e8
    whole = None
    if global_features is not None:
        whole = (
            global_features(mol)
            if descriptors is None
            else global_features.transform(descriptors, mol)
        )
    return MolGraph(features, distances, mol.GetNumAtoms() > MAX_ATOMS, whole)


def collate_graphs(graphs: list[MolGraph]) -> dict[str, torch.Tensor]:
    """Pad featurised molecules to the largest in the list: the graph encoder's batch keys."""
    size = max(g.atom_features.shape[0] for g in graphs)
    batch = len(graphs)
    features = torch.zeros((batch, size, len(ATOM_FEATURES)), dtype=torch.long)
    mask = torch.zeros((batch, size), dtype=torch.bool)
    distances = torch.full((batch, size, size), float("inf"))
    for row, graph in enumerate(graphs):
        n = graph.atom_features.shape[0]
        features[row, :n] = torch.from_numpy(graph.atom_features)
        mask[row, :n] = True
        distances[row, :n, :n] = torch.from_numpy(graph.distances)
    batch = {"atom_features": features, "atom_mask": mask, "distances": distances}
    if graphs[0].global_features is not None:
        batch["global_features"] = torch.from_numpy(np.stack([g.global_features for g in graphs]))
    return batch
