"""Training of the shipped property model: an ensemble of multi-task graph MoEs on the MoleculeNet splits.

`train_base(data_dir, models_dir, log)` reads the scaffold-split CSVs of ESOL (logS), Lipophilicity
(logD), BBBP and Tox21, standardises and featurises every molecule (atoms as tokens, and a global
vector of RDKit descriptors and Morgan counts for the CLS token), and trains MoETransformers
with a graph encoder and four heads with engine.train.fit, one per seed, shipped together as an
engine.ensemble.EnsembleTransformer: each row carries only its own dataset's labels and the
others are NaN (masked in the loss). On the validation split it fits how fast each head's
uncertainty grows with the distance to the training set, and per head whether and how much to
blend in the labels of the nearest training molecules (neighbours.py). It writes the checkpoint,
the target scaling, the fitted global features, the training-set fingerprints (applicability
domain) and labels (neighbour evidence) and a model card under models/molecules/screening/.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem, rdBase
from safetensors.numpy import save_file
from torch.utils.data import DataLoader, Sampler

from engine.checkpoint import save_checkpoint
from engine.config import HeadSpec, ModelConfig
from engine.ensemble import EnsembleTransformer
from engine.heads import regression_mean_std
from engine.model import MoETransformer
from engine.train import collect_predictions, fit
from solutions.molecules.chemistry import (
    FingerprintSet,
    Standardizer,
    morgan_bits,
    packed_fingerprint,
)
from solutions.molecules.features import (
    ATOM_FEATURE_CARDINALITIES,
    GLOBAL_FEATURES_FILE,
    MAX_ATOMS,
    GlobalFeatures,
    MolGraph,
    collate_graphs,
    featurise,
    raw_descriptors,
)
from solutions.molecules.metrics import mean_auc, rmse, task_metric
from solutions.molecules.neighbours import NeighbourBlend, fit_neighbour_blend, neighbour_estimates
from solutions.molecules.tasks import TASKS, Task

MODEL_NAME = "screening"
# Copies trained from different seeds and shipped as one ensemble (engine.ensemble), chosen on
# the validation split (score of validation_score; RMSE ESOL, Lipophilicity; ROC-AUC BBBP, Tox21):
#   1 member (seed 0): 0.6119; 0.853, 0.800; 0.979, 0.781
#   3 members:         0.6155; 0.885, 0.767; 0.979, 0.783
#   5 members:         0.6191; 0.865, 0.765; 0.980, 0.784
#   8 members:         0.6207; 0.868, 0.761; 0.981, 0.784 (not taken: +0.0016 for 1.6x the
#                      forward passes and a 12.3 MB checkpoint; test 0.833, 0.757, 0.736, 0.753)
ENSEMBLE_MEMBERS = 5
# fit() keeps its resumable state here: a stopped run continues where it was.
FIT_DIR = Path(tempfile.gettempdir()) / "quorum-molecules-fit"
TARGETS_FILE = "targets.json"
FINGERPRINTS_FILE = "training_fingerprints.safetensors"
LABELS_FILE = "training_labels.safetensors"


def model_config(n_global_features: int = 0) -> ModelConfig:
    return ModelConfig(
        d_model=64, n_layers=2, n_heads=4, dropout=0.2,
        n_experts=4, top_k=2, n_shared_experts=1, expert_hidden=128,
        encoder="graph", atom_feature_cardinalities=ATOM_FEATURE_CARDINALITIES,
        max_atoms=MAX_ATOMS, max_distance=8, n_global_features=n_global_features,
        heads=[HeadSpec(t.head, "regression" if t.kind == "regression" else "multilabel", len(t.columns))
               for t in TASKS],
    )  # fmt: skip


@dataclass
class Example:
    smiles: str
    mol: Chem.Mol  # standardised parent
    labels: np.ndarray  # (len(task.columns),) float, NaN = not measured


def read_split(data_dir: Path, task: Task, split: str, standardizer: Standardizer) -> list[Example]:
    """One split file of a task, standardised like the pipeline standardises uploads."""
    examples = []
    with open(data_dir / f"{task.file_prefix}_{split}.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(row["smiles"])
            if mol is None:
                continue
            parent, _ = standardizer.standardize(mol)
            labels = np.array([float(row[c]) if row[c] != "" else math.nan for c in task.columns])
            examples.append(Example(row["smiles"], parent, labels))
    return examples


def _targets(task_labels: list[tuple[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Per-head target tensors for a batch; a row's other heads are all NaN."""
    out = {}
    for task in TASKS:
        rows = [
            labels if head == task.head else np.full(len(task.columns), math.nan)
            for head, labels in task_labels
        ]
        out[task.head] = torch.tensor(np.stack(rows), dtype=torch.float32)
    return out


