"""Applying a spectra run to a store (``agnbench predict``): its own store reproduces the run, the run's fitted
preprocessing is used (older runs recompute it, with a warning), mismatched inputs are refused, cutouts fitted with
another asinh stretch are converted exactly."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agnbench.config.core import load_config
from agnbench.contracts.store import open_store
from agnbench.deep.apply_deep import deep_predictor, restretch
from agnbench.deep.train_deep import train_deep
from agnbench.errors import AgnbenchError
from agnbench.transfer.apply_run import predict

TINY = ["spectra.width=4", "spectra.blocks=[1,1]", "spectra.epochs=2", "spectra.patience=2",
        "spectra.use_redshift=true"]
PROBS = ["p_sf", "p_agn"]


@pytest.fixture(scope="module")
def tiny_spectra_run(mock_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = load_config(overrides=TINY)
    return train_deep(cfg, track="spectra", data=mock_store, runs_dir=tmp_path_factory.mktemp("runs"), name="spec",
                      progress=False)


def _linked_store(store: Path, dest: Path, *, wave: np.ndarray | None = None, spectra: bool = True) -> Path:
    """A store sharing ``store``'s files through symlinks, optionally with another grid or without spectra."""
    (dest / "spectra").mkdir(parents=True)
    for name in ("objects.parquet", "manifest.json"):
        (dest / name).symlink_to(store / name)
    if spectra:
        for name in ("flux.npy", "ivar.npy"):
            (dest / "spectra" / name).symlink_to(store / "spectra" / name)
        if wave is None:
            (dest / "spectra" / "wave.npy").symlink_to(store / "spectra" / "wave.npy")
        else:
            np.save(dest / "spectra" / "wave.npy", wave)
    return dest


def test_own_store_reproduces_the_run(tiny_spectra_run: Path, mock_store: Path, tmp_path: Path) -> None:
    meta = json.loads((tiny_spectra_run / "model_meta.json").read_text())
    saved = meta["inputs"]["preprocessing"]
    assert saved["weight_scale"] > 0 and saved["z_std"] > 0 and meta["inputs"]["store_inputs"]["n_pix"] > 100
    out = predict(run=tiny_spectra_run, data=mock_store, out=tmp_path / "own", progress=False)
    own, again = pd.read_parquet(tiny_spectra_run / "predictions.parquet"), pd.read_parquet(out / "predictions.parquet")
    merged = own.merge(again, on="object_id", suffixes=("", "_new"), validate="1:1")
    assert len(merged) == len(own) and (merged["split"] == merged["split_new"]).all()
    np.testing.assert_allclose(merged[PROBS].to_numpy(), merged[[f"{p}_new" for p in PROBS]].to_numpy(), rtol=0,
                               atol=1e-9)
    assert (merged["y_pred"] == merged["y_pred_new"]).all()
    record = json.loads((out / "predict.json").read_text())
    metrics = json.loads((tiny_spectra_run / "metrics.json").read_text())
    assert record["metrics"]["test"]["roc_auc"] == pytest.approx(metrics["test"]["roc_auc"], abs=1e-9)
    assert record["applied"]["calibrator"] == "temperature"
    # objects without a spectrum are counted and skipped; ood objects kept
    objects = pd.read_parquet(mock_store / "objects.parquet")
    scored = objects[objects["split"].isin(["val", "test", "ood"])]
    assert record["counts"]["skipped"]["no_spectra_input"] == int((scored["spec_row"] < 0).sum())


