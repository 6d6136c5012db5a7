"""Modality shares of a logistic fusion stacker (issue 20 item 3): exact additive decomposition, checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agnbench.config.core import load_config
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import write_model_meta, write_status
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json, atomic_write_parquet
from agnbench.interpretability.explain import explain_run
from agnbench.interpretability.modality_shares import decompose, fusion_modality_shares, share_summary

CLASSES = ("sf", "agn")
N = 120
RNG = np.random.default_rng(5)
Y = (np.arange(2 * N) % 3 == 0).astype(int)
SPLIT = np.repeat(["val", "test"], N)
IDS = np.array([f"o{i:04d}" for i in range(2 * N)])


def _preds(name: str, track: str, p1: np.ndarray, keep: np.ndarray | None = None) -> pd.DataFrame:
    keep = np.ones(p1.size, bool) if keep is None else keep
    return prediction_frame(object_id=IDS[keep], split=SPLIT[keep], y_true=Y[keep],
                            proba=np.column_stack([1 - p1, p1])[keep], y_pred=(p1[keep] > 0.5).astype(int),
                            classes=CLASSES, track=track, model=f"{track}-m", run_id=name, seed=0)


def _run(root: Path, name: str, preds: pd.DataFrame) -> Path:
    run = root / name
    run.mkdir()
    atomic_write_parquet(run / "predictions.parquet", preds)
    atomic_write_json(run / "data.json", {"objects_sha256": "abc", "label_scheme": "agn_vs_sf",
                                          "classes": list(CLASSES), "counts": {"train/sf": 60, "train/agn": 30}})
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "fusion": {"calibration": "none"}}))
    write_status(run, "complete")
    return run


def _fusion(root: Path, *, w=(1.3, 0.4), b=-0.2, missing_images: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """Members catalog and images; a logistic stacker on their logits (images may miss some objects, with a
    missing-indicator input); predictions = the stacker's probabilities exactly."""
    p = {t: np.clip(1 / (1 + np.exp(-(1.5 * (Y - 0.5) * 2 + RNG.normal(0, 1, Y.size)))), 1e-9, 1 - 1e-9)
         for t in ("catalog", "images")}
    keep_img = np.arange(Y.size) % 7 != 0 if missing_images else np.ones(Y.size, bool)
    cat = _run(root, "cat", _preds("cat", "catalog", p["catalog"]))
    img = _run(root, "img", _preds("img", "images", p["images"], keep_img))
    x = {t: np.log(np.clip(p[t], 1e-6, 1)) - np.log(np.clip(1 - p[t], 1e-6, 1)) for t in p}
    x["images"] = np.where(keep_img, x["images"], 0.0)
    inputs, cols, coefs = ["catalog:logit_agn", "images:logit_agn"], [x["catalog"], x["images"]], list(w)
    if missing_images:
        inputs.append("images:missing")
        cols.append((~keep_img).astype(float))
        coefs.append(0.7)
    z = b + np.column_stack(cols) @ np.array(coefs)
    fus = _run(root, "fus", _preds("fus", "fusion", 1 / (1 + np.exp(-z))).assign(track="fusion", model="stack-logreg"))
    members = [{"run_id": r.name, "path": str(r), "track": t, "model": f"{t}-m", "seed": 0, "label": t}
               for r, t in ((cat, "catalog"), (img, "images"))]
    write_model_meta(fus, {"track": "fusion", "model": "stack-logreg", "members": members, "inputs": inputs,
                           "input_members": [i.split(":")[0] for i in inputs], "missing": "indicator",
                           "leave_out": None, "classes": list(CLASSES)})
    rows = [{"class_out": "agn", "input": i, "member": i.split(":")[0], "coefficient": c} for i, c in zip(inputs, coefs)]
    rows.append({"class_out": "agn", "input": "(intercept)", "member": "", "coefficient": b})
    pd.DataFrame(rows).to_csv(fus / "coefficients.csv", index=False)
    return fus, {**x, "z": z}


def test_shares_are_the_exact_additive_decomposition_of_the_stacker_logit(tmp_path: Path) -> None:
    fus, x = _fusion(tmp_path, missing_images=True)
    shares, record = fusion_modality_shares(fus, split="test")
    test = SPLIT == "test"
    order = np.argsort(IDS[test])
    assert shares["object_id"].tolist() == IDS[test][order].tolist()
    cat = 1.3 * x["catalog"][test][order]
    img = 0.4 * x["images"][test][order] + 0.7 * (np.arange(Y.size) % 7 == 0)[test][order]
    np.testing.assert_allclose(shares["contribution_catalog"], cat, atol=1e-12)
    np.testing.assert_allclose(shares["contribution_images"], img, atol=1e-12)
    np.testing.assert_allclose(shares["contribution_catalog"] + shares["contribution_images"] + shares["intercept"],
                               x["z"][test][order], atol=1e-10)
    np.testing.assert_allclose(shares["share_catalog"], np.abs(cat) / (np.abs(cat) + np.abs(img)), atol=1e-12)
    assert record["checked_against_predictions"] and record["max_probability_error"] < 1e-8
    assert record["modalities"] == ["catalog", "images"]


