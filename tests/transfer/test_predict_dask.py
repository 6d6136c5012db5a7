"""``agnbench predict`` over Parquet partitions larger than memory: a catalog run (XGBoost, isotonic calibration,
max-F1 rule) trained on the real SDSS BPT table predicts the same table split into partitions, on a Dask
LocalCluster of two worker processes and in local processes; the concatenated parts equal the in-memory
prediction of the whole table exactly (a tree model and an isotonic map are row-wise: the same float operations
per row, whatever the batch). Failing partitions leave no output and resume; repeated ids are refused. A spectra
run predicts a store in shards on the cluster, exactly as in one process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.train_catalog import train_catalog
from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.contracts.schema import validate_predictions
from agnbench.data_prep.ingest.store import prep
from agnbench.errors import AgnbenchError
from agnbench.transfer.apply_run import predict
from agnbench.transfer.partitioned import find_partitions, predict_partitioned

from tests.conftest import REAL

distributed = pytest.importorskip("distributed")

UV = REAL / "uv_optical_sdss_reduced.csv"
N_PARTS = 11  # part.0 ... part.10: natural order, not lexicographic


@pytest.fixture(scope="module")
def scheduler() -> str:
    """The address of a LocalCluster of two single-threaded worker processes on 127.0.0.1, shared by the module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A catalog run on the real table's store, the table without labels as one Parquet file and as partitions,
    and the run's in-memory prediction of the whole table."""
    root = tmp_path_factory.mktemp("partitioned")
    store = prep(load_config(), source="table", table=UV, id_col="Objid", label_col="BPT_class",
                 label_map="SF:sf,AGN:agn,Composite:ood", out=root / "store", progress=False)
    cfg = load_config(overrides=["catalog.features=photometry", "catalog.threshold=max_f1",
                                 "catalog.calibration=isotonic"])
    run = train_catalog(cfg, data=store, runs_dir=root / "runs", name="xgb")
    table = pd.read_csv(UV).drop(columns=["BPT_class", "AGN_class"]).astype({"Objid": str})
    table.to_parquet(root / "whole.parquet", index=False)
    parts = root / "parts"
    parts.mkdir()
    for k, chunk in enumerate(np.array_split(np.arange(len(table)), N_PARTS)):
        table.iloc[chunk].to_parquet(parts / f"part.{k}.parquet", index=False)
    (parts / "_metadata").write_bytes(b"not a partition")  # skipped, as Dask and Spark do
    reference = predict(run=run, data=root / "whole.parquet", out=root / "in-memory", id_col="Objid", progress=False)
    return {"run": run, "parts": parts, "reference": reference, "root": root}


def _concat(out: Path) -> pd.DataFrame:
    record = json.loads((out / "predict.json").read_text())
    frames = [pd.read_parquet(out / part["file"]) for part in record["parts"]]
    for frame in frames:
        validate_predictions(frame)
    return pd.concat(frames, ignore_index=True)


def _assert_equal_to_reference(out: Path, reference: Path) -> None:
    got, want = _concat(out), pd.read_parquet(reference / "predictions.parquet")
    assert set(got["run_id"]) == {out.name}
    probs = [c for c in want.columns if c.startswith("p_")]
    assert list(got["object_id"]) == list(want["object_id"])  # every row, in the table's order
    np.testing.assert_array_equal(got[probs].to_numpy(), want[probs].to_numpy())  # exact: row-wise model
    for col in ("split", "y_true", "y_pred", "track", "model", "seed"):
        assert (got[col] == want[col]).all(), col
    rec, ref = (json.loads((d / "predict.json").read_text()) for d in (out, reference))
    got_m, want_m = rec["metrics"]["unlabelled"], ref["metrics"]["unlabelled"]
    assert got_m["n"] == want_m["n"] and got_m["fraction_predicted"] == pytest.approx(want_m["fraction_predicted"])
    assert rec["applied"] == ref["applied"] and rec["source_run"]["run_id"] == ref["source_run"]["run_id"]


def test_partitions_on_the_cluster_equal_the_in_memory_prediction(setup: dict, scheduler: str, tmp_path: Path) -> None:
    parts = find_partitions(setup["parts"])
    assert [p.name for p in parts] == [f"part.{k}.parquet" for k in range(N_PARTS)]
    out = predict_partitioned(run=setup["run"], data=setup["parts"], out=tmp_path / "dask", id_col="Objid",
                              scheduler=scheduler, progress=False)
    _assert_equal_to_reference(out, setup["reference"])
    record = json.loads((out / "predict.json").read_text())
    assert [p["file"] for p in record["parts"]] == [f"predictions/part-{k:05d}.parquet" for k in range(N_PARTS)]
    assert [Path(p["input"]).name for p in record["parts"]] == [p.name for p in parts]
    assert (out / "predictions" / "_SUCCESS").exists() and record["execution"]["scheduler"] == scheduler
    assert record["data"]["n_parts"] == N_PARTS
    assert json.loads((out / "data.json").read_text())["n_rows"] == sum(p["n_rows"] for p in record["parts"])
    # a reader of the whole folder (pyarrow, Dask) sees the same rows, the marker skipped
    assert len(pd.read_parquet(out / "predictions")) == record["counts"]["predicted"]["unlabelled"]
    assert not list(tmp_path.glob(".dask.*"))


