"""Issue 16 items 11 and 15: one clear line, never a traceback, for bad configs and damaged files; a report on
a table store; report.md escapes user strings as report.html does."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agnbench.baselines.train_catalog import train_catalog
from agnbench.bootstrap.compare import compare
from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.contracts.store import open_store, store_paths
from agnbench.data_prep.ingest.store import prep
from agnbench.deep.trainer import load_torch, save_torch
from agnbench.errors import AgnbenchError, ConfigError
from agnbench.reports.render import Code, Paragraph, Section, Table, md_escape, render_markdown
from agnbench.reports.report import build_report

from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"


def _cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    return rc, err


@pytest.fixture(scope="module")
def uv_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uv")
    return prep(load_config(), source="table", table=UV, id_col="Objid", label_col="BPT_class",
                label_map="SF:sf,AGN:agn,Composite:ood", out=root / "store", progress=False)


# ----------------------------------------------------------------------------------------------- configs


def test_duplicate_yaml_key_is_an_error_not_last_wins(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text("seed: 1\nsimulate:\n  n: 100\nseed: 2\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml: .*key 'seed' appears twice \(lines 1 and 4\)"):
        load_config(cfg)
    nested = tmp_path / "nested.yaml"
    nested.write_text("simulate:\n  n: 100\n  n: 200\n")
    with pytest.raises(ConfigError, match="key 'n' appears twice"):
        load_config(nested)
    with pytest.raises(ConfigError, match="key 'flux_row' appears twice"):
        load_config(overrides=["prep.reader={flux_row: 1, flux_row: 2}"])
    rc, err = _cli(["simulate", "--config", str(cfg), "--out", str(tmp_path / "s")], capsys)
    assert rc == 1 and "appears twice" in err and "Traceback" not in err and not (tmp_path / "s").exists()


def test_non_utf8_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes("seed: 1\n# galaxies of Andr\u00e9\n".encode("latin-1"))
    rc, err = _cli(["simulate", "--config", str(cfg), "--out", str(tmp_path / "s")], capsys)
    assert rc == 1 and "Traceback" not in err
    assert "latin1.yaml: config file is not UTF-8 text (byte 0xe9 at line 2)" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e999"])
def test_non_finite_numbers_are_refused(value: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match="simulate.snr_scale must be a finite number"):
        load_config(overrides=[f"simulate.snr_scale={value}"])
    rc, err = _cli(["simulate", "--set", f"simulate.snr_scale={value}", "--out", str(tmp_path / "s")], capsys)
    assert rc == 1 and "finite number" in err and "Traceback" not in err


# ----------------------------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("damage", ["truncated", "html"])
def test_damaged_store_parquet_is_one_line(damage: str, uv_store: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    import shutil

    store = Path(shutil.copytree(uv_store, tmp_path / "store"))
    objects = store_paths(store).objects
    data = objects.read_bytes()
    objects.write_bytes(data[: len(data) // 2] if damage == "truncated"
                        else b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
    with pytest.raises(AgnbenchError, match=r"objects\.parquet: .*re-run agnbench prep"):
        open_store(store)
    rc, err = _cli(["train", "catalog", "--data", str(store), "--runs-dir", str(tmp_path / "runs"),
                    "--set", "catalog.model=logreg"], capsys)
    assert rc == 1 and "Traceback" not in err, err
    assert "objects.parquet" in err and ("HTML page" in err if damage == "html" else "truncated" in err)


def test_truncated_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint_last.pt"
    save_torch({"model": {"w": torch.zeros(64, 64)}, "loop": {"epoch": 3}}, path)
    assert load_torch(path)["loop"]["epoch"] == 3
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(AgnbenchError, match=r"checkpoint_last\.pt: not a readable torch checkpoint .*restart"):
        load_torch(path, fix="delete it to restart this run")
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(AgnbenchError, match="not a readable torch checkpoint"):
        load_torch(path)


# ----------------------------------------------------------------------------------------------- item 11: report


def test_report_works_on_a_table_store(uv_store: Path, tmp_path: Path) -> None:
    """f931f9d raised 'objects.parquet lacks [q_log_nii_ha, q_log_oiii_hb]'; now the BPT sections are skipped
    and listed."""
    run = train_catalog(load_config(overrides=["catalog.model=logreg"]), data=uv_store, runs_dir=tmp_path / "runs")
    cfg = load_config(overrides=["compare.n_boot=100", "compare.subgroup_boot=100", "report.curve_boot=10",
                                 "report.mistakes=2"])
    comparison = compare(cfg, runs=[run], out=tmp_path / "cmp", progress=False)
    report = build_report(cfg, comparison=comparison, data=uv_store, progress=False)
    assert (report / "report.html").stat().st_size > 10_000
    skipped = pd.read_csv(report / "skipped.csv")
    assert skipped.astype(str).apply(lambda c: c.str.contains("BPT")).to_numpy().any()


# ----------------------------------------------------------------------------------------------- report.md


def test_markdown_escapes_user_strings(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script> [click](javascript:x) ![t](http://tracker/p.png) a|b *x* `y`"
    table = pd.DataFrame({"run <b>": [evil], "value": [np.float64(0.5)]})
    sections = [Section("s", "Runs <i>", [Paragraph(evil), Paragraph("1. not a list\n# not a heading"),
                                           Table(evil, table), Code("ls\n```\n<script>")])]
    md = render_markdown("Report of <img src=x>", sections, root=tmp_path, note=evil)
    safe = md_escape(evil)
    assert not re.search(r"(?<!\\)[<>\[\]*`|!_]", safe), safe  # every special character is escaped
    assert md.count(safe) == 3  # the paragraph, the table caption, the note (the cell: its pipe becomes /)
    assert safe.replace("|", "/") in md.split("**" + safe + "**")[1]
    assert "# Report of \\<img src=x\\>" in md and "## Runs \\<i\\>" in md and "run \\<b\\>" in md
    assert "\n1\\. not a list \\# not a heading\n" in md
    assert "````\nls\n```\n<script>\n````" in md  # code stays verbatim inside a longer fence
    assert md_escape("feat_g_r") == "feat\\_g\\_r"
    # what a CommonMark reader shows is the original text: every escape is a backslash before punctuation
    assert md_escape(evil).replace("\\", "") == evil


# ----------------------------------------------------------------------------------------------- damaged run and
# comparison files, found by trying the CLI on damaged outputs


@pytest.fixture(scope="module")
def uv_logreg(uv_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_catalog(load_config(overrides=["catalog.model=logreg"]), data=uv_store,
                         runs_dir=tmp_path_factory.mktemp("runs"), name="lr")


def test_predict_applies_a_logreg_run(uv_logreg: Path, uv_store: Path, tmp_path: Path) -> None:
    """`predict` probed the features with an empty frame, which scikit-learn models refuse: every logreg/rf
    run failed with a traceback."""
    from agnbench.contracts.predictions import read_predictions
    from agnbench.transfer.apply_run import predict

    out = predict(run=uv_logreg, data=uv_store, out=tmp_path / "p", progress=False)
    new, own = read_predictions(out), read_predictions(uv_logreg)
    merged = own.merge(new, on=["object_id", "split"], suffixes=("_own", "_new"))
    assert len(merged) == len(own) > 100
    np.testing.assert_allclose(merged["p_agn_own"], merged["p_agn_new"], atol=1e-12)


@pytest.mark.parametrize("name, content, expected", [
    ("model_meta.json", b'{"track": "catalog", "mod', r"model_meta\.json: not valid JSON \(line 1"),
    ("calibration.json", b"\xff\xfe garbage", r"calibration\.json: not valid JSON"),
    ("model.skops", b"PK\x03\x04 truncated", r"model\.skops: the logreg model file is unreadable"),
])
def test_damaged_run_files_are_one_line(name: str, content: bytes, expected: str, uv_logreg: Path, uv_store: Path,
                                        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    run = Path(shutil.copytree(uv_logreg, tmp_path / "run"))
    (run / name).write_bytes(content)
    rc, err = _cli(["predict", str(run), "--data", str(uv_store), "--out", str(tmp_path / "p")], capsys)
    assert rc == 1 and "Traceback" not in err and re.search(expected, err), err
    assert not (tmp_path / "p").exists()


def test_damaged_comparison_and_duplicate_runs(uv_logreg: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, err = _cli(["compare", str(uv_logreg), str(uv_logreg.parent / ".." / uv_logreg.parent.name / "lr"),
                    "--out", str(tmp_path / "twice")], capsys)
    assert rc == 1 and "given twice" in err and not (tmp_path / "twice").exists()
    cfg = load_config(overrides=["compare.n_boot=100", "compare.subgroup_boot=100"])
    comparison = compare(cfg, runs=[uv_logreg], out=tmp_path / "cmp", progress=False)
    (comparison / "summary.csv").write_text("<html>proxy error</html>\n")
    rc, err = _cli(["report", str(comparison)], capsys)
    assert rc == 1 and "Traceback" not in err
    assert "summary.csv: lacks column(s) metric, run, estimate" in err and "--overwrite" in err



def test_validate_objects_refuses_infinite_features(uv_store: Path) -> None:
    """Contract 1: feat_* are finite or NaN (prep sets +-inf to NaN and counts them in the manifest)."""
    from agnbench.contracts.schema import validate_objects
    from agnbench.contracts.store import read_objects
    from agnbench.errors import SchemaError

    objects = read_objects(uv_store)
    validate_objects(objects)
    feature = next(c for c in objects.columns if c.startswith("feat_"))
    objects.loc[objects.index[:3], feature] = [np.inf, -np.inf, np.nan]
    with pytest.raises(SchemaError, match=rf"feature column '{feature}' has 2 infinite value\(s\)"):
        validate_objects(objects)
