"""The prediction tasks of the shipped model: datasets, label columns, units, endpoint keys.

Kept free of torch and RDKit so that pages and filters can name the endpoints cheaply.
"""

from dataclasses import dataclass

TOX21_TASKS = (
    "NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD",
    "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53",
)  # fmt: skip


@dataclass(frozen=True)
class Task:
    head: str  # head name in the model
    file_prefix: str  # <prefix>_{train,valid,test}.csv in the data folder
    columns: tuple[str, ...]  # label columns
    kind: str  # "regression" or "multilabel"
    unit: str  # what a prediction means, for pages and the model card
    oversample: int = 1  # training rows repeated per epoch, so small datasets are seen as often


TASKS = (
    Task("esol", "esol", ("logS",), "regression", "aqueous solubility, log10(mol/L)", oversample=4),
    Task("lipophilicity", "lipophilicity", ("logD_pH7.4",), "regression", "logD at pH 7.4"),
    Task(
        "bbbp", "bbbp", ("bbb_penetrating",), "multilabel", "P(blood-brain barrier penetration)", 2
    ),
    Task("tox21", "tox21", TOX21_TASKS, "multilabel", "P(active) in the Tox21 assay"),
)


def endpoint_key(head: str, column: str, n_columns: int) -> str:
    """The prediction's key on a result row: 'esol', 'bbbp', 'tox21_NR-AR'."""
    return head if n_columns == 1 else f"{head}_{column}"


# Every endpoint as (key, task, column), in the order pages and exports show them.
ENDPOINTS = tuple(
    (endpoint_key(task.head, column, len(task.columns)), task, column)
    for task in TASKS
    for column in task.columns
)
ENDPOINT_KEYS = frozenset(key for key, _, _ in ENDPOINTS)