def test_cli_in_local_processes(setup: dict, tmp_path: Path) -> None:
    out = tmp_path / "local"
    assert main(["predict", str(setup["run"]), "--data", str(setup["parts"]), "--out", str(out), "--id-col", "Objid",
                 "--workers", "1", "-q"]) == 0
    _assert_equal_to_reference(out, setup["reference"])
    assert main(["predict", str(setup["run"]), "--data", str(setup["parts"]), "--out", str(tmp_path / "x"),
                 "--adapt-prior", "-q"]) != 0
    assert not (tmp_path / "x").exists()


def test_failed_partitions_leave_nothing_complete_and_resume(setup: dict, scheduler: str, tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    shutil.copytree(setup["parts"], parts)
    (parts / "part.3.parquet").write_bytes(b"PAR1 truncated")  # unreadable
    pd.read_parquet(setup["parts"] / "part.7.parquet").drop(columns=["dered_g"]).to_parquet(parts / "part.7.parquet")
    out = tmp_path / "pred"
    with pytest.raises(AgnbenchError, match=r"2 of 11 partitions failed, e\.g\. .*part\.3\.parquet.*was not written"):
        predict_partitioned(run=setup["run"], data=parts, out=out, id_col="Objid", scheduler=scheduler, progress=False)
    assert not out.exists()
    work = tmp_path / ".pred.partial"
    failed = pd.read_csv(work / "failed.csv")
    assert [Path(p).name for p in failed["partition"]] == ["part.3.parquet", "part.7.parquet"]
    assert failed["error"].str.contains("dered_g|feat_g_r").iloc[1], failed["error"].iloc[1]
    finished = {p.stat().st_ino for p in work.glob("*.parquet")}
    assert len(finished) == N_PARTS - 2
    # fixed: only the two failed partitions are redone, and the result is the in-memory prediction
    for k in (3, 7):
        shutil.copy(setup["parts"] / f"part.{k}.parquet", parts / f"part.{k}.parquet")
    predict_partitioned(run=setup["run"], data=parts, out=out, id_col="Objid", scheduler=scheduler, progress=False)
    _assert_equal_to_reference(out, setup["reference"])
    assert finished < {p.stat().st_ino for p in (out / "predictions").glob("*.parquet")}  # reused, not redone
    assert not work.exists()
    # the same object in two partitions is refused
    pd.read_parquet(parts / "part.0.parquet").head(2).to_parquet(parts / "part.99.parquet")
    with pytest.raises(AgnbenchError, match="appear in more than one partition.*part.0.parquet, part.99.parquet"):
        predict_partitioned(run=setup["run"], data=parts, out=tmp_path / "dup", id_col="Objid", scheduler=scheduler,
                            progress=False)
    assert not (tmp_path / "dup").exists()


def test_a_scheduler_that_does_not_answer(setup: dict, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AgnbenchError, match=rf"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answered within "
                                            r"1 s.*dask worker"):
        predict_partitioned(run=setup["run"], data=setup["parts"], out=tmp_path / "p", id_col="Objid",
                            scheduler=f"tcp://127.0.0.1:{port}", timeout=1, progress=False)
    assert not (tmp_path / "p").exists()


def test_a_spectra_run_over_store_shards_on_the_cluster(setup: dict, scheduler: str, tmp_path: Path) -> None:
    """A spectra run predicts its store in shards of 8 eval batches on the workers: exactly the one-process
    prediction (each batch holds the same objects; torch CPU inference is deterministic per batch)."""
    from agnbench.data_prep.mock.simulate import simulate
    from agnbench.deep.train_deep import train_deep

    raw = simulate(load_config(overrides=["seed=4", "simulate.n=300", "simulate.image_size=16",
                                          "simulate.workers=1"]), tmp_path / "raw", progress=False)
    store = prep(load_config(overrides=["prep.image_size=16", "prep.workers=1"]), source="mpajhu", raw=raw,
                 out=tmp_path / "store", progress=False)
    cfg = load_config(overrides=["spectra.width=4", "spectra.blocks=[1,1]", "spectra.epochs=1", "spectra.patience=1",
                                 "spectra.eval_batch_size=2", "spectra.threads=1"])
    run = train_deep(cfg, track="spectra", data=store, runs_dir=tmp_path / "runs", name="spec", progress=False)
    local = predict(run=run, data=store, out=tmp_path / "local", progress=False)
    assert main(["predict", str(run), "--data", str(store), "--out", str(tmp_path / "dask"), "--scheduler", scheduler,
                 "-q"]) == 0
    a, b = (pd.read_parquet(d / "predictions.parquet") for d in (local, tmp_path / "dask"))
    assert len(a) > 16 * 3  # several shards of 16 objects
    assert list(a["object_id"]) == list(b["object_id"]) and (a["split"] == b["split"]).all()
    np.testing.assert_array_equal(a[["p_sf", "p_agn"]].to_numpy(), b[["p_sf", "p_agn"]].to_numpy())
    assert (a["y_pred"] == b["y_pred"]).all()
    with pytest.raises(AgnbenchError, match="catalog run predicts .* in memory"):
        predict(run=setup["run"], data=store, out=tmp_path / "c", scheduler=scheduler, progress=False)
