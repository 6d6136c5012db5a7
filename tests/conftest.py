"""Shared fixtures: one mock survey per test session, and paths to the real test files."""

from __future__ import annotations

import os

# pytest-xdist (`make test`: one worker per core): every worker is one thread. Several workers each running
# OpenMP / torch / numba with as many threads as cores would wait on each other's descheduled threads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("AGNBENCH_MAX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import shutil  # noqa: E402 -- after the thread settings, which must precede torch / numba imports
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from astropy.table import Table

from agnbench.config.core import load_config

# agnbench honours HTTP(S)_PROXY; the tests' servers listen on 127.0.0.1, which a cluster's proxy cannot reach.
# Tests of the proxy path set these variables themselves (monkeypatch).
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"

#: Tests marked ``slow`` (end to end: they train models, run whole commands or build reports). ``make test``
#: runs everything; ``make test-fast`` (``-m "not slow"``) is the developers' quick loop. A test is slow if its
#: node id starts with one of these, or if it uses one of :data:`SLOW_FIXTURES` (directly or through another
#: fixture).
SLOW_TESTS = (
    "tests/reliability/test_cli_errors.py::test_report_works_on_a_table_store",
    "tests/deep/test_deep_science.py",
    "tests/deep/test_deep_train.py",
    "tests/interpretability/test_explain.py",
    "tests/reports/test_report.py",
    "tests/reports/test_report_any_store.py::test_report_on_a_real_table_store_skips_the_bpt_sections",
    "tests/reports/test_report_any_store.py::test_three_class_label_map_reports_majority_one_third",
    "tests/reports/test_report_any_store.py::test_report_on_a_spectra_only_store_with_three_classes",
    "tests/reports/test_report_interpret.py",
    "tests/reports/test_report_incremental.py",
    "tests/bootstrap/test_incremental_e2e.py",
    "tests/reports/test_report_performance.py",
    "tests/data_prep/mock/test_simulate_cli.py",
    "tests/data_prep/ingest/test_store.py::test_cli_prep",
    "tests/baselines/test_search.py::test_train_catalog_with_search_saves_trials",
    "tests/baselines/test_train_catalog.py::test_real_table_trains_and_training_refuses_line_columns",
    "tests/baselines/test_train_catalog.py::test_multiclass_bpt4_store",
    "tests/baselines/test_train_catalog.py::test_cli_multi_seed",
    "tests/baselines/test_train_catalog.py::test_renamed_bpt_ratios_are_refused_at_training_and_listed_when_kept",
    "tests/data_prep/ingest/test_table_source.py::test_cli_column_map_and_raw_refusal",
    "tests/test_pipeline.py",
    "tests/reports/test_report_spectra_store.py",
    "tests/deep/test_pathological_spectrum.py",
    "tests/reliability/test_run_stale.py",
    "tests/bootstrap/test_seed_combined.py::test_report_leads_with_the_seed_groups",
    "tests/deep/test_distributed.py::test_two_processes_write_one_complete_run_with_the_one_process_val_auc",
    "tests/deep/test_distributed.py::test_a_rank_that_dies_fails_the_run_with_one_clear_line_and_resumes_exactly",
    "tests/deep/test_distributed.py::test_a_rank_that_hangs_fails_the_others_within_the_timeout",
    "tests/data_prep/ingest/test_dask_cluster.py::test_mock_survey_store_is_byte_identical_on_the_cluster",
    "tests/test_cluster.py::test_dask_scheduler_and_worker_commands_build_the_local_store",
    "tests/transfer/test_predict_dask.py::test_a_spectra_run_over_store_shards_on_the_cluster",
    "tests/deep/test_init_weights.py::test_cli_train_images_init_weights_end_to_end",
    "tests/test_packaging.py::test_wheel_installs_and_runs_outside_the_source_tree",
    "tests/test_docs.py::test_python_blocks_run[tutorial.md]",
    "tests/tracking/test_tracking.py::test_spectra_run_interrupted_and_resumed_is_logged_to_mlflow_and_tensorboard",
    "tests/serve/test_app_browser.py",
    "tests/fusion/test_fusion_science.py",
    "tests/fusion/test_fusion_knob.py",
)
SLOW_FIXTURES = frozenset({"trained_runs", "explained_runs", "tiny_spectra_run"})


