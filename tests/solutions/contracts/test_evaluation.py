"""The evaluation's measures and the segment labelling rule, on hand-made numbers."""

import numpy as np
import pytest

from solutions.contracts.datasets import ContractSegments, overlap_labels
from solutions.contracts.evaluation import curve_measures, jaccard, score_system, span_curve
from solutions.contracts.training import best_threshold


def test_jaccard():
    assert jaccard((0, 10), (0, 10)) == 1.0
    assert jaccard((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert jaccard((0, 10), (20, 30)) == 0.0


def test_segments_take_the_labels_of_excerpts_they_half_overlap():
    spans = [(0, 100), (100, 200), (200, 300)]
    excerpts = {"Parties": [(10, 20)], "Governing Law": [(150, 260)], "Insurance": [(290, 400)]}
    labels = overlap_labels(spans, excerpts, ["Parties", "Governing Law", "Insurance"])
    # A short name inside a sentence labels it; a long excerpt labels the sentences it half covers.
    assert labels.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_curve_measures_on_a_known_ranking():
    ranked = np.array([0.9, 0.8, 0.7, 0.6])
    flags = np.array([True, False, True, False])
    measures = curve_measures(ranked, flags, n_truth=2, threshold=0.75)
    assert measures["precision"] == 0.5 and measures["recall"] == 0.5
    assert measures["aupr"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert measures["p_at_80r"] == pytest.approx(2 / 3)


def test_span_matching_counts_each_excerpt_once():
    contract = ContractSegments(1, "x" * 300, [(0, 100), (0, 100), (200, 300)], np.zeros((3, 1)), {"Cap": [(0, 90)]})
    scores = [np.array([[0.9], [0.8], [0.1]])]
    ranked, flags, n_truth = span_curve([contract], scores, 0, "Cap")
    assert ranked.tolist() == pytest.approx([0.9, 0.8, 0.1])
    assert flags.tolist() == [True, False, False] and n_truth == 1


def test_score_system_perfect_scores_give_perfect_measures():
    labels = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]] * 5)
    spans = [(i * 10, i * 10 + 10) for i in range(15)]
    excerpts = {"A": spans[0::3], "B": spans[1::3]}
    contract = ContractSegments(1, "y" * 150, spans, labels, excerpts)
    result = score_system("oracle", [contract], [labels.astype(np.float32)], 0.5, ["A", "B"])
    assert result["segment_micro_f1"] == 1.0 and result["segment_macro_f1"] == 1.0 and result["macro_aupr"] == 1.0
    assert result["pooled"]["aupr"] == 1.0 and result["pooled"]["p_at_80r"] == 1.0


def test_best_threshold_maximises_micro_f1():
    scores = np.array([[0.9, 0.2], [0.6, 0.4], [0.3, 0.1]])
    labels = np.array([[1, 0], [1, 0], [0, 0]])
    assert best_threshold(scores, labels) == pytest.approx(0.6)


def test_rare_categories_are_repeated_up_to_the_target_and_the_cap():
    from solutions.contracts.training import oversample_rare

    labels = np.zeros((14, 3), dtype=np.float32)
    labels[:10, 0] = 1  # common: 10 rows
    labels[10, 1] = 1  # rare: 1 row
    labels[11, [0, 2]] = 1  # a row of a common and a rare category repeats for the rare one
    texts = [f"s{i}" for i in range(14)]
    out_texts, out_labels = oversample_rare(texts, labels, target_rows=10, max_repeats=4)
    assert out_texts.count("s0") == 1  # category 0 already has 11 rows
    assert out_texts.count("s10") == 4  # 10 wanted, capped at 4
    assert out_texts.count("s11") == 4
    assert out_texts.count("s13") == 1  # "no clause" rows stay single
    assert len(out_texts) == len(out_labels) and (out_labels[[i for i, t in enumerate(out_texts) if t == "s10"], 1] == 1).all()
