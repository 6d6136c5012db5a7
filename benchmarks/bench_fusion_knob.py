"""Does the images track add information beyond the catalog only when the mock plants it? (issue 20)

The mock's nuclear point source (``simulate.point_source_fraction``, default 0.5 of the Seyferts) is the image
information about AGN beyond the host's photometry and morphology. For each of ``point_source_fraction`` 0 and
0.5, the mock of the test fixtures (seed 3, 2,000 galaxies, 48 px cutouts; with the same seed the population,
labels and splits are the same draws, only the point sources differ) is simulated and prepped, the catalog track
(xgboost, photometry) and the images track (10 epochs, patience 4: ``tests/conftest.py`` ``TRAINED``) are
trained, the two are fused (``agnbench train fusion``, logistic-regression stacker cross-fitted on val), and the
fusion is compared with the catalog run alone (``agnbench compare``, paired bootstrap, 1,000 replicates, test
split, 247 objects).

Measured (2-core shared CPU, one run each, December 2026; ROC AUC, fusion - catalog, 95% percentile interval):

- point_source_fraction 0:   catalog 0.962, catalog + images 0.962, delta +0.0001 [-0.0012, +0.0017] (includes 0)
- point_source_fraction 0.5: catalog 0.886, catalog + images 0.921, delta +0.035 [+0.005, +0.067] (excludes 0)

One training run per setting: the contrast is the planted one, but not yet a test (it takes ~10 CPU minutes, and
its reliability over seeds is not measured). ``python -m benchmarks.bench_fusion_knob`` repeats it and writes
``benchmarks/results/fusion_knob.json``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from agnbench.cli.main import main as cli
from agnbench.config.core import load_config

RESULTS = Path(__file__).parent / "results" / "fusion_knob.json"
FRACTIONS = (0.0, 0.5)


def measure(fraction: float, root: Path) -> dict:
    """Simulate, prep, train catalog + images, fuse, compare; the fusion-minus-catalog ROC AUC row."""
    from agnbench.baselines.train_catalog import train_catalog
    from agnbench.data_prep.ingest.store import prep
    from agnbench.data_prep.mock.simulate import simulate
    from agnbench.deep.train_deep import train_deep

    raw = simulate(load_config(overrides=["seed=3", "simulate.n=2000", "simulate.image_size=48",
                                          f"simulate.point_source_fraction={fraction}"]), root / "survey",
                   progress=False)
    store = prep(load_config(overrides=["prep.image_size=48"]), source="mpajhu", raw=raw, out=root / "store",
                 progress=False)
    runs = root / "runs"
    catalog = train_catalog(load_config(), data=store, runs_dir=runs, name="catalog")
    images = train_deep(load_config(overrides=["images.epochs=10", "images.patience=4"]), track="images", data=store,
                        runs_dir=runs, name="images", progress=False)
    assert cli(["train", "fusion", "--runs", str(catalog), str(images), "--runs-dir", str(runs), "--name",
                "catalog-images", "-q"]) == 0
    assert cli(["compare", str(runs / "catalog-images"), str(catalog), "--out", str(root / "cmp"), "--n-boot",
                "1000", "--set", "compare.subgroups=[]", "-q"]) == 0
    tests = pd.read_csv(root / "cmp" / "tests.csv").query("metric == 'roc_auc' and test == 'paired bootstrap'")
    row = tests.iloc[0]
    auc = pd.read_csv(root / "cmp" / "summary.csv").query("metric == 'roc_auc'").set_index("run")["estimate"]
    return {"point_source_fraction": fraction, "catalog_auc": float(auc["catalog"]),
            "fusion_auc": float(auc["catalog-images"]), "delta": float(row["delta"]), "lo": float(row["lo"]),
            "hi": float(row["hi"]), "excludes_zero": bool(row["lo"] > 0 or row["hi"] < 0)}


def main() -> None:
    rows = []
    for fraction in FRACTIONS:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(measure(fraction, Path(tmp)))
            print(rows[-1])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