#: Files that take minutes (whole pipelines, the first user of the trained runs, multi-process training). They
#: are collected first and ``make test`` keeps that order (``--dist loadfile --no-loadscope-reorder``), so the
#: two workers start them at once and the many short files fill the time around them, instead of the long
#: ones forming the tail of the run. The users of the explained runs come later, when the trained runs exist.
HEAVY_FIRST = (
    "tests/test_pipeline.py",
    "tests/deep/test_deep_science.py",
    "tests/reliability/test_run_stale.py",
    "tests/deep/test_distributed.py",
    "tests/reports/test_report_performance.py",
    "tests/deep/test_deep_train.py",
)


def _heavy_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return HEAVY_FIRST.index(path) if path in HEAVY_FIRST else len(HEAVY_FIRST)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects: a mark added later would not count for ``-m "not slow"``
def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark the slow tests (see :data:`SLOW_TESTS` and :data:`SLOW_FIXTURES`)."""
    if item.nodeid.startswith(SLOW_TESTS) or SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope, which would undo the sort
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Collect the :data:`HEAVY_FIRST` files first."""
    items.sort(key=_heavy_rank)  # stable: the order within a file, and of the other files, is kept


def shared_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """``build(directory)`` once per test run, also across pytest-xdist workers; returns the directory.

    With ``pytest -n N`` every worker runs the session fixtures itself; the expensive ones (the mock
    survey, its stores, the trained runs) are built by the first worker that needs them, under a file
    lock in the run's shared base temporary directory, and the others wait and reuse the result. A
    ``.done`` marker is written last, so a build that failed is retried, never half-reused.

    ``AGNBENCH_TEST_CACHE=DIR`` (a developer's opt-in; CI and ``make test`` never set it) keeps these
    builds in ``DIR`` across test runs, so a loop on one test file does not retrain the shared models.
    The cache is not invalidated when the code changes: delete ``DIR`` after changing simulation, prep
    or training code.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-xdist: every worker's basetemp is a child of one run directory
    if os.environ.get("AGNBENCH_TEST_CACHE"):  # developers' opt-in: reuse the builds across test runs
        base = Path(os.environ["AGNBENCH_TEST_CACHE"]).expanduser().resolve()
        base.mkdir(parents=True, exist_ok=True)
    target = base / f"shared-{name}"
    with FileLock(str(target) + ".lock"):
        if not (target / ".done").exists():
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            build(target)
            (target / ".done").touch()
    return target


@pytest.fixture(scope="session")
def mock_survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2,000-galaxy mock survey with 48x48 cutouts (seed 3), written once per test run."""
    from agnbench.data_prep.mock.simulate import simulate

    cfg = load_config(overrides=["seed=3", "simulate.n=2000", "simulate.image_size=48"])
    return shared_once(tmp_path_factory, "mock", lambda d: simulate(cfg, d / "survey", progress=False)) / "survey"


def _store(tmp_path_factory: pytest.TempPathFactory, survey: Path, name: str, overrides: list[str]) -> Path:
    from agnbench.data_prep.ingest.store import prep

    cfg = load_config(overrides=overrides)
    return shared_once(tmp_path_factory, f"store-{name}",
                       lambda d: prep(cfg, source="mpajhu", raw=survey, out=d / name, progress=False)) / name


