"""Report tables and the results paragraph: exact formatting, best-model choice and test orientation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnbench.reports import tables as tb
from agnbench.reports.summary_text import oriented_test, summary_paragraph


def _summary() -> pd.DataFrame:
    rows = []
    values = {"a": {"roc_auc": 0.90, "balanced_accuracy": 0.80, "ece": 0.05, "accuracy": 0.85},
              "b": {"roc_auc": 0.95, "balanced_accuracy": 0.78, "ece": 0.02, "accuracy": 0.86},
              tb.MAJORITY: {"roc_auc": 0.5, "balanced_accuracy": 0.5, "ece": 0.0, "accuracy": 0.8}}
    for run, metrics in values.items():
        for metric, v in metrics.items():
            rows.append({"metric": metric, "run": run, "estimate": v, "lo": v - 0.02, "hi": v + 0.01})
    return pd.DataFrame(rows)


def _tests() -> pd.DataFrame:
    return pd.DataFrame([
        {"run_a": "a", "run_b": "b", "metric": "roc_auc", "test": "DeLong", "delta": -0.05, "lo": -0.08, "hi": -0.02,
         "statistic": -3.0, "p_value": 0.002, "note": None, "p_holm": 0.006},
        {"run_a": "a", "run_b": "b", "metric": "balanced_accuracy", "test": "paired bootstrap", "delta": 0.02,
         "lo": -0.01, "hi": 0.05, "statistic": None, "p_value": 0.2, "note": None, "p_holm": 0.4},
    ])


def test_headline_table_picks_the_best_model_per_direction() -> None:
    head = tb.headline_table(_summary(), metrics=("roc_auc", "balanced_accuracy", "ece"))
    assert list(head["run"]) == ["a", "b", tb.MAJORITY]  # baseline last, never "best"
    assert head.attrs["best"] == {"roc_auc": "b", "balanced_accuracy": "a"}  # plug-in ECE is never ranked
    tex = tb.headline_latex(head, caption="50% of a_b & c", label="tab:x")
    assert r"50\% of a\_b \& c" in tex
    assert r"$\mathbf{0.950^{+0.010}_{-0.020}}$" in tex and "$0.900^{+0.010}_{-0.020}$" in tex
    assert tex.count(r"\midrule") == 2  # after the header, and before the majority baseline


def test_calibration_columns_are_never_ranked_and_show_their_ideal_value() -> None:
    rows = [{"metric": m, "run": run, "estimate": v, "lo": v - 0.1, "hi": v + 0.1}
            for run, vals in {"a": (0.02, 0.9, 0.1), "b": (-0.01, 1.4, -0.3)}.items()
            for m, v in zip(("debiased_ce", "calibration_slope", "calibration_intercept"), vals)]
    head = tb.headline_table(pd.DataFrame(rows))
    assert head.attrs["metrics"] == ["debiased_ce", "calibration_slope", "calibration_intercept"]
    assert head.attrs["best"] == {}
    tex = tb.headline_latex(head, caption="c")
    assert r"\mathbf" not in tex
    assert "Cal. slope (ideal 1)" in tex and "Cal. intercept (ideal 0)" in tex and r"L2-CE (debiased) $\downarrow$" in tex


def test_interval_and_p_formatting() -> None:
    assert tb.format_interval(0.5, 0.4, 0.65) == "$0.500^{+0.150}_{-0.100}$"
    assert tb.format_interval(0.5, 0.4, 0.65, latex=False, digits=2) == "0.50 [0.40, 0.65]"
    assert tb.format_interval(np.nan, 0, 1) == "--"
    assert tb.format_p(3e-7) == "< 1e-4" and tb.format_p(0.01234) == "0.0123"
    assert tb.latex_escape("x_1 ~ 5%") == r"x\_1 \textasciitilde{} 5\%"


def test_oriented_test_flips_sign_and_interval() -> None:
    forward = oriented_test(_tests(), "a", "b", "roc_auc", "DeLong")
    backward = oriented_test(_tests(), "b", "a", "roc_auc", "DeLong")
    assert forward["delta"] == -0.05 and backward["delta"] == 0.05
    assert (backward["lo"], backward["hi"]) == (0.02, 0.08)
    assert oriented_test(_tests(), "a", "c", "roc_auc", "DeLong") is None


def test_summary_paragraph_states_the_right_winner_and_significance() -> None:
    inputs = {"objects": {"split": "test", "shared": 100}, "class_counts": {"sf": 80, "agn": 20},
              "compare": {"n_boot": 2000, "confidence": 0.95, "ci": "percentile"}}
    text = summary_paragraph(_summary(), _tests(), inputs, describe={"a": "model A", "b": "model B"}, mock=True)
    assert text.startswith("These numbers come from the simulated (mock) survey")
    assert "model B has the highest ROC-AUC, 0.950 [0.930, 0.960]" in text
    assert ("difference +0.050 [+0.020, +0.080], DeLong normal-approximation 95% interval; DeLong p = 0.002, "
            "Holm-corrected p = 0.006: significant at 0.05") in text  # the interval names its method (item 6)
    assert "95% percentile interval of 2000 paired bootstrap differences; paired bootstrap p = 0.2" in text
    assert "model A has the highest balanced accuracy" in text and "not significant at 0.05" in text
    assert "accuracy 0.800" in text  # the majority baseline
    assert "best calibrated" not in text and "not used to rank the models): model A 0." in text
    real = summary_paragraph(_summary(), _tests(), inputs, describe={}, mock=False)
    assert "mock" not in real


def test_pairwise_table_marks_holm_significance() -> None:
    pw = tb.pairwise_table(_tests(), alpha=0.05)
    assert list(pw["significant"]) == [True, False]
    shown = tb.pairwise_display(pw)
    assert shown["p (Holm)"].tolist() == ["0.006 *", "0.4"]


@pytest.mark.parametrize("metric,label", [("precision_agn", "Precision (agn)"), ("f1_sf", "F1 (sf)"),
                                          ("roc_auc", "ROC-AUC")])
def test_metric_labels(metric: str, label: str) -> None:
    assert tb.metric_label(metric) == label