def collate_examples(items: list[tuple[MolGraph, str, np.ndarray]]) -> dict[str, torch.Tensor]:
    batch = collate_graphs([graph for graph, _, _ in items])
    batch.update(_targets([(head, labels) for _, head, labels in items]))
    return batch


class SizeBucketedBatches(Sampler[list[int]]):
    """Batches of molecules of similar size, in a random order each epoch.

    Padding to the largest molecule of a batch is the main waste on CPU; grouping by atom count
    removes most of it while the batch order stays shuffled.
    """

    def __init__(self, sizes: list[int], batch_size: int) -> None:
        order = np.argsort(np.asarray(sizes), kind="stable")
        self.batches = [
            order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)
        ]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for position in torch.randperm(len(self.batches)).tolist():
            yield self.batches[position]


def scale_labels(task: Task, labels: np.ndarray, scaling: dict) -> np.ndarray:
    if task.kind != "regression":
        return labels
    return (labels - scaling[task.head]["mean"]) / scaling[task.head]["std"]


def validation_score(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    """Model selection score: mean ROC-AUC of the classifiers minus half the scaled RMSEs."""
    aucs, rmses = [], []
    for task in TASKS:
        target = targets[task.head].numpy()
        output = outputs[task.head]
        if task.kind == "regression":
            rmses.append(rmse(target, output[..., 0].numpy()))
        else:
            aucs.append(mean_auc(target, output.numpy()))
    return float(np.mean(aucs) - 0.5 * np.mean(rmses))


# Candidate widths w of the domain widening, in units per unit of Tanimoto distance.
WIDENING_GRID = np.linspace(0.0, 8.0, 161)


def served_values(kind: str, output: torch.Tensor, scaling: dict[str, float] | None) -> np.ndarray:
    """(B, C) what a head's output (B, C) or (B, C, 2) means to a user: a regression's mean in
    the label's original units (`scaling`: that head's mean and std), a classifier's
    probabilities."""
    if kind != "regression":
        return torch.sigmoid(output.float()).numpy()
    mean, _ = regression_mean_std(output.float())
    return mean.numpy() * scaling["std"] + scaling["mean"]


def widened_std(std: np.ndarray, distance: np.ndarray, width: float) -> np.ndarray:
    """Predicted std with the distance term: sqrt(std^2 + (width * distance)^2)."""
    return np.sqrt(std**2 + (width * distance) ** 2)


def widened_probability(probability: np.ndarray, distance: np.ndarray, width: float) -> np.ndarray:
    """The probability pulled towards 0.5 by exp(-width * distance): a far molecule's call
    is less certain than the model alone says."""
    return 0.5 + (probability - 0.5) * np.exp(-width * distance)


def training_similarity(mols: list[Chem.Mol], training_mols: list[Chem.Mol]) -> np.ndarray:
    """(len(mols), len(training_mols)) Tanimoto similarity (Morgan) of each molecule to each
    training molecule."""
    training = FingerprintSet(np.stack([np.packbits(morgan_bits(m)) for m in training_mols]))
    return training.similarity_matrix([packed_fingerprint(m) for m in mols])


def fit_domain_widening(
    task: Task, output: torch.Tensor, labels: np.ndarray, distance: np.ndarray
) -> float:
    """The width w that makes the uncertainty grow with the distance to the training set,
    chosen by likelihood on the (scaffold) validation split, where many molecules are far.

    Regression (standardised units): variance std^2 + (w d)^2, Gaussian negative
    log-likelihood. Classification: widened_probability, log loss. w = 0 keeps the model's own.
    """
    present = ~np.isnan(labels)
    d = np.broadcast_to(distance[:, None], labels.shape)[present]
    y = labels[present]
    if task.kind == "regression":
        mean, std = (t.numpy()[present] for t in regression_mean_std(output.float()))
        losses = [
            np.mean(2 * np.log(v) + ((mean - y) / v) ** 2)
            for v in (widened_std(std, d, w) for w in WIDENING_GRID)
        ]
    else:
        probability = torch.sigmoid(output.float()).numpy()[present]
        losses = []
        for w in WIDENING_GRID:
            p = np.clip(widened_probability(probability, d, w), 1e-7, 1 - 1e-7)
            losses.append(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(WIDENING_GRID[int(np.argmin(losses))])


def save_model(
    model: MoETransformer | EnsembleTransformer,
    out_dir: Path,
    scaling: dict[str, dict[str, float]],
    training: dict[str, list[Example]],
    global_features: GlobalFeatures,
    domain_widening: dict[str, float] | None = None,
    neighbour_blend: dict[str, NeighbourBlend] | None = None,
) -> None:
    """Write the checkpoint, the task list and target scaling, the fitted global features, and
    the training molecules' fingerprints (applicability domain) and labels (neighbour evidence)
    per dataset."""
    targets = {
        "tasks": [
            {"head": t.head, "columns": list(t.columns), "kind": t.kind, "unit": t.unit}
            for t in TASKS
        ],
        "scaling": scaling,
        # Per head: how fast the uncertainty grows with the distance to the training set.
        "domain_widening": domain_widening or {},
        # Per head where validation shows it helps: the blend with the neighbours' labels.
        "neighbour_blend": {
            head: blend.to_json() for head, blend in (neighbour_blend or {}).items()
        },
    }
    save_checkpoint(
        model,
        out_dir,
        extra_files={
            TARGETS_FILE: json.dumps(targets, indent=2) + "\n",
            GLOBAL_FEATURES_FILE: global_features.to_json() + "\n",
        },
    )
    fingerprints = {
        head: np.stack([np.packbits(morgan_bits(e.mol)) for e in examples])
        for head, examples in training.items()
    }
    save_file(fingerprints, str(out_dir / FINGERPRINTS_FILE))
    labels = {
        head: np.stack([e.labels for e in examples]).astype(np.float32)
        for head, examples in training.items()
    }
    save_file(labels, str(out_dir / LABELS_FILE))


def task_metrics(
    outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], scaling: dict
) -> dict[str, tuple[str, float]]:
    """Per task: (metric name, value) with regressions in their original units."""
    metrics = {}
    for task in TASKS:
        target = targets[task.head].numpy()
        if task.kind == "regression":
            scaled = rmse(target, outputs[task.head][..., 0].numpy())
            metrics[task.head] = ("RMSE", scaled * scaling[task.head]["std"])
        else:
            metrics[task.head] = ("ROC-AUC", mean_auc(target, outputs[task.head].numpy()))
    return metrics


def model_card(
    model: MoETransformer | EnsembleTransformer,
    metrics: dict[str, tuple[str, float]],
    best_epochs: list[int],
    epochs: int,
    domain_widening: dict[str, float],
    neighbour_blend: dict[str, NeighbourBlend],
    blended_metrics: dict[str, float],
) -> str:
    config = model.config
    members = (
        f"An ensemble of {config.ensemble_members} MoETransformers (engine.ensemble; trained apart "
        f"from seeds 0-{config.ensemble_members - 1}, heads combined as mixtures)"
        if config.ensemble_members > 1
        else "One MoETransformer"
    )
    ensemble_std = (
        "\nThe predicted standard deviation of a regression is the ensemble's: the mean of the members'\n"
        "variances plus the variance of their means, so the members' disagreement is part of it."
        if config.ensemble_members > 1
        else ""
    )
    widening = ", ".join(f"{head} w = {width:.2f}" for head, width in domain_widening.items())
    parameters = sum(p.numel() for p in model.parameters())
    blend_rows = "\n".join(
        f"| {head} | {blend.k} | {blend.power:g} | {blend.weight:g} | {metrics[head][0]} "
        f"{metrics[head][1]:.3f} | {blended_metrics[head]:.3f} |"
        for head, blend in neighbour_blend.items()
    )
    rows = "\n".join(
        f"| {task.head} | {', '.join(task.columns) if len(task.columns) < 3 else f'{len(task.columns)} assays'} "
        f"| {task.unit} | {metrics[task.head][0]} {metrics[task.head][1]:.3f} |"
        for task in TASKS
    )
    return f"""# Molecule screening property model (`screening`)

{members}, each with the graph encoder (atoms as
tokens, topological-distance attention bias) and four heads: ESOL aqueous solubility (logS, regression with a predicted variance),
Lipophilicity (logD pH 7.4, regression with a predicted variance), BBBP (binary) and the 12
Tox21 assays (multilabel). Every training row carries only its own dataset's labels; the others
are masked in the loss. {parameters:,} parameters in all; each member d_model {config.d_model}, {config.n_layers}
layers, {config.n_experts} routed experts (top {config.top_k}) + {config.n_shared_experts} shared.

Global features ({config.n_global_features}, projected onto the CLS token): RDKit's 2D
descriptors (all of `Descriptors._descList` but QED, SPS, BertzCT, Ipc and BCUT2D), each mapped
through its training-set empirical CDF (`global_features.json`), and log(1 + count) of Morgan
substructures (r=2) folded to 1024 bits.

## Data and split
MoleculeNet subsets as redistributed by chemprop (commit b83635b): ESOL (Delaney 2004),
Lipophilicity (AstraZeneca deposition in ChEMBL, CC BY-SA 3.0), BBBP (Martins et al. 2012),
Tox21 (2014 Tox21 Data Challenge). See `../shared/data/README.md`; verify the terms of each
source before commercial use. Deterministic Bemis-Murcko scaffold split 80/10/10 (the split
files' train/valid/test). Molecules are standardised as in the pipeline (cleanup, largest
fragment, uncharge) before featurisation; ESOL rows are repeated four times and BBBP rows twice per epoch.

## Training
`python manage.py train_base molecules --data ../shared/data/molecules` (engine.train.fit,
AdamW, cosine schedule, model selection on the validation score = mean ROC-AUC of BBBP and
Tox21 minus half the mean standardised RMSE), per member. Best epochs
{", ".join(str(e + 1) for e in best_epochs)} of at most {epochs}.

## Validation metrics (scaffold valid split)
| task | labels | prediction | metric |
| --- | --- | --- | --- |
{rows}

Test metrics beside a random forest: `docs/evaluation/molecules.md`.

## Applicability domain and uncertainty
`training_fingerprints.safetensors` holds each dataset's training Morgan fingerprints (r=2,
2048 bits, packed); a prediction is flagged out of domain when the nearest training neighbour's
Tanimoto similarity is below the threshold in `solutions/molecules/predict.py`. The uncertainty
(predicted standard deviation, or the entropy of a classifier's probability) grows with the
Tanimoto distance d to that neighbour: std^2 + (w d)^2, or the probability pulled towards 0.5
by exp(-w d), with w per head fitted by likelihood on the validation split:
{widening}.{ensemble_std}

## Neighbour evidence
`training_labels.safetensors` holds each dataset's training labels. For the heads below, the
served value is (1 - weight) x the model's + weight x the similarity^power weighted mean label of
the k most similar training molecules measured in that column (`solutions/molecules/neighbours.py`);
fitted on the validation split and kept only where it beats the model alone in at least 95% of
bootstrap resamples of the validation molecules:

| task | k | power | weight | model alone | with neighbours |
| --- | --- | --- | --- | --- | --- |
{blend_rows or "| (no head) | | | | | |"}
"""


def train_base(
    data_dir: Path,
    models_dir: Path,
    log: Callable[[str], None],
    epochs: int = 16,
    fit_dir: Path = FIT_DIR,
    members: int = ENSEMBLE_MEMBERS,
) -> None:
    """Train the multi-task property model and write it to models_dir/screening/.

    Trains `members` copies from seeds 0, 1, ... and ships them as one EnsembleTransformer.
    fit_dir holds each member's resumable fit() state: rerunning continues a stopped run, and
    rerunning with `epochs` at or below the epochs done only writes out the best epochs so far.
    """
    history: list[list[dict]] = []
    started = time.monotonic()
    standardizer = Standardizer()
    splits = {
        task.head: {s: read_split(data_dir, task, s, standardizer) for s in ("train", "valid")}
        for task in TASKS
    }
    scaling = {}
    for task in TASKS:
        if task.kind == "regression":
            values = np.concatenate([e.labels for e in splits[task.head]["train"]])
            scaling[task.head] = {"mean": float(values.mean()), "std": float(values.std())}
    log(f"read and standardised the splits in {time.monotonic() - started:.0f}s")
    descriptors = {
        head: {name: [raw_descriptors(e.mol) for e in examples] for name, examples in split.items()}
        for head, split in splits.items()
    }
    global_features = GlobalFeatures.fit(
        np.stack([row for task in TASKS for row in descriptors[task.head]["train"]])
    )
    log(f"computed {global_features.width} global features in {time.monotonic() - started:.0f}s")

    def rows(split: str, repeat: bool) -> list[tuple[MolGraph, str, np.ndarray]]:
        out = []
        for task in TASKS:
            for example, raw in zip(splits[task.head][split], descriptors[task.head][split], strict=True):
                item = (
                    featurise(example.mol, global_features, raw),
                    task.head,
                    scale_labels(task, example.labels, scaling),
                )
                out.extend([item] * (task.oversample if repeat else 1))
        return out

    train_rows, valid_rows = rows("train", repeat=True), rows("valid", repeat=False)
    train_loader = DataLoader(
        train_rows,
        batch_sampler=SizeBucketedBatches([g.atom_features.shape[0] for g, _, _ in train_rows], 64),
        collate_fn=collate_examples,
    )
    valid_loader = DataLoader(valid_rows, batch_size=128, collate_fn=collate_examples)
    log(f"training {members} members on {len(train_rows)} rows, validating on {len(valid_rows)}")
    trained, best_epochs = [], []
    for member in range(members):

        def progress(event: dict, member: int = member) -> None:
            if event["event"] == "epoch":
                log(
                    f"member {member + 1}/{members}, epoch {event['epoch'] + 1}/{event['epochs']}: "
                    f"train loss {event['train_loss']:.3f}, valid score {event['metric']:.4f} "
                    f"(best {event['best_metric']:.4f}), {event['seconds']:.0f}s"
                )

        torch.manual_seed(member)
        model = MoETransformer(model_config(global_features.width))
        result = fit(
            model, train_loader, valid_loader, metric_fn=validation_score, maximize=True,
            epochs=epochs, lr=1e-3, weight_decay=0.05, warmup_steps=100, patience=6, seed=member,
            progress=progress, checkpoint_dir=fit_dir / f"member-{member}",
        )  # fmt: skip
        trained.append(model)
        best_epochs.append(result.best_epoch)
        history.append(result.history)
    model = EnsembleTransformer.from_members(trained) if members > 1 else trained[0]
    out_dir = models_dir / MODEL_NAME
    valid = collect_predictions(model, valid_loader)
    domain_widening, neighbour_blend, blended_metrics, first = {}, {}, {}, 0
    for task in TASKS:  # valid rows come task after task, in split order
        training, examples = splits[task.head]["train"], splits[task.head]["valid"]
        rows_of_task = slice(first, first + len(examples))
        first += len(examples)
        output = valid.heads[task.head][rows_of_task]
        similarity = training_similarity([e.mol for e in examples], [e.mol for e in training])
        domain_widening[task.head] = fit_domain_widening(
            task,
            output,
            valid.targets[task.head][rows_of_task].numpy(),
            1.0 - similarity.max(axis=1),
        )
        training_labels = np.stack([e.labels for e in training])
        valid_labels, values = (
            np.stack([e.labels for e in examples]),
            served_values(task.kind, output, scaling.get(task.head)),
        )
        blend = fit_neighbour_blend(task.kind, similarity, training_labels, valid_labels, values)
        if blend is not None:
            neighbour_blend[task.head] = blend
            estimates = neighbour_estimates(similarity, training_labels, blend.k, blend.power)
            blended_metrics[task.head] = task_metric(
                task.kind, valid_labels, blend.apply(values, estimates)
            )
    log(f"uncertainty widening with the distance to the training set: {domain_widening}")
    log(f"blended with the labels of the nearest training molecules: {neighbour_blend}")
    train_examples = {task.head: splits[task.head]["train"] for task in TASKS}
    save_model(
        model, out_dir, scaling, train_examples, global_features, domain_widening, neighbour_blend
    )
    (out_dir / "training_history.json").write_text(json.dumps(history, indent=1) + "\n")
    metrics = task_metrics(valid.heads, valid.targets, scaling)
    (out_dir / "MODEL_CARD.md").write_text(
        model_card(
            model, metrics, best_epochs, epochs, domain_widening, neighbour_blend, blended_metrics
        )
    )
    log(
        f"ensemble valid score {validation_score(valid.heads, valid.targets):.4f}; "
        f"best epochs {[e + 1 for e in best_epochs]}; wrote {out_dir} in {time.monotonic() - started:.0f}s"
    )