@pytest.fixture(scope="session")
def mock_store(mock_survey: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset store of :func:`mock_survey` (48x48 cutouts), built once per test run."""
    return _store(tmp_path_factory, mock_survey, "mock", ["prep.image_size=48"])


@pytest.fixture(scope="session")
def mock_store_masked(mock_survey: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same store with the BPT lines blanked in the spectra (``prep.mask_lines``: continuum-only)."""
    return _store(tmp_path_factory, mock_survey, "masked", ["prep.image_size=48", "prep.mask_lines=true"])


def tiny_mock_store(tmp_path_factory: pytest.TempPathFactory, *, n: int, image_size: int = 32, seed: int = 0) -> Path:
    """A small mock store (``n`` galaxies, ``image_size`` px cutouts, simulated with ``seed``), built once per
    test run for each set of arguments (:func:`shared_once`); read it, never write into it."""
    from agnbench.data_prep.ingest.store import prep
    from agnbench.data_prep.mock.simulate import simulate

    def build(root: Path) -> None:
        raw = simulate(load_config(overrides=[f"seed={seed}", f"simulate.n={n}", f"simulate.image_size={image_size}"]),
                       root / "raw", progress=False)
        prep(load_config(overrides=[f"prep.image_size={image_size}"]), source="mpajhu", raw=raw, out=root / "store",
             progress=False)

    return shared_once(tmp_path_factory, f"tiny-n{n}-px{image_size}-s{seed}", build) / "store"


def real_table_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of the real SDSS table ``tests/data/real/uv_optical_sdss_reduced.csv`` (BPT classes SF/AGN,
    composites out of distribution; its label-defining columns allowed in, for the tests that need them),
    built once per test run (:func:`shared_once`); read it, never write into it. Skips if the file is absent."""
    from agnbench.data_prep.ingest.store import prep

    table = REAL / "uv_optical_sdss_reduced.csv"
    if not table.exists():
        pytest.skip("real SDSS table not present")
    return shared_once(tmp_path_factory, "real-uv-store", lambda d: prep(
        load_config(), source="table", table=table, id_col="Objid", label_col="BPT_class",
        label_map="SF:sf,AGN:agn,Composite:ood", allow_leaky=True, out=d / "uv", progress=False)) / "uv"


#: the runs of :func:`trained_runs`: name -> (track, store fixture, config overrides). Short one-cycle schedules
#: (the learning rate decays over ``epochs``), each the shortest measured to keep every consumer's bound with margin
#: (tests/deep/test_deep_science.py, tests/interpretability/test_explain.py, the fusion and serve tests); images
#: without early stopping, whose val AUC dips in the first epochs. Test ROC-AUC on the seed-3 mock (training seed 0):
#: spectra 0.996 (bound 0.98), images 0.909 (bound 0.85), the line-masked spectra 0.861 (bound 0.75; 0.817 after 6).
TRAINED = {
    "catalog": ("catalog", "mock", []),
    "spectra": ("spectra", "mock", ["spectra.epochs=5", "spectra.patience=3"]),
    "masked": ("spectra", "masked", ["spectra.epochs=8", "spectra.patience=3"]),
    "images": ("images", "mock", ["images.epochs=6", "images.patience=6"]),
}


@pytest.fixture(scope="session")
def trained_runs(mock_store: Path, mock_store_masked: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Runs trained once per test run on the mock store: xgboost (photometry), the spectra track on the full and
    on the line-masked store, and the images track (short schedules; the science tests state their margins)."""
    from agnbench.baselines.train_catalog import train_catalog
    from agnbench.deep.train_deep import train_deep

    stores = {"mock": mock_store, "masked": mock_store_masked}

    def build(out: Path) -> None:
        for name, (track, store, overrides) in TRAINED.items():
            cfg = load_config(overrides=overrides)
            if track == "catalog":
                train_catalog(cfg, data=stores[store], runs_dir=out, name=name)
            else:
                train_deep(cfg, track=track, data=stores[store], runs_dir=out, name=name, progress=False)

    out = shared_once(tmp_path_factory, "trained", build)
    return {name: out / name for name in TRAINED}


_EXPLAIN_SMALL = ["explain.n=120", "explain.max_interactions=50", "explain.permutation_repeats=2"]
#: the explanations of :func:`explained_runs`: name -> (config overrides, methods; None: all of the track's). The
#: line-masked run is read for one number only, the median share of its integrated gradients in the BPT windows
#: (tests/interpretability/test_explain.py), so it gets integrated gradients alone, on fewer objects.
EXPLAIN = {
    **{name: (_EXPLAIN_SMALL, None) for name in TRAINED},
    "masked": ([*_EXPLAIN_SMALL, "explain.n=40", "explain.sanity_check=false"], ["ig"]),
}


@pytest.fixture(scope="session")
def explained_runs(trained_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of :func:`trained_runs` with ``attributions/`` written by ``agnbench explain`` (small settings,
    :data:`EXPLAIN`)."""
    from agnbench.interpretability.explain import explain_run

    def build(root: Path) -> None:
        for name, run in trained_runs.items():
            copy = root / name  # explain writes into the run; keep the session's runs untouched
            shutil.copytree(run, copy)
            overrides, methods = EXPLAIN[name]
            explain_run(load_config(overrides=overrides), run=copy, methods=methods, progress=False)

    root = shared_once(tmp_path_factory, "explained", build)
    return {name: root / name for name in trained_runs}


def read_catalog(survey: Path, name: str) -> pd.DataFrame:
    """One catalog FITS table of a survey as a DataFrame (strings decoded and stripped)."""
    df = Table.read(survey / "catalog" / f"{name}.fits").to_pandas()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: v.decode() if isinstance(v, bytes) else v).str.strip()
    return df
