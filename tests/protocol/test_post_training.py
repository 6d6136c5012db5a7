"""agnbench.protocol.post_training and model_card: val-only calibration with known outputs, the run files, checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.contracts.run_dir import read_status
from agnbench.contracts.schema import validate_predictions
from agnbench.errors import AgnbenchError
from agnbench.protocol import check_decision_rule, check_splits, finish_run, render_model_card, split_metrics
from agnbench.protocol.calibration import Calibrator


def _finish(run_dir: Path, rows: dict, *, classes: tuple[str, ...], y_train: np.ndarray, calibration: str,
            threshold: str = "argmax", seen: dict | None = None) -> dict:
    """finish_run with a model section and a card that record what the protocol passed them."""
    seen = {} if seen is None else seen

    def summary(calibrator: Calibrator, rule: dict) -> dict:
        seen["calibrator"], seen["rule"] = calibrator, rule
        return {"calibration": calibrator.method, "threshold": rule, "planted": True}

    def card(metrics: dict) -> str:
        seen["card_metrics"] = metrics
        return render_model_card(run_id=run_dir.name, facts=["- planted"], metrics=metrics)

    run_dir.mkdir(parents=True)
    return finish_run(run_dir, **rows, classes=classes, y_train=y_train, track="catalog", model="planted", seed=7,
                      calibration=calibration, threshold=threshold, target_precision=0.9, model_summary=summary,
                      model_card=card)


def _rows(parts: list[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    """(split, labels, proba) blocks -> finish_run's row arguments, ids ``<split>-<i>``."""
    split = np.concatenate([[s] * len(y) for s, y, _ in parts])
    return {"object_id": np.array([f"{s}-{i}" for i, s in enumerate(split)]), "split": split,
            "labels": np.concatenate([y for _, y, _ in parts]).astype(np.int64),
            "proba": np.concatenate([p for _, _, p in parts])}


def _binary(p1: list[float]) -> np.ndarray:
    p1 = np.asarray(p1, dtype=np.float64)
    return np.column_stack([1.0 - p1, p1])