def test_the_runs_preprocessing_is_used_not_refitted(tiny_spectra_run: Path, mock_store: Path, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The fitted values come from model_meta.json: changing them changes the predictions. Older runs: the values
    recorded beside the channels, else recomputed from the run's own store (with a warning), predict the same."""
    store = open_store(mock_store)
    some = np.flatnonzero(((store.objects["split"] == "test") & (store.objects["spec_row"] >= 0)).to_numpy())[:64]
    reference = deep_predictor(tiny_spectra_run, store).predict(some)
    meta_path, data_path = tiny_spectra_run / "model_meta.json", tiny_spectra_run / "data.json"
    original, data_record = meta_path.read_text(), data_path.read_text()
    try:
        meta = json.loads(original)
        meta["inputs"]["preprocessing"]["z_mean"] += 1.0
        meta_path.write_text(json.dumps(meta))
        assert np.abs(deep_predictor(tiny_spectra_run, store).predict(some) - reference).max() > 1e-6
        del meta["inputs"]["preprocessing"], meta["inputs"]["store_inputs"]  # a run from before they were saved
        meta_path.write_text(json.dumps(meta))
        with caplog.at_level(logging.WARNING):
            np.testing.assert_allclose(deep_predictor(tiny_spectra_run, store).predict(some), reference, atol=1e-12)
        assert "recomputing it from its own store" in caplog.text
        del meta["inputs"]["weight_scale"], meta["inputs"]["redshift"]  # even older: nothing recorded
        meta_path.write_text(json.dumps(meta))
        np.testing.assert_allclose(deep_predictor(tiny_spectra_run, store).predict(some), reference, atol=1e-12)
        data_path.write_text(json.dumps({**json.loads(data_record), "store": str(tmp_path / "gone")}))
        with pytest.raises(AgnbenchError, match="cannot be recomputed; restore the store"):
            deep_predictor(tiny_spectra_run, store)
        legacy = json.loads(original)
        del legacy["inputs"]["preprocessing"], legacy["inputs"]["store_inputs"]
        meta_path.write_text(json.dumps(legacy))  # recorded values, store gone: the input shape is still checked
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            np.testing.assert_allclose(deep_predictor(tiny_spectra_run, store).predict(some), reference, atol=1e-12)
        assert "only the input shape" in caplog.text
        legacy["input_shape"][-1] += 1
        meta_path.write_text(json.dumps(legacy))
        with pytest.raises(AgnbenchError, match="the run's network takes"):
            deep_predictor(tiny_spectra_run, store)
    finally:
        meta_path.write_text(original)
        data_path.write_text(data_record)


def test_mismatched_inputs_are_refused(tiny_spectra_run: Path, mock_store: Path, tmp_path: Path) -> None:
    wave = np.load(mock_store / "spectra" / "wave.npy")
    shifted = _linked_store(mock_store, tmp_path / "shifted", wave=wave * 1.001)
    with pytest.raises(AgnbenchError, match=r"spectra grid .* differs from the run's .* agnbench prep \.\.\. --config"):
        predict(run=tiny_spectra_run, data=shifted, out=tmp_path / "o1", progress=False)
    none = _linked_store(mock_store, tmp_path / "none", spectra=False)
    with pytest.raises(AgnbenchError, match="the store has no spectra"):
        predict(run=tiny_spectra_run, data=none, out=tmp_path / "o2", progress=False)
    table = tmp_path / "t.csv"
    pd.DataFrame({"object_id": ["a"], "x": [1.0]}).to_csv(table, index=False)
    with pytest.raises(AgnbenchError, match="needs a dataset store with spectra"):
        predict(run=tiny_spectra_run, data=table, out=tmp_path / "o3", progress=False)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 4))


def test_restretch_converts_between_asinh_scales() -> None:
    gen = np.random.default_rng(0)
    linear = gen.normal(0, 5, size=(4, 3, 8, 8)).astype(np.float32)
    s_new, s_run = np.array([0.5, 1.0, 2.0]), np.array([1.0, 0.25, 2.0])
    stretched = torch.asinh(torch.from_numpy(linear / s_new[None, :, None, None].astype(np.float32)))
    expected = np.arcsinh(linear / s_run[None, :, None, None])
    np.testing.assert_allclose(restretch(stretched, ratio=s_new / s_run).numpy(), expected, rtol=1e-4, atol=1e-5)
