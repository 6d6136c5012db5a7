"""One pathological spectrum (a near-zero normaliser) must not collapse the spectra track's training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from agnbench.config.core import load_config
from agnbench.contracts.store import open_store
from agnbench.data_prep.ingest.store import prep
from agnbench.deep.train_deep import train_deep
from tests.data_prep.ingest.test_spectra_source import write_6df_like

N = 64


@pytest.fixture(scope="module")
def odd_survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """64 6dF-style spectra with a planted class signal (Halpha strength) and one pathological star-like
    object whose flux is ~0 in the normalisation window, in the training split's class."""
    root = tmp_path_factory.mktemp("odd")
    raw = root / "spectra"
    raw.mkdir()
    rng = np.random.default_rng(11)
    labels = []
    for i in range(N):
        agn = i % 2 == 1
        write_6df_like(raw / f"s{i:03d}.fits", z=0.03 + 0.001 * i, line=60.0 if agn else 2.0, rng=rng)
        labels.append({"id": f"s{i:03d}", "c": int(agn)})
    path = write_6df_like(raw / "odd.fits", z=0.05, line=2.0, rng=rng)
    with fits.open(path, mode="update") as hdul:
        rest = (3900.0 + 1.6 * np.arange(3600)) / 1.05
        window = (rest > 5200) & (rest < 5800)
        hdul[0].data[0, window] = 1e-5
    labels.append({"id": "odd", "c": 0})
    pd.DataFrame(labels).to_csv(root / "labels.csv", index=False)
    return raw, root / "labels.csv"


def _store(odd_survey: tuple[Path, Path], out: Path, *overrides: str) -> Path:
    raw, table = odd_survey
    cfg = load_config(overrides=["prep.workers=1", "prep.val_fraction=0.25", "prep.test_fraction=0.25", *overrides])
    return prep(cfg, source="spectra", raw=raw, table=table, id_col="id", label_col="c", label_map="0:sf,1:agn",
                out=out, progress=False)


def _test_auc(store: Path, runs: Path, *overrides: str) -> float:
    cfg = load_config(overrides=["spectra.width=4", "spectra.blocks=[1,1]", "spectra.epochs=8", "spectra.patience=8",
                                 "spectra.batch_size=8", "spectra.calibration=none", *overrides])
    run = train_deep(cfg, track="spectra", data=store, runs_dir=runs, progress=False)
    return json.loads((run / "metrics.json").read_text())["test"]["roc_auc"]


def test_fallback_normaliser_and_input_clip_keep_training_alive(odd_survey: tuple[Path, Path], tmp_path: Path) -> None:
    # default: the odd object's window median is near zero, so it is divided by its median |flux|
    robust = _store(odd_survey, tmp_path / "robust")
    obj = open_store(robust).objects.set_index("object_id")
    assert obj.loc["odd", "q_spec_norm_fallback"] == 1 and obj.loc["odd", "split"] in ("train", "val", "test")
    assert np.abs(np.load(robust / "spectra" / "flux.npy")).max() < 100
    assert _test_auc(robust, tmp_path / "runs") >= 0.9
    # without the fallback (norm_floor 0) the odd spectrum reaches ~1e5 in the store ...
    raw_norm = _store(odd_survey, tmp_path / "raw", "prep.norm_floor=0")
    assert np.abs(np.load(raw_norm / "spectra" / "flux.npy")).max() > 1e4
    # ... and the network input clip (spectra.flux_clip) still keeps it from dominating training
    assert _test_auc(raw_norm, tmp_path / "runs") >= 0.9