def test_binary_isotonic_is_fitted_on_val_only(tmp_path: Path) -> None:
    # val: perfectly ordered -> isotonic steps 0 (p <= 0.4) to 1 (p >= 0.6), linear in between;
    # test labels are the opposite of their scores, so fitting on test too would change the map
    val = ("val", np.array([0, 0, 0, 0, 1, 1, 1, 1]), _binary([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]))
    test = ("test", np.array([1, 1, 0, 0, 1]), _binary([0.05, 0.45, 0.55, 0.95, 0.55]))
    ood = ("ood", np.array([1, 0, -1]), _binary([0.2, 0.58, 0.9]))
    seen: dict = {}
    run = tmp_path / "run-binary"
    metrics = _finish(run, _rows([val, test, ood]), classes=("sf", "agn"), y_train=np.array([0, 0, 0, 1]),
                      calibration="isotonic", seen=seen)

    preds = pd.read_parquet(run / "predictions.parquet")
    validate_predictions(preds)
    assert list(preds["split"]) == ["val"] * 8 + ["test"] * 5 + ["ood"] * 3  # input order kept
    assert (preds["run_id"] == "run-binary").all() and (preds["seed"] == 7).all() and (preds["track"] == "catalog").all()
    np.testing.assert_allclose(preds["p_agn"], [0, 0, 0, 0, 1, 1, 1, 1, 0, 0.25, 0.75, 1, 0.75, 0, 0.9, 1], atol=1e-12)
    np.testing.assert_allclose(preds["p_sf"] + preds["p_agn"], 1.0)
    assert list(preds["y_pred"]) == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1]
    assert list(preds.loc[preds["split"] == "ood", "y_true"]) == [-1, -1, -1]  # whatever the labels said
    assert list(preds.loc[preds["split"] == "test", "y_true"]) == [1, 1, 0, 0, 1]

    calibration = json.loads((run / "calibration.json").read_text())
    assert calibration["calibrator"] == seen["calibrator"].to_dict()
    assert calibration["threshold"] == seen["rule"] == {"rule": "argmax", "threshold": None, "positive": 1}
    written = json.loads((run / "metrics.json").read_text())
    assert written == metrics == seen["card_metrics"]
    test_rows = preds[preds["split"] == "test"]
    want = split_metrics(test_rows["y_true"].to_numpy(), test_rows[["p_sf", "p_agn"]].to_numpy(),
                         test_rows["y_pred"].to_numpy(), majority_class=0)
    assert metrics["test"] == want and metrics["test"]["majority_baseline_accuracy"] == pytest.approx(2 / 5)
    assert metrics["val"]["accuracy"] == 1.0 and metrics["val"]["n"] == 8
    assert metrics["ood"] == {"n": 3, "fraction_predicted": {"sf": pytest.approx(1 / 3), "agn": pytest.approx(2 / 3)}}
    assert metrics["model"] == {"calibration": "isotonic", "threshold": seen["rule"], "planted": True}
    assert read_status(run) == "complete"
    card = (run / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: run-binary\n\n- planted\n\n## Metrics (point estimates)")
    assert "| test | 5 | 0.2000 |" in card and "n = 3) predicted as: sf 33.3%, agn 66.7%" in card


def test_three_classes_temperature_has_the_known_optimum(tmp_path: Path) -> None:
    # every val row is (0.8, 0.1, 0.1) and the labels are 2/3, 1/6, 1/6: the NLL optimum makes
    # p^(1/T) proportional to them, 8^(1/T) = 4, so T = 1.5; (0.1, 0.8, 0.1) then maps to (1/6, 2/3, 1/6)
    val = ("val", np.array([0, 0, 0, 0, 1, 2]), np.tile([0.8, 0.1, 0.1], (6, 1)))
    test = ("test", np.array([2, 2, 2, 1, 0]), np.tile([0.1, 0.8, 0.1], (5, 1)))
    seen: dict = {}
    run = tmp_path / "run-3"
    metrics = _finish(run, _rows([val, test]), classes=("sf", "agn", "liner"), y_train=np.array([2, 2, 1, 0]),
                      calibration="temperature", seen=seen)
    assert seen["calibrator"].params["temperature"] == pytest.approx(1.5, abs=1e-4)
    preds = pd.read_parquet(run / "predictions.parquet")
    probs = preds[["p_sf", "p_agn", "p_liner"]].to_numpy()
    np.testing.assert_allclose(probs[:6], np.tile([2 / 3, 1 / 6, 1 / 6], (6, 1)), atol=1e-4)
    np.testing.assert_allclose(probs[6:], np.tile([1 / 6, 2 / 3, 1 / 6], (5, 1)), atol=1e-4)
    assert list(preds["y_pred"]) == [0] * 6 + [1] * 5
    assert metrics["test"]["majority_baseline_accuracy"] == pytest.approx(3 / 5)  # train majority: class 2
    assert metrics["test"]["accuracy"] == pytest.approx(1 / 5)
    assert metrics["ood"] == {"n": 0, "fraction_predicted": {}}
    assert "Out-of-distribution" not in (run / "MODEL_CARD.md").read_text()
    assert json.loads((run / "calibration.json").read_text())["calibrator"]["method"] == "temperature"


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p1 = rng.uniform(size=60)
    y = (rng.uniform(size=60) < p1).astype(np.int64)
    rows = _rows([("val", y[:30], _binary(p1[:30])), ("test", y[30:50], _binary(p1[30:50])),
                  ("ood", y[50:], _binary(p1[50:]))])
    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"  # same run id
    for run in (a, b):
        _finish(run, rows, classes=("sf", "agn"), y_train=y, calibration="sigmoid", threshold="max_f1")
    for f in ("predictions.parquet", "metrics.json", "calibration.json", "MODEL_CARD.md", "status.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    rule = json.loads((a / "calibration.json").read_text())["threshold"]
    assert rule["rule"] == "max_f1" and rule["threshold"] is not None


def test_check_splits_messages() -> None:
    classes = ("sf", "agn")
    check_splits(np.array([0, 1, 1]), np.array([1, 0]), classes=classes, track="catalog")
    with pytest.raises(AgnbenchError, match=r"^the train split has 1 class\(es\) \(sf\); the catalog track needs at "
                                            r"least two: check the store's label scheme and cuts$"):
        check_splits(np.array([0, 0]), np.array([0, 1]), classes=classes, track="catalog")
    with pytest.raises(AgnbenchError, match=r"^the val split has 0 class\(es\) \(none\); the catalog track"):
        check_splits(np.array([0, 1]), np.array([], dtype=np.int64), classes=classes, track="catalog")
    with pytest.raises(AgnbenchError, match=r"^the val split has 1 class\(es\) with spectra \(agn\); training needs "
                                            r"at least two: check the store's label scheme, cuts and quarantine.csv$"):
        check_splits(np.array([0, 1]), np.array([1, 1]), classes=classes, track="spectra", inputs_required=True)


def test_check_decision_rule() -> None:
    check_decision_rule("argmax", n_classes=4, section="catalog")
    check_decision_rule("max_f1", n_classes=2, section="catalog")
    with pytest.raises(AgnbenchError, match=r"^images.threshold=target_precision needs a binary label scheme; "
                                            r"use argmax for multi-class$"):
        check_decision_rule("target_precision", n_classes=3, section="images")
