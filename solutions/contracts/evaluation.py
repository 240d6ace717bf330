"""Evaluation on the CUAD test contracts: the engine's clause model beside a TF-IDF + logistic
regression baseline trained on the same training contracts' sentence segments.

Measures:
- segment level: micro/macro F1 of the multi-hot segment labels (datasets.py) at each model's
  threshold chosen on validation contracts;
- CUAD style: each segment scored for a category is a candidate span; a candidate is correct
  when its Jaccard overlap (characters) with a not-yet-matched labelled excerpt of that category
  in that contract is at least 0.5. Per category and pooled over categories: precision and
  recall at the threshold, AUPR (area under the precision-recall curve over all scores) and
  precision at 80 % recall (0 when 80 % recall is never reached).
Macro figures average over categories with at least MIN_TEST_EXCERPTS test excerpts.
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from solutions.contracts.classifier import ClauseClassifier
from solutions.contracts.datasets import ContractSegments, categories, load_split
from solutions.contracts.training import MODEL_NAME, VALID_CONTRACTS, balanced_rows, best_threshold

JACCARD = 0.5
MIN_TEST_EXCERPTS = 5


def jaccard(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


def span_curve(contracts: list[ContractSegments], scores: list[np.ndarray], column: int, category: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(scores, correct flags) of every candidate in descending score order, and the number of
    labelled excerpts; matching is greedy in score order, one excerpt per candidate."""
    candidates = []
    n_truth = 0
    for contract_index, (contract, contract_scores) in enumerate(zip(contracts, scores, strict=True)):
        n_truth += len(contract.excerpts.get(category, ()))
        for segment_index, span in enumerate(contract.spans):
            candidates.append((float(contract_scores[segment_index, column]), contract_index, span))
    candidates.sort(key=lambda c: -c[0])
    matched: set[tuple[int, int]] = set()
    flags = np.zeros(len(candidates), dtype=bool)
    for position, (_, contract_index, span) in enumerate(candidates):
        excerpts = contracts[contract_index].excerpts.get(category, ())
        for excerpt_index, excerpt in enumerate(excerpts):
            if (contract_index, excerpt_index) not in matched and jaccard(span, excerpt) >= JACCARD:
                matched.add((contract_index, excerpt_index))
                flags[position] = True
                break
    return np.array([c[0] for c in candidates]), flags, n_truth


def curve_measures(ranked_scores: np.ndarray, flags: np.ndarray, n_truth: int, threshold: float) -> dict[str, float]:
    if n_truth == 0:
        return {"precision": float("nan"), "recall": float("nan"), "aupr": float("nan"), "p_at_80r": float("nan")}
    tp = np.cumsum(flags)
    precision = tp / np.arange(1, len(flags) + 1)
    recall = tp / n_truth
    # Area under the step curve: precision at each newly recalled excerpt, averaged over all excerpts.
    aupr = float((precision * flags).sum() / n_truth)
    reached = recall >= 0.8
    at_threshold = ranked_scores >= threshold
    kept = int(at_threshold.sum())
    return {
        "precision": float(tp[kept - 1] / kept) if kept else 0.0,
        "recall": float(tp[kept - 1] / n_truth) if kept else 0.0,
        "aupr": aupr,
        "p_at_80r": float(precision[reached].max()) if reached.any() else 0.0,
    }


def segment_f1(labels: np.ndarray, predicted: np.ndarray, columns: list[int]) -> tuple[float, float]:
    tp = (labels * predicted).sum(axis=0)
    fp = ((1 - labels) * predicted).sum(axis=0)
    fn = (labels * (1 - predicted)).sum(axis=0)
    micro = 2 * tp.sum() / max(1.0, 2 * tp.sum() + fp.sum() + fn.sum())
    per = 2 * tp / np.maximum(1.0, 2 * tp + fp + fn)
    return float(micro), float(per[columns].mean())


def score_system(name: str, contracts: list[ContractSegments], scores: list[np.ndarray], threshold: float,
                 names: list[str]) -> dict:
    labels = np.concatenate([c.labels for c in contracts])
    all_scores = np.concatenate(scores)
    macro_columns = [i for i, n in enumerate(names) if sum(len(c.excerpts.get(n, ())) for c in contracts) >= MIN_TEST_EXCERPTS]
    micro_f1, macro_f1 = segment_f1(labels, (all_scores >= threshold).astype(np.float32), macro_columns)
    segment_micro_aupr = float(average_precision_score(labels.ravel(), all_scores.ravel()))
    segment_macro_aupr = float(np.mean([average_precision_score(labels[:, c], all_scores[:, c])
                                        for c in macro_columns if labels[:, c].any()]))
    per_category, pooled_scores, pooled_flags, pooled_truth = {}, [], [], 0
    for column, category in enumerate(names):
        ranked, flags, n_truth = span_curve(contracts, scores, column, category)
        per_category[category] = {**curve_measures(ranked, flags, n_truth, threshold), "excerpts": n_truth}
        pooled_scores.append(ranked)
        pooled_flags.append(flags)
        pooled_truth += n_truth
    ranked = np.concatenate(pooled_scores)
    order = np.argsort(-ranked, kind="stable")
    pooled = curve_measures(ranked[order], np.concatenate(pooled_flags)[order], pooled_truth, threshold)
    macro_aupr = float(np.mean([per_category[names[c]]["aupr"] for c in macro_columns]))
    return {"name": name, "threshold": threshold, "segment_micro_f1": micro_f1, "segment_macro_f1": macro_f1,
            "segment_micro_aupr": segment_micro_aupr, "segment_macro_aupr": segment_macro_aupr,
            "pooled": pooled, "macro_aupr": macro_aupr, "per_category": per_category, "macro_categories": len(macro_columns)}


