"""Decision thresholds fitted on val and scored on test; abstention at a target coverage."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from agnbench.protocol.thresholds import apply_threshold, fit_threshold
from agnbench.bootstrap.decisions import abstention_table, threshold_table
from agnbench.errors import AgnbenchError

CLASSES = ("sf", "agn")


def _binary(g: np.random.Generator, n: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities with overlapping classes (logistic score, prevalence ~0.3)."""
    y = (g.random(n) < 0.3).astype(np.int64)
    p1 = 1.0 / (1.0 + np.exp(-(signal * (2 * y - 1) + g.normal(size=n) - 0.8)))
    return y, np.column_stack([1 - p1, p1])


@pytest.fixture(scope="module")
def binary() -> tuple[dict, dict]:
    g = np.random.default_rng(3)
    val = {"strong": _binary(g, 800, 1.5), "weak": _binary(g, 800, 0.4)}
    test = {"strong": _binary(g, 900, 1.5), "weak": _binary(g, 900, 0.4)}
    return val, test


def test_threshold_table_matches_direct_calls(binary: tuple[dict, dict]) -> None:
    val, test = binary
    table = threshold_table(val=val, test=test, classes=CLASSES, target_precision=0.6)
    assert list(table.columns) == [
        "run", "rule", "threshold", "val_precision", "val_recall", "test_precision",
        "test_recall", "test_f1", "test_accuracy", "test_n", "note",
    ]
    assert list(zip(table.run, table.rule)) == [
        (r, rule) for r in ("strong", "weak") for rule in ("argmax", "max_f1", "target_precision")
    ]
    for row in table.itertuples():
        (y_val, p_val), (y_test, p_test) = val[row.run], test[row.run]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_threshold(p_val, y_val, rule=row.rule, target_precision=0.6)
        pred = apply_threshold(p_test, fit)
        if row.rule == "argmax":
            assert np.isnan(row.threshold)
        else:
            assert row.threshold == fit["threshold"]
            assert row.val_precision == pytest.approx(fit["val_precision"], abs=1e-12)
            assert row.val_recall == pytest.approx(fit["val_recall"], abs=1e-12)
        assert row.test_precision == pytest.approx(precision_score(y_test, pred), abs=1e-12)
        assert row.test_recall == pytest.approx(recall_score(y_test, pred), abs=1e-12)
        assert row.test_f1 == pytest.approx(f1_score(y_test, pred), abs=1e-12)
        assert row.test_accuracy == pytest.approx(accuracy_score(y_test, pred), abs=1e-12)
        assert row.test_n == 900
    strong = table[table.run == "strong"].set_index("rule")
    assert strong.loc["target_precision", "val_precision"] >= 0.6
    assert strong.loc["target_precision", "note"] == ""
    assert strong.loc["max_f1", "test_f1"] > table.set_index(["run", "rule"]).loc[
        ("weak", "max_f1"), "test_f1"]


def test_unreachable_target_precision_is_noted(binary: tuple[dict, dict]) -> None:
    val, test = binary
    y_val, p_val = val["weak"]
    y_val = y_val.copy()
    y_val[np.argmax(p_val[:, 1])] = 0  # the top-scored object is negative: precision 1 unreachable
    table = threshold_table(val={"weak": (y_val, p_val)}, test={"weak": test["weak"]},
                            classes=CLASSES, rules=("target_precision",), target_precision=1.0)
    row = table.iloc[0]
    with pytest.warns(UserWarning, match="no threshold reaches"):
        fit = fit_threshold(p_val, y_val, rule="target_precision", target_precision=1.0)
    assert not fit["reached"]
    assert row.threshold == fit["threshold"]
    assert "not reached" in row.note and row.val_precision < 1.0


def test_no_positive_in_val_gives_nan_with_note(binary: tuple[dict, dict]) -> None:
    val, test = binary
    y_val, p_val = val["strong"]
    table = threshold_table(val={"s": (np.zeros_like(y_val), p_val)}, test={"s": test["strong"]},
                            classes=CLASSES)
    fitted = table.set_index("rule")
    assert np.isnan(fitted.loc["max_f1", "test_f1"]) and "no agn" in fitted.loc["max_f1", "note"]
    assert fitted.loc["argmax", "test_accuracy"] > 0.5


def test_multiclass_keeps_only_argmax() -> None:
    g = np.random.default_rng(4)
    k, n = 3, 300

    def split() -> tuple[np.ndarray, np.ndarray]:
        y = g.integers(0, k, n)
        p = g.dirichlet(np.ones(k), n) + 0.4 * np.eye(k)[y] * (1 + y)[:, None]  # unequal recalls
        return y, p / p.sum(axis=1, keepdims=True)

    val, test = {"m": split()}, {"m": split()}
    table = threshold_table(val=val, test=test, classes=("sf", "comp", "agn"))
    assert list(table.rule) == ["argmax"]
    row = table.iloc[0]
    assert "binary label schemes only" in row.note and "max_f1" in row.note
    y_test, p_test = test["m"]
    pred = p_test.argmax(axis=1)
    assert row.test_accuracy == pytest.approx(accuracy_score(y_test, pred), abs=1e-12)
    assert 0.5 < row.test_accuracy < 0.95
    assert row.test_precision == pytest.approx(
        precision_score(y_test, pred, average="macro"), abs=1e-12)
    assert row.test_recall == pytest.approx(recall_score(y_test, pred, average="macro"), abs=1e-12)
    assert row.test_recall != pytest.approx(recall_score(y_test, pred, average="weighted"))
    with pytest.raises(AgnbenchError, match="binary"):
        threshold_table(val=val, test=test, classes=("sf", "comp", "agn"), rules=("max_f1",))


