"""Featurisation of molecules for the engine's graph encoder.

Each heavy atom becomes a token whose features are small categorical indices (0 = padding or
unknown): element, degree, formal charge, hybridisation, aromaticity, ring membership and size,
hydrogens, chirality, the atom's Crippen logP and TPSA contributions (binned), and a few binned
whole-molecule descriptors repeated on every atom. The attention bias comes from the topological
distance matrix. `collate_graphs` pads a list of featurised molecules into one batch with keys
atom_features (B, N, Fa) long, atom_mask (B, N) bool and distances (B, N, N) float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

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


@dataclass
class MolGraph:
    atom_features: np.ndarray  # (n, Fa) int64, values 1..cardinality
    distances: np.ndarray  # (n, n) float32 topological distances, inf = not connected
    truncated: bool  # more than MAX_ATOMS heavy atoms: only the first MAX_ATOMS are kept


def _ring_size(atom: Chem.Atom) -> int:
    if not atom.IsInRing():
        return 1
    for offset, size in enumerate((3, 4, 5, 6, 7)):
        if atom.IsInRingSize(size):
            return offset + 2
    return 7


def featurise(mol: Chem.Mol) -> MolGraph:
    """Atom feature indices and topological distances of a (hydrogen-suppressed) molecule."""
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
    return MolGraph(features, distances, mol.GetNumAtoms() > MAX_ATOMS)


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
    return {"atom_features": features, "atom_mask": mask, "distances": distances}