def baseline_scores(train: list[ContractSegments], valid: list[ContractSegments], test: list[ContractSegments],
                    n_categories: int, log: Callable[[str], None]) -> tuple[list[np.ndarray], float]:
    """TF-IDF (word 1-2 grams) + one-vs-rest logistic regression on the training segments."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    texts, labels = balanced_rows(train, negatives_per_positive=3.0, seed=0)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=100_000, sublinear_tf=True)
    features = vectorizer.fit_transform(texts)
    present = labels.sum(axis=0) > 0
    classifier = OneVsRestClassifier(LogisticRegression(C=4.0, max_iter=1000, solver="liblinear"), n_jobs=1)
    classifier.fit(features, labels[:, present])
    log(f"baseline trained on {len(texts)} segments")

    def predict(contract: ContractSegments) -> np.ndarray:
        out = np.zeros((len(contract.spans), n_categories), dtype=np.float32)
        if contract.spans:
            out[:, present] = classifier.predict_proba(vectorizer.transform(contract.segment_texts()))
        return out

    valid_scores = np.concatenate([predict(c) for c in valid])
    threshold = best_threshold(valid_scores, np.concatenate([c.labels for c in valid]))
    return [predict(c) for c in test], threshold


def evaluate(data_dir: Path, models_dir: Path, log: Callable[[str], None]) -> str:
    names = categories(data_dir)
    test = load_split(data_dir, "test", names)
    valid = load_split(data_dir, "valid", names, limit=VALID_CONTRACTS)
    log(f"test: {len(test)} contracts, {sum(len(c.spans) for c in test)} segments")
    systems = []
    model_dir = Path(models_dir) / MODEL_NAME
    if (model_dir / "config.json").is_file():
        classifier = ClauseClassifier.load(model_dir)
        engine_scores = [classifier.scores(c.segment_texts()) for c in test]
        systems.append(score_system("Engine MoE (pretrained + fine-tuned)", test, engine_scores, classifier.threshold, names))
        log("engine model scored")
    else:
        log(f"no clause model under {model_dir}: only the baseline is scored")
    train = load_split(data_dir, "train", names)
    scores, threshold = baseline_scores(train, valid, test, len(names), log)
    systems.append(score_system("TF-IDF + logistic regression", test, scores, threshold, names))
    return report(systems, names)


def report(systems: list[dict], names: list[str]) -> str:
    lines = [
        "# Contract review: clause identification on the CUAD v1 test contracts", "",
        f"51 test contracts (split by contract, seed 42). Segment F1 over sentence segments; span measures "
        f"count a segment as a correct span when its Jaccard overlap with a labelled excerpt is >= {JACCARD}. "
        f"Macro over categories with >= {MIN_TEST_EXCERPTS} test excerpts. "
        "Command: `python manage.py evaluate contracts --data ../shared/data/contracts`.", "",
        "| system | segment micro-F1 | segment macro-F1 | segment micro AUPR | segment macro AUPR | span precision | span recall | span AUPR (pooled) | span macro AUPR | span precision at 80% recall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in systems:
        p = s["pooled"]
        lines.append(f"| {s['name']} | {s['segment_micro_f1']:.3f} | {s['segment_macro_f1']:.3f} | {s['segment_micro_aupr']:.3f} | "
                     f"{s['segment_macro_aupr']:.3f} | {p['precision']:.3f} | "
                     f"{p['recall']:.3f} | {p['aupr']:.3f} | {s['macro_aupr']:.3f} | {p['p_at_80r']:.3f} |")
    if len(systems) == 2:
        a, b = systems
        keys = ("segment_micro_f1", "segment_macro_f1", "segment_micro_aupr", "segment_macro_aupr", "macro_aupr")
        wins = [k for k in keys if a[k] > b[k]]
        wins += [f"span {k}" for k in ("aupr", "p_at_80r") if a["pooled"][k] > b["pooled"][k]]
        lines += ["", f"Verdict: the engine model beats the baseline on {len(wins)} of 7 summary measures"
                  + (f" ({', '.join(wins)})." if wins else "; the baseline wins on every one.")]
    lines += ["", "## Per category (AUPR; precision / recall at the threshold)", "",
              "| category | test excerpts | " + " | ".join(s["name"] for s in systems) + " |",
              "|---|---|" + "---|" * len(systems)]
    for name in names:
        cells = []
        for s in systems:
            m = s["per_category"][name]
            cells.append("—" if m["excerpts"] == 0 else f"{m['aupr']:.2f} ({m['precision']:.2f} / {m['recall']:.2f})")
        lines.append(f"| {name} | {systems[0]['per_category'][name]['excerpts']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
