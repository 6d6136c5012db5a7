"""`agnbench fetch` end to end against a real HTTP server on 127.0.0.1 serving a mock survey in the SAS and
Legacy Survey URL layouts: full fetch, prep equivalence, resume after the server dies, selection, dry run,
malicious ids, photometry import, CLI. No test touches the internet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.data_prep.fetch import select as fetch_select
from agnbench.data_prep.fetch.download import fetch, plan_fetch
from agnbench.data_prep.fetch.validate import validate_spectrum
from agnbench.errors import AgnbenchError

from tests.conftest import REAL, read_catalog
from tests.fetch_server import SurveyServer

PREP = ["prep.image_size=32", "prep.workers=1", "prep.shard_size=32"]


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agnbench.data_prep.mock.simulate import simulate

    cfg = load_config(overrides=["seed=5", "simulate.n=60", "simulate.image_size=32", "simulate.chunk_size=30",
                                 "simulate.workers=1"])
    return simulate(cfg, tmp_path_factory.mktemp("fetchmock") / "survey", progress=False)


@pytest.fixture(scope="module")
def server(mock: Path):
    srv = SurveyServer(mock, jpeg=REAL / "jpeg" / "1237650795683184714.jpeg")
    yield srv
    srv.stop()


def _cfg(server: SurveyServer, *extra: str):
    return load_config(overrides=[*server.overrides(**{"fetch.size": 32, "fetch.jpeg_size": 256}), *PREP, *extra])


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.exists() else {}


def _fetch_all(cfg, raw: Path, mock: Path) -> None:
    fetch(cfg, what="catalog", raw=raw, photometry=mock / "catalog" / "photometry.fits", progress=False)
    fetch(cfg, what="spectra", raw=raw, progress=False)
    fetch(cfg, what="images", raw=raw, progress=False)


def test_full_fetch_then_prep_gives_the_same_store(server: SurveyServer, mock: Path, tmp_path: Path) -> None:
    from agnbench.data_prep.ingest.store import prep

    cfg = _cfg(server)
    raw = tmp_path / "raw"
    _fetch_all(cfg, raw, mock)
    n_spec = len(list((mock / "spectra").rglob("*.fits")))
    manifest = json.loads((raw / "fetch_manifest.json").read_text())
    statuses = pd.Series([v["status"] for v in manifest["items"].values()]).value_counts().to_dict()
    targets = fetch_select.targets(mock, cfg)
    assert statuses == {"done": 4 + 2 * len(targets)} and len(targets) <= n_spec
    for key, item in manifest["items"].items():  # recorded size and hash are those of the file on disk
        assert (raw / key).stat().st_size == item["bytes"]
    # the fetched files are byte-identical to the originals
    for key in manifest["items"]:
        original = mock / key.replace("-dr8.fits", ".fits")
        assert (raw / key).read_bytes() == original.read_bytes(), key
    assert (raw / "catalog" / "photometry.fits").read_bytes() == (mock / "catalog" / "photometry.fits").read_bytes()
    # re-running downloads nothing (sizes, hashes and validity checked)
    n_requests = len(server.log)
    _fetch_all(cfg, raw, mock)
    assert len(server.log) == n_requests
    # prep on the fetched tree == prep on the original tree
    a = prep(cfg, source="mpajhu", raw=mock, out=tmp_path / "store_orig", progress=False)
    b = prep(cfg, source="mpajhu", raw=raw, out=tmp_path / "store_fetched", progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(a / "objects.parquet"), pd.read_parquet(b / "objects.parquet"))
    for rel in ("spectra/flux.npy", "spectra/ivar.npy", "spectra/wave.npy", "images/cutouts.npy"):
        np.testing.assert_array_equal(np.load(a / rel), np.load(b / rel), err_msg=rel)
    assert (pd.read_parquet(b / "objects.parquet")["spec_row"] >= 0).mean() > 0.9


def test_resume_after_the_server_dies_mid_transfer(mock: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    first = SurveyServer(mock)
    cfg = _cfg(first, "fetch.retries=1")
    fetch(cfg, what="catalog", raw=raw, progress=False)
    selection = fetch_select.targets(raw, cfg)
    victim = f"spec-{selection.plate[12]:04d}-{selection.mjd[12]:05d}-{selection.fiber[12]:04d}.fits"
    first.faults[victim] = ["kill"]
    with pytest.raises(AgnbenchError, match="failed.*run the same command again"):
        fetch(cfg, what="spectra", raw=raw, progress=False)
    first.stop()
    manifest = json.loads((raw / "fetch_manifest.json").read_text())["items"]
    done = {k for k, v in manifest.items() if v["status"] == "done" and k.startswith("spectra/")}
    failed = {k for k, v in manifest.items() if v["status"] == "failed"}
    assert f"spectra/{victim[5:9]}/{victim}" in failed and len(done) >= 8
    on_disk = {p.relative_to(raw).as_posix() for p in (raw / "spectra").rglob("*") if p.is_file()}
    assert on_disk == done  # nothing partial or unvalidated was kept
    for key in on_disk:
        plate, mjd, fiber = (int(x) for x in Path(key).stem[5:].split("-"))
        assert validate_spectrum(raw / key, plate=plate, mjd=mjd, fiber=fiber) is None
    second = SurveyServer(mock)
    try:
        assert fetch(_cfg(second, "fetch.retries=1"), what="spectra", raw=raw, progress=False) == raw
        fetched = {name for _, _, name, _ in second.log}
        assert fetched == {Path(k).name for k in set(manifest) - done if k.startswith("spectra/")}
    finally:
        second.stop()
    final = json.loads((raw / "fetch_manifest.json").read_text())["items"]
    assert all(v["status"] == "done" for v in final.values())
    assert len([k for k in final if k.startswith("spectra/")]) == len(selection)


def test_failed_and_missing_are_recorded_then_retried(server: SurveyServer, mock: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    cfg = _cfg(server)
    fetch(cfg, what="catalog", raw=raw, progress=False)
    sel = fetch_select.targets(raw, cfg)
    names = [f"{oid}.fits" for oid in sel.object_id[:3]]
    server.faults[names[0]] = ["404"]
    server.faults[names[1]] = ["html"]
    server.faults[names[2]] = ["500", "500", "500"]
    with pytest.raises(AgnbenchError, match=r"2 of \d+ images items failed"):
        fetch(cfg, what="images", raw=raw, progress=False)
    items = json.loads((raw / "fetch_manifest.json").read_text())["items"]
    assert items[f"images/{names[0]}"]["status"] == "missing"
    assert items[f"images/{names[1]}"]["status"] == "failed" and "HTML" in items[f"images/{names[1]}"]["reason"]
    assert items[f"images/{names[2]}"]["status"] == "failed" and items[f"images/{names[2]}"]["attempts"] == 3
    n = len(server.log)
    assert fetch(cfg, what="images", raw=raw, progress=False) == raw  # retries the failed ones only
    assert sorted(name for _, _, name, _ in server.log[n:]) == sorted(names[1:])
    fetch(cfg, what="images", raw=raw, retry_missing=True, progress=False)
    assert [name for _, _, name, _ in server.log[n + 2:]] == [names[0]]


def test_malicious_ids_are_rejected(mock: Path, tmp_path: Path) -> None:
    from agnbench.data_prep.formats.sdss_files import write_table_fits

    evil = tmp_path / "evil"
    shutil.copytree(mock, evil)
    table = read_catalog(mock, "galSpecInfo")
    rows = np.flatnonzero(table["SPECOBJID"].isin(fetch_select.targets(mock, load_config()).object_id[:2]))
    table.loc[rows[0], "SPECOBJID"], table.loc[rows[1], "SPECOBJID"] = "../../etc/passwd", "a/b"
    write_table_fits(evil / "catalog" / "galSpecInfo.fits", table.astype({"SPECOBJID": str}), extname="INFO")
    srv = SurveyServer(evil)
    try:
        raw = tmp_path / "raw"
        cfg = _cfg(srv)
        fetch(cfg, what="catalog", raw=raw, progress=False)
        with pytest.raises(AgnbenchError, match="not safe as a file name"):
            fetch(cfg, what="images", raw=raw, progress=False)
    finally:
        srv.stop()
    items = json.loads((raw / "fetch_manifest.json").read_text())["items"]
    rejected = {v["object_id"]: v for k, v in items.items() if k.startswith("rejected/")}
    assert set(rejected) == {"../../etc/passwd", "a/b"} and all(v["status"] == "failed" for v in rejected.values())
    written = [p.resolve() for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(evil.resolve()) or p.is_relative_to(raw.resolve()) for p in written)
    assert not (raw / "images" / "a").exists() and not (tmp_path / "etc").exists()
    assert len(list((raw / "images").glob("*.fits"))) == len(fetch_select.targets(raw, cfg)) - 2


def test_stratified_limit_is_balanced_seeded_and_nested(mock: Path) -> None:
    cfg = load_config()
    targets = fetch_select.targets(mock, cfg)
    counts = targets.stratum.value_counts()
    assert set(counts.index) >= {"sf", "agn", "ood"} and counts["sf"] > 3 * counts["agn"]
    a = fetch_select.choose(targets, limit=12, stratify=True, seed=0)
    assert a.stratum.value_counts().to_dict() == {"sf": 4, "agn": 4, "ood": 4}
    assert a.object_id.tolist() == fetch_select.choose(targets, limit=12, stratify=True, seed=0).object_id.tolist()
    b = fetch_select.choose(targets, limit=12, stratify=True, seed=1)
    assert set(a.object_id) != set(b.object_id)
    assert set(a.object_id) != set(targets.object_id[:12])  # never simply the first rows
    bigger = fetch_select.choose(targets, limit=20, stratify=True, seed=0)
    assert set(a.object_id) <= set(bigger.object_id)
    small = counts["agn"]  # a stratum with too few objects gives its share to the others
    big = fetch_select.choose(targets, limit=3 * small + 6, stratify=True, seed=0).stratum.value_counts()
    assert big["agn"] == small and big.sum() == 3 * small + 6
    shuffled = targets.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert set(fetch_select.choose(shuffled, limit=12, stratify=True, seed=0).object_id) == set(a.object_id)
    assert fetch_select.equal_quota({"a": 100, "b": 2, "c": 100}, 11) == {"a": 5, "b": 2, "c": 4}


def test_limit_selection_is_shared_by_spectra_and_images(server: SurveyServer, mock: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    cfg = _cfg(server, "fetch.limit=9")
    fetch(cfg, what="catalog", raw=raw, progress=False)
    fetch(cfg, what="spectra", raw=raw, progress=False)
    fetch(cfg, what="images", raw=raw, jpeg=True, progress=False)
    sel = fetch_select.read_selection(raw / "selection.csv")
    assert len(sel) == 9 and sel.stratum.value_counts().to_dict() == {"agn": 3, "ood": 3, "sf": 3}
    assert sorted(p.stem for p in (raw / "images").glob("*.fits")) == sorted(sel.object_id)
    assert sorted(p.stem for p in (raw / "jpeg").glob("*.jpeg")) == sorted(sel.object_id)
    assert len(list((raw / "spectra").rglob("*.fits"))) == 9
    with pytest.raises(AgnbenchError, match="selection.csv was drawn with limit=9"):
        fetch(_cfg(server, "fetch.limit=20"), what="images", raw=raw, progress=False)


def test_dry_run_writes_nothing(server: SurveyServer, mock: Path, tmp_path: Path) -> None:
    cfg = _cfg(server)
    raw = tmp_path / "raw"
    plan = plan_fetch(cfg, what="catalog", raw=raw, estimate=True)
    text = plan.describe()
    assert not raw.exists() and plan.todo == 4
    assert plan.est_bytes == sum((mock / "catalog" / f"{n}.fits").stat().st_size
                                 for n in ("galSpecInfo", "galSpecExtra", "galSpecLine", "galSpecIndx"))
    assert "4 to download" in text and "free disk space" in text and "nothing was downloaded" in text
    fetch(cfg, what="catalog", raw=raw, progress=False)
    before, n = _tree(raw), len(server.log)
    plan = plan_fetch(cfg, what="images", raw=raw, limit=6, jpeg=True, estimate=True)
    assert _tree(raw) == before and len(server.log) == n
    assert plan.todo == 12 and plan.est_bytes == 6 * (4 * 3 * 32 * 32 + 5760) + 6 * int(0.4 * 3 * 256**2)
    assert "objects: 6" in plan.describe()


def test_photometry_import(server: SurveyServer, mock: Path, tmp_path: Path) -> None:
    from agnbench.data_prep.formats.catalog import find_photometry, read_table

    raw = tmp_path / "raw"
    fetch(_cfg(server), what="catalog", raw=raw, progress=False)
    phot = read_table(mock / "catalog" / "photometry.fits")
    csv = tmp_path / "casjobs.csv"
    csv.write_text("#Table1\n" + phot.to_csv(index=False))
    stored = fetch_select.import_photometry(csv, raw)
    assert stored == raw / "catalog" / "photometry.csv" == find_photometry(raw)
    back = read_table(stored)
    assert back["specObjID"].astype(str).tolist() == phot["specObjID"].astype(str).tolist()
    bad = tmp_path / "float.csv"
    bad.write_text(phot.assign(specObjID=phot["specObjID"].astype(float)).to_csv(index=False))
    with pytest.raises(AgnbenchError, match="floating point"):
        fetch_select.import_photometry(bad, raw)
    other = tmp_path / "other.csv"
    other.write_text(phot.assign(specObjID=np.arange(len(phot)) + 1).to_csv(index=False))
    with pytest.raises(AgnbenchError, match="none of its"):
        fetch_select.import_photometry(other, raw)
    with pytest.raises(AgnbenchError, match="another photometry table"):
        fetch_select.import_photometry(mock / "catalog" / "photometry.fits", raw)


def test_cli_exit_codes_and_last_line(server: SurveyServer, mock: Path, tmp_path: Path, capsys) -> None:
    raw = tmp_path / "raw"
    sets = [a for item in server.overrides(**{"fetch.size": 32}) for a in ("--set", item)]
    assert main(["fetch", "catalog", "--raw", str(raw), "-q", *sets]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(raw)
    assert main(["fetch", "spectra", "--raw", str(raw), "--limit", "3", "--dry-run", "-q", *sets]) == 0
    out = capsys.readouterr().out
    assert "3 to download" in out and not (raw / "selection.csv").exists()
    sel = fetch_select.choose(fetch_select.targets(raw, load_config()), limit=3, stratify=True, seed=0)
    server.faults[f"{sel.object_id[0]}.fits"] = ["html"]
    assert main(["fetch", "images", "--raw", str(raw), "--limit", "3", "--concurrency", "1", "-q", *sets]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("agnbench fetch: error: 1 of 3 images items failed")
    assert main(["fetch", "images", "--raw", str(raw), "--photometry", "x.csv", "-q", *sets]) == 1
    assert "--photometry goes with" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["fetch", "everything", "--raw", str(raw)])
    assert exc.value.code == 2
    assert main(["fetch", "catalog", "--raw", str(raw), "-q", "--set", "fetch.concurrency=99"]) == 1
    assert "fetch.concurrency" in capsys.readouterr().err


def test_one_fetch_per_raw_directory(server: SurveyServer, tmp_path: Path) -> None:
    from agnbench.data_prep.fetch.manifest import locked

    raw = tmp_path / "raw"
    with locked(raw), pytest.raises(AgnbenchError, match="another agnbench fetch"):
        fetch(_cfg(server), what="catalog", raw=raw, progress=False)
    assert fetch(_cfg(server), what="catalog", raw=raw, progress=False) == raw
