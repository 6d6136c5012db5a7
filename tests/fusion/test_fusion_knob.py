"""Images add to the catalog only where the mock plants image information beyond it (issue 20).

The mock's nuclear point source (``simulate.point_source_fraction`` of the Seyferts, flux ``point_source_strength``
times 4-30% of the galaxy's r flux) is the image information about AGN that the catalog lacks: the catalog sees it
only as bluer colours and a diluted 4000 A break, which move those Seyferts towards the star-forming galaxies, while
the cutouts show it as an unresolved nucleus. Two surveys of one seed, one with point sources in half the Seyferts
at twice the default flux and one without any, go through the real pipeline: simulate -> prep -> the catalog track
(xgboost) and the images track -> ``agnbench train fusion`` -> ``agnbench compare``, and the ``incremental.csv`` row
"catalog + images vs catalog alone" (ROC AUC, paired bootstrap) must exclude 0 with the point sources and include
it without them.

To be cheap and reliable the mock is small but informative (1,000 galaxies, 32 px cutouts; 30% Seyferts and few
LINERs and composites, so the AGN class is mostly Seyferts; val 20% and test 30% of the objects, ~280 test objects)
and the point source is twice the default flux. With the same seed the two surveys draw the same candidate
galaxies; the nuclei make some Seyferts bright enough to pass the r < 17.77 limit, so the selected samples, ids and
splits differ slightly. ``benchmarks/bench_fusion_knob.py`` measures this configuration over seeds (and the larger
one of the test fixtures); docs/fusion.md gives the numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agnbench.cli.main import main
from agnbench.config.core import load_config

SEED = 3
N_GALAXIES = 1000
IMAGE_SIZE = 32
#: the class mix of the knob's mock: the AGN class mostly Seyferts, few composites (out of distribution)
POPULATION = ("simulate.frac_seyfert=0.3", "simulate.frac_liner=0.03", "simulate.frac_composite=0.03")
#: the knob: point sources in half the Seyferts at twice the default flux, or none
POINT_SOURCES = {True: ("simulate.point_source_fraction=0.5", "simulate.point_source_strength=2"),
                 False: ("simulate.point_source_fraction=0",)}
SPLITS = ("prep.val_fraction=0.2", "prep.test_fraction=0.3")
#: the images track: the default ResNet-18 layout (width 0.5), 12 epochs, no test-time augmentation
IMAGES = ("images.epochs=12", "images.patience=4", "images.tta=false")
FUSION, CATALOG, IMAGES_RUN = "catalog-images", "catalog", "images"


def catalog_plus_images_vs_catalog(root: Path, *, seed: int, planted: bool, n: int = N_GALAXIES,
                                   image_size: int = IMAGE_SIZE, population: tuple[str, ...] = POPULATION,
                                   point_sources: tuple[str, ...] | None = None, splits: tuple[str, ...] = SPLITS,
                                   images: tuple[str, ...] = IMAGES, n_boot: int = 1000) -> dict:
    """Simulate, prep, train catalog and images, fuse, compare: what the images add beyond the catalog.

    Parameters
    ----------
    root : Path
        An empty folder for the survey, store, runs and comparison.
    seed : int
        The simulator's seed (the store's splits and the runs keep the config's seed, 0, as the test fixtures).
    planted : bool
        Point sources as :data:`POINT_SOURCES` (``point_sources`` overrides them when given) or none.
    n, image_size, population, splits, images, n_boot
        The mock's size and class mix, the store's split fractions, the images track's settings, the bootstrap.

    Returns
    -------
    dict
        The ``incremental.csv`` row of "catalog + images vs catalog alone" (ROC AUC, paired bootstrap) with
        ``catalog_auc``, ``images_auc``, ``fusion_auc`` (test split), ``n_test`` and ``n_point_sources`` (Seyferts
        with a nucleus in the survey's ``truth.parquet``) added.
    """
    from agnbench.baselines.train_catalog import train_catalog
    from agnbench.data_prep.ingest.store import prep
    from agnbench.data_prep.mock.simulate import simulate
    from agnbench.deep.train_deep import train_deep

    knob = (POINT_SOURCES[True] if point_sources is None else point_sources) if planted else POINT_SOURCES[False]
    raw = simulate(load_config(overrides=[f"seed={seed}", f"simulate.n={n}", f"simulate.image_size={image_size}",
                                          "simulate.workers=1", *population, *knob]), root / "survey", progress=False)
    store = prep(load_config(overrides=[f"prep.image_size={image_size}", "prep.workers=1", *splits]),
                 source="mpajhu", raw=raw, out=root / "store", progress=False)
    runs = root / "runs"
    catalog = train_catalog(load_config(), data=store, runs_dir=runs, name=CATALOG)
    image_run = train_deep(load_config(overrides=list(images)), track="images", data=store, runs_dir=runs,
                           name=IMAGES_RUN, progress=False)
    assert main(["train", "fusion", "--runs", str(catalog), str(image_run), "--runs-dir", str(runs), "--name", FUSION,
                 "-q"]) == 0
    out = root / "cmp"
    assert main(["compare", str(runs / FUSION), str(catalog), str(image_run), "--out", str(out), "--n-boot",
                 str(n_boot), "--set", "compare.subgroups=[]", "-q"]) == 0
    inc = pd.read_csv(out / "incremental.csv")
    rows = inc[(inc["fusion"] == FUSION) & (inc["baseline"] == CATALOG) & (inc["metric"] == "roc_auc")
               & (inc["method"] == "paired bootstrap percentile")]
    assert len(rows) == 1, inc
    auc = pd.read_csv(out / "summary.csv").query("metric == 'roc_auc'").set_index("run")["estimate"]
    truth = pd.read_parquet(raw / "truth.parquet")
    return {**rows.iloc[0].to_dict(), "catalog_auc": float(auc[CATALOG]), "images_auc": float(auc[IMAGES_RUN]),
            "fusion_auc": float(auc[FUSION]), "n_test": int(rows.iloc[0]["n"]),
            "n_point_sources": int((truth["ps_frac"] > 0).sum())}


@pytest.mark.parametrize("planted", [True, False], ids=["point-sources", "no-point-sources"])
def test_images_add_to_the_catalog_only_where_the_mock_plants_a_point_source(planted: bool, tmp_path: Path) -> None:
    row = catalog_plus_images_vs_catalog(tmp_path, seed=SEED, planted=planted)
    assert (row["n_point_sources"] > 0) == planted  # the knob did what it says
    assert row["relation"] == "vs_member" and row["added"] == "images"
    assert row["text"].startswith("catalog + images vs catalog alone: ΔAUC")
    if planted:
        assert row["lo"] > 0, row  # the images add what the catalog cannot see: the nucleus
    else:
        assert row["lo"] <= 0 <= row["hi"], row  # nothing to add: the host's photometry and morphology are shared
