"""Tests for agnbench.contracts.comparison: writing, reading and completion of a comparison directory."""

from __future__ import annotations

import pandas as pd
import yaml

from agnbench.contracts.comparison import (
    OPTIONAL_TABLES,
    comparison_complete,
    comparison_paths,
    crosstrack_complete,
    read_inputs,
    read_optional_tables,
    read_replicates,
    read_table,
    report_complete,
    write_comparison,
)


def _write(tmp_path, **tables):
    replicates = pd.DataFrame({"replicate": [0, 1], "run": ["a", "a"], "metric": ["auc", "auc"], "value": [0.8, 0.9]})
    summary = pd.DataFrame({"run": ["a"], "metric": ["auc"], "estimate": [0.85]})
    tests = pd.DataFrame({"metric": ["auc"], "run_a": ["a"], "run_b": ["b"], "p": [0.2]})
    inputs = {"runs": [{"name": "a"}], "classes": ["sf", "agn"], "seed": 0}
    return write_comparison(tmp_path, replicates=replicates, summary=summary, tests=tests, tables=tables,
                            inputs=inputs)


def test_paths():
    p = comparison_paths("cmp")
    assert [x.name for x in (p.inputs, p.summary, p.tests, p.replicates)] == [
        "inputs.yaml", "summary.csv", "tests.csv", "replicates.parquet"]
    assert p.table("seeds").name == "seeds.csv" and p.report_html.as_posix() == "cmp/report/report.html"
    assert p.crosstrack_summary.as_posix() == "cmp/crosstrack/summary.json"
    assert OPTIONAL_TABLES == ("seeds", "calibration", "subgroups", "ood", "thresholds", "abstention", "primary",
                               "incremental")


def test_write_and_read(tmp_path):
    assert not comparison_complete(tmp_path)
    assert read_replicates(tmp_path) is None
    out = _write(tmp_path, seeds=pd.DataFrame({"group": ["g"], "std": [0.01]}), ood=None,
                 thresholds=pd.DataFrame())
    assert out == tmp_path and comparison_complete(tmp_path)
    assert not (tmp_path / "ood.csv").exists() and not (tmp_path / "thresholds.csv").exists()
    assert list(yaml.safe_load((tmp_path / "inputs.yaml").read_text())) == ["runs", "classes", "seed"]
    assert read_inputs(tmp_path)["classes"] == ["sf", "agn"]
    assert read_table(tmp_path, "summary")["estimate"].tolist() == [0.85]
    assert list(read_optional_tables(tmp_path)) == ["seeds"]
    assert read_replicates(tmp_path)["value"].tolist() == [0.8, 0.9]


def test_empty_optional_table_file_is_skipped(tmp_path):
    _write(tmp_path)
    (tmp_path / "subgroups.csv").write_text("")
    assert read_optional_tables(tmp_path) == {}


def test_comparison_incomplete_without_inputs(tmp_path):
    _write(tmp_path)
    (tmp_path / "inputs.yaml").unlink()
    assert not comparison_complete(tmp_path)  # tables without inputs.yaml: compare did not finish


def test_crosstrack_and_report_complete(tmp_path):
    p = comparison_paths(tmp_path)
    assert not crosstrack_complete(tmp_path) and not report_complete(tmp_path)
    p.crosstrack_dir.mkdir()
    (p.crosstrack_dir / "correlations.csv").write_text("a\n")
    p.report_dir.mkdir()
    (p.report_dir / "report.md").write_text("# r\n")
    assert not crosstrack_complete(tmp_path) and not report_complete(tmp_path)
    p.crosstrack_summary.write_text("{}")
    p.report_html.write_text("<html></html>")
    assert crosstrack_complete(tmp_path) and report_complete(tmp_path)