def test_a_broken_decomposition_or_changed_member_is_a_clear_error(tmp_path: Path) -> None:
    X = RNG.normal(size=(10, 3))
    with pytest.raises(AgnbenchError, match="not additive"):
        decompose(X, np.ones(3), 0.5, ["a", "a", "b"], logit=0.5 + X.sum(axis=1) + 1e-6)
    fus, _ = _fusion(tmp_path)
    preds = pd.read_parquet(tmp_path / "img" / "predictions.parquet")
    preds["p_agn"] = 0.5
    preds["p_sf"] = 0.5
    atomic_write_parquet(tmp_path / "img" / "predictions.parquet", preds)
    with pytest.raises(AgnbenchError, match="away from the run's predictions"):
        fusion_modality_shares(fus, split="test")


def test_summary_by_class_and_bins_and_explain_writes_attributions(tmp_path: Path) -> None:
    fus, _ = _fusion(tmp_path, w=(2.0, 0.0))  # images carry no weight: share 0 everywhere
    shares, _ = fusion_modality_shares(fus, split="test")
    objects = pd.DataFrame({"object_id": IDS, "z": np.linspace(0.01, 0.3, IDS.size), "q_spec_sn": RNG.uniform(1, 30, IDS.size)})
    table = share_summary(shares, classes=CLASSES, store_objects=objects, n_bins=3)
    assert set(table["by"]) == {"class", "redshift", "sn"}
    assert (table.loc[table["modality"] == "images", "mean_share"] == 0).all()
    cls = table[(table["by"] == "class") & (table["modality"] == "catalog")].set_index("bin")
    assert cls.loc["agn", "n"] == int(np.sum(Y[SPLIT == "test"] == 1))
    assert table[(table["by"] == "redshift") & (table["modality"] == "catalog")]["n"].sum() == N
    out = explain_run(load_config(overrides=["explain.split=test"]), run=fus)
    assert (out / "modality_shares.parquet").is_file() and (out / "modality_shares.csv").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["track"] == "fusion" and summary["n"] == N and summary["modality_shares"]["modalities"]


def test_multinomial_stacker_is_decomposed_against_class_zero_and_gbm_is_refused(tmp_path: Path) -> None:
    classes = ("galaxy", "qso", "star")
    y = np.arange(2 * N) % 3
    gen = np.random.default_rng(11)
    runs, logits = [], []
    for name, track in (("cat", "catalog"), ("spec", "spectra")):
        raw = gen.normal(size=(y.size, 3)) + 2.0 * np.eye(3)[y]
        p = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
        preds = prediction_frame(object_id=IDS, split=SPLIT, y_true=y, proba=p, y_pred=p.argmax(axis=1),
                                 classes=classes, track=track, model=f"{track}-m", run_id=name, seed=0)
        runs.append(_run(tmp_path, name, preds))
        logits += [np.log(p[:, k]) - np.log(p[:, 0]) for k in (1, 2)]
    X = np.column_stack(logits)
    inputs = [f"{t}:logit_{c}" for t in ("catalog", "spectra") for c in classes[1:]]
    W = gen.normal(size=(3, 4))
    b = gen.normal(size=3)
    z = X @ W.T + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    fus = _run(tmp_path, "fus", prediction_frame(object_id=IDS, split=SPLIT, y_true=y, proba=p, y_pred=p.argmax(axis=1),
                                                 classes=classes, track="fusion", model="stack-logreg", run_id="fus",
                                                 seed=0))
    write_model_meta(fus, {"track": "fusion", "model": "stack-logreg", "inputs": inputs, "missing": "drop",
                           "leave_out": None, "members": [{"run_id": r.name, "path": str(r), "track": t, "label": t,
                                                           "model": f"{t}-m", "seed": 0}
                                                          for r, t in zip(runs, ("catalog", "spectra"))]})
    rows = [{"class_out": c, "input": i, "coefficient": W[k, j]} for k, c in enumerate(classes)
            for j, i in enumerate(inputs)] + [{"class_out": c, "input": "(intercept)", "coefficient": b[k]}
                                              for k, c in enumerate(classes)]
    pd.DataFrame(rows).to_csv(fus / "coefficients.csv", index=False)
    shares, record = fusion_modality_shares(fus, split="test")
    assert record["class_out"] == ["qso", "star"] and record["max_probability_error"] < 1e-8
    test = np.flatnonzero(SPLIT == "test")[np.argsort(IDS[SPLIT == "test"])]
    star = shares[shares["class_out"] == "star"]
    np.testing.assert_allclose(star["contribution_spectra"], X[test][:, 2:] @ (W[2, 2:] - W[0, 2:]), atol=1e-10)
    np.testing.assert_allclose(star["logit"], z[test, 2] - z[test, 0], atol=1e-10)
    (fus / "coefficients.csv").unlink()  # a gbm stacker writes none
    with pytest.raises(AgnbenchError, match="logistic-regression stacker"):
        fusion_modality_shares(fus, split="test")
