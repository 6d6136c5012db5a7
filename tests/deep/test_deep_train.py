"""`agnbench train spectra|images`: run directories, determinism, exact resume, workers, TTA, fine-tuning, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agnbench.config.core import load_config
from agnbench.contracts.store import open_store
from agnbench.deep.augment import dihedral
from agnbench.deep.networks import build_model
from agnbench.deep.train_deep import train_deep
from agnbench.deep.trainer import Runtime, view_averaged_proba
from agnbench.errors import AgnbenchError
from agnbench.contracts.schema import validate_predictions

TINY = {
    "spectra": ["spectra.width=4", "spectra.blocks=[1,1]", "spectra.epochs=3", "spectra.patience=3"],
    "images": ["images.width=0.125", "images.epochs=2", "images.patience=2"],
}
RUN_FILES = {"config.yaml", "env.json", "data.json", "model_meta.json", "model.pt", "model_best.pt",
             "checkpoint_last.pt", "history.csv", "calibration.json", "predictions.parquet", "metrics.json",
             "MODEL_CARD.md", "status.json"}
CPU = Runtime(device=torch.device("cpu"), amp_dtype=None, channels_last=False, workers=0, progress=False)


def _train(store: Path, runs: Path, track: str, *extra: str, **kwargs) -> Path:
    cfg = load_config(overrides=[*TINY[track], *extra])
    return train_deep(cfg, track=track, data=store, runs_dir=runs, progress=False, **kwargs)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("track", ["spectra", "images"])
def test_run_directory_is_complete_and_valid(mock_store: Path, tmp_path: Path, track: str) -> None:
    run = _train(mock_store, tmp_path, track)
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    preds = pd.read_parquet(run / "predictions.parquet")
    validate_predictions(preds)
    store = open_store(mock_store)
    objects = store.objects
    rows = objects["spec_row" if track == "spectra" else "image_row"]
    for split in ("val", "test", "ood"):
        want = objects.loc[(objects["split"] == split) & (rows >= 0), "object_id"]
        assert set(preds.loc[preds["split"] == split, "object_id"]) == set(want)
    assert (preds["track"] == track).all()
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    meta = json.loads((run / "model_meta.json").read_text())
    assert meta["input_shape"][0] == (2 if track == "spectra" else 3)
    if track == "spectra":
        assert meta["input_shape"][1] == np.load(mock_store / "spectra" / "wave.npy").size  # the store's grid
    # model.pt is the best epoch: rebuilt from model_meta, it reproduces the saved (calibrated) val predictions
    cfg = getattr(load_config(run / "config.yaml"), track)
    model = build_model(track, cfg, in_channels=meta["input_shape"][0], n_classes=2, seed=0)
    model.load_state_dict(_weights(run))
    from agnbench.protocol.calibration import Calibrator
    from agnbench.deep.data import TrackData
    from agnbench.deep.trainer import predict_proba

    data = TrackData(track, store, cfg, 0)
    val = data.indices("val")
    proba = predict_proba(model, data, val, rt=CPU, batch_size=64, tta=cfg.tta)
    calib = Calibrator.from_dict(json.loads((run / "calibration.json").read_text())["calibrator"])
    saved = preds.set_index("object_id").loc[objects["object_id"].to_numpy()[val], ["p_sf", "p_agn"]].to_numpy()
    np.testing.assert_allclose(calib.transform(proba), saved, atol=1e-6)
    card = (run / "MODEL_CARD.md").read_text()
    assert "best epoch" in card and "| test |" in card


def test_same_seed_same_weights_and_other_seed_differs(mock_store: Path, tmp_path: Path) -> None:
    a = _train(mock_store, tmp_path, "spectra", "spectra.epochs=2")
    b = _train(mock_store, tmp_path, "spectra", "spectra.epochs=2")
    c = _train(mock_store, tmp_path, "spectra", "spectra.epochs=2", "seed=1")
    assert _same_weights(a, b) and not _same_weights(a, c)
    pa, pb = (pd.read_parquet(r / "predictions.parquet").drop(columns="run_id") for r in (a, b))
    pd.testing.assert_frame_equal(pa, pb)


@pytest.mark.parametrize("track", ["spectra", "images"])
def test_resume_reaches_the_same_final_weights(mock_store: Path, tmp_path: Path, track: str) -> None:
    extra = [f"{track}.epochs=3", f"{track}.patience=3"]
    full = _train(mock_store, tmp_path / "full", track, *extra, name="full")

    def stop_after_first(state) -> None:
        if state.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(mock_store, tmp_path / "cut", track, *extra, name="cut", on_epoch_end=stop_after_first)
    cut = tmp_path / "cut" / "cut"
    assert json.loads((cut / "status.json").read_text())["status"] == "interrupted"
    assert not (cut / "predictions.parquet").exists()
    resumed = train_deep(load_config(), track=track, data=None, runs_dir=tmp_path, resume=cut, progress=False)
    assert resumed == cut
    assert _same_weights(full, cut)
    h_full, h_cut = pd.read_csv(full / "history.csv"), pd.read_csv(cut / "history.csv")
    pd.testing.assert_frame_equal(h_full[["epoch", "train_loss", "val_score"]], h_cut[["epoch", "train_loss", "val_score"]])
    with pytest.raises(AgnbenchError, match="already complete"):
        train_deep(load_config(), track=track, data=None, runs_dir=tmp_path, resume=cut, progress=False)


def test_results_do_not_depend_on_loader_workers(mock_store: Path, tmp_path: Path) -> None:
    a = _train(mock_store, tmp_path, "spectra", "spectra.epochs=1", "spectra.warmup_epochs=0", "spectra.workers=0")
    b = _train(mock_store, tmp_path, "spectra", "spectra.epochs=1", "spectra.warmup_epochs=0", "spectra.workers=2")
    assert _same_weights(a, b)


def test_tta_prediction_is_invariant_under_the_dihedral_group() -> None:
    model = build_model("images", load_config(overrides=["images.width=0.125"]).images, in_channels=3, n_classes=2,
                        seed=0).eval()
    x = torch.randn(4, 3, 24, 24)
    ref = view_averaged_proba(model, x, None, rt=CPU, tta=True)
    plain = view_averaged_proba(model, x, None, rt=CPU, tta=False)
    for k in range(1, 8):
        torch.testing.assert_close(view_averaged_proba(model, dihedral(x, k), None, rt=CPU, tta=True), ref)
    assert not torch.allclose(view_averaged_proba(model, dihedral(x, 1), None, rt=CPU, tta=False), plain)


def test_init_from_with_frozen_backbone(mock_store: Path, tmp_path: Path) -> None:
    base = _train(mock_store, tmp_path, "images", name="base")
    tuned = _train(mock_store, tmp_path, "images", "images.freeze_epochs=1", "images.epochs=2", name="tuned",
                   init_from=base)
    meta = json.loads((tuned / "model_meta.json").read_text())
    assert meta["init"]["loaded"] > 50 and meta["init"]["fresh"] == []
    history = pd.read_csv(tuned / "history.csv")
    assert list(history["frozen_backbone"]) == [True, False]
    assert "Fine-tuned from" in (tuned / "MODEL_CARD.md").read_text()


def test_focal_loss_balanced_sampler_and_redshift_input_train(mock_store: Path, tmp_path: Path) -> None:
    run = _train(mock_store, tmp_path, "spectra", "spectra.loss=focal", "spectra.sampler=balanced",
                 "spectra.class_weight=none", "spectra.label_smoothing=0.1", "spectra.use_redshift=true",
                 "spectra.use_ivar=false", "spectra.epochs=1", "spectra.warmup_epochs=0")
    meta = json.loads((run / "model_meta.json").read_text())
    assert meta["architecture"]["n_scalars"] == 1 and meta["input_shape"][0] == 1
    assert meta["inputs"]["redshift"]["used"]
    assert "redshift used as an extra input" in (run / "MODEL_CARD.md").read_text()


def test_clear_errors(mock_store: Path, tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": np.arange(200), "c": rng.integers(0, 2, 200), "feat": rng.normal(size=200)}).to_csv(table)
    from agnbench.data_prep.ingest.store import prep

    store = prep(load_config(), source="table", table=table, id_col="id", label_col="c", label_map="0:sf,1:agn",
                 out=tmp_path / "tstore", progress=False)
    with pytest.raises(AgnbenchError, match="no spectra/flux.npy"):
        _train(store, tmp_path, "spectra")
    spec = _train(mock_store, tmp_path, "spectra", "spectra.epochs=1", "spectra.warmup_epochs=0")
    with pytest.raises(AgnbenchError, match="spectra run, not images"):
        train_deep(load_config(), track="images", data=None, runs_dir=tmp_path, resume=spec, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(AgnbenchError, match="no cuda"):
            _train(mock_store, tmp_path, "spectra", "spectra.device=cuda")
    cli = [sys.executable, "-m", "agnbench.cli.main", "train", "spectra"]
    out = subprocess.run([*cli, "--data", str(tmp_path / "nowhere"), "-q"], capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "not a dataset store" in out.stderr
    out = subprocess.run([*cli, "--resume", str(spec), "--set", "spectra.lr=1"], capture_output=True, text=True)
    assert out.returncode == 1 and "saved config" in out.stderr


def test_cli_trains_images_and_prints_the_run(mock_store: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "agnbench.cli.main", "train", "images", "--data", str(mock_store), "--runs-dir",
           str(tmp_path), "--name", "cli", "--epochs", "1", "--set", "images.width=0.125", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(tmp_path / "cli")
    assert load_config(tmp_path / "cli" / "config.yaml").images.epochs == 1