def _confident(g: np.random.Generator, n: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated toy model: top probability c ~ U(1/k, 1), correct with probability c."""
    c = g.uniform(1.0 / k + 0.02, 1.0, n)
    guess = g.integers(0, k, n)
    correct = g.random(n) < c
    y = np.where(correct, guess, (guess + g.integers(1, k, n)) % k)
    p = np.repeat(((1 - c) / (k - 1))[:, None], k, axis=1)
    p[np.arange(n), guess] = c
    return y, p


def test_abstention_accuracy_rises_as_coverage_drops() -> None:
    g = np.random.default_rng(8)
    val, test = {"a": _confident(g, 4000)}, {"a": _confident(g, 4000)}
    classes = ("x", "y", "z")
    table = abstention_table(val=val, test=test, classes=classes)
    assert list(table.columns) == [
        "run", "target_coverage", "confidence_threshold", "val_coverage", "test_coverage",
        "test_accuracy_answered", "test_n_answered", "test_n", "note",
    ]
    assert list(table.target_coverage) == [1.0, 0.9, 0.8, 0.7]
    acc = table.test_accuracy_answered.to_numpy()
    assert np.all(np.diff(acc) > 0.005)
    assert np.all(np.abs(table.test_coverage - table.target_coverage) < 0.03)
    assert np.all(table.val_coverage >= table.target_coverage)
    assert np.all(np.diff(table.confidence_threshold) > 0)
    full = table.iloc[0]
    y_test, p_test = test["a"]
    assert full.confidence_threshold == 0.0 and full.test_n_answered == full.test_n == 4000
    assert full.test_accuracy_answered == accuracy_score(y_test, p_test.argmax(axis=1))
    for row in table.itertuples():  # the largest threshold reaching the target on val
        conf = val["a"][1].max(axis=1)
        if row.target_coverage < 1.0:
            assert np.mean(conf >= row.confidence_threshold) >= row.target_coverage
            above = conf[conf > row.confidence_threshold]
            assert np.mean(conf >= above.min()) < row.target_coverage
        answered = p_test.max(axis=1) >= row.confidence_threshold
        assert row.test_n_answered == answered.sum()


def test_abstention_threshold_on_small_val_with_ties() -> None:
    conf_val = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.95, 0.65])
    conf_test = np.array([0.8, 0.79, 0.95, 0.6])
    val = {"a": (np.zeros(7, dtype=int), np.column_stack([conf_val, 1 - conf_val]))}
    test = {"a": (np.array([0, 0, 1, 0]), np.column_stack([conf_test, 1 - conf_test]))}
    table = abstention_table(val=val, test=test, classes=CLASSES, coverages=(0.5, 3 / 7))
    # 0.5 of 7 needs 4 answers: t is the 4th largest val confidence, 0.7 (coverage 4/7)
    assert table.confidence_threshold.tolist() == [0.7, 0.8]
    assert table.val_coverage.tolist() == [4 / 7, 3 / 7]
    # test objects at exactly t are answered
    assert table.test_n_answered.tolist() == [3, 2]
    assert table.test_accuracy_answered.tolist() == [2 / 3, 1 / 2]
    hundred = np.linspace(0.5, 1.0, 100)  # 0.55 * 100 == 55.00000000000001 in floating point
    val100 = {"a": (np.zeros(100, dtype=int), np.column_stack([hundred, 1 - hundred]))}
    exact = abstention_table(val=val100, test=test, classes=CLASSES, coverages=(0.55, 0.9))
    assert exact.val_coverage.tolist() == [0.55, 0.9]


def test_abstention_with_no_answer_is_nan_with_note() -> None:
    val = {"a": (np.array([0, 1, 1, 0]), np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1, 0]]))}
    test = {"a": (np.array([0, 1]), np.array([[0.6, 0.4], [0.3, 0.7]]))}
    table = abstention_table(val=val, test=test, classes=CLASSES, coverages=(1.0, 0.5))
    none = table.iloc[1]
    assert none.confidence_threshold == 1.0 and none.test_n_answered == 0
    assert np.isnan(none.test_accuracy_answered) and "no test object answered" in none.note
    assert table.iloc[0].test_accuracy_answered == 1.0 and table.iloc[0].note == ""
    with pytest.raises(AgnbenchError, match="coverages"):
        abstention_table(val=val, test=test, classes=CLASSES, coverages=(0.0,))
    with pytest.raises(AgnbenchError, match="same"):
        abstention_table(val=val, test={}, classes=CLASSES)
    assert isinstance(table, pd.DataFrame)
