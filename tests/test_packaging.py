"""Packaging: the wheel builds, installs into a fresh venv and runs from outside the source tree; the
release metadata (pyproject, agnbench.__version__, CITATION.cff, CHANGELOG) agree; config presets resolve."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import agnbench
from agnbench.config import load_config
from agnbench.config.presets import preset_dir, preset_names, resolve_config_path
from agnbench.errors import AgnbenchError, ConfigError
from agnbench.optional import import_optional

ROOT = Path(__file__).resolve().parents[1]
#: Packages outside the core dependencies: the installed wheel must run --help and simulate without them.
OPTIONAL = ("xgboost", "dask", "distributed", "mlflow", "tensorboard", "gradio", "pytest", "playwright", "mkdocs")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_one_version_everywhere() -> None:
    """pyproject reads the version from agnbench.__version__; CITATION.cff and CHANGELOG.md state the same."""
    assert "version" in PROJECT["dynamic"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "agnbench.__version__"}
    assert agnbench.__version__ == "0.2.0"
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == agnbench.__version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    for key in ("message", "title", "authors", "license", "repository-code"):
        assert cff[key], key
    assert all("name" in a or "family-names" in a for a in cff["authors"])
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{agnbench.__version__}] - {cff['date-released']}" in changelog
    assert "MIT License" in (ROOT / "LICENSE").read_text() and PROJECT["license"] == "MIT"


def test_dependencies_are_lower_bounds_and_test_tools_are_extras() -> None:
    """No exact pins; no test or cluster tools at run time; xgboost left to the cpu/cuda extras."""
    names = [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in PROJECT["dependencies"]]
    assert not [d for d in PROJECT["dependencies"] if "==" in d]
    assert all(">=" in d for d in PROJECT["dependencies"])
    not_at_run_time = {"pytest", "pytest-timeout", "pytest-xdist", "dask", "distributed", "xgboost", "xgboost-cpu"}
    assert not not_at_run_time & set(names)
    extras = PROJECT["optional-dependencies"]
    assert {"cpu", "cuda", "dask", "tracking", "app", "docs", "dev"} <= set(extras)
    assert extras["cpu"][0].startswith("xgboost-cpu") and extras["cuda"][0].startswith("xgboost>=")
    assert any(d.startswith("pytest>=") for d in extras["dev"])


def test_presets_resolve_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config quick|paper|spectra_tiny reads the packaged files; a local file of that name wins."""
    monkeypatch.chdir(tmp_path)
    assert set(preset_names()) == {p.stem for p in (ROOT / "configs").glob("*.yaml")} >= {"quick", "paper",
                                                                                          "spectra_tiny"}
    for name in preset_names():  # the packaged presets are the repository's files (one copy)
        assert (preset_dir() / f"{name}.yaml").read_bytes() == (ROOT / "configs" / f"{name}.yaml").read_bytes()
    assert load_config("paper").simulate.n == 30000
    assert load_config("paper.yaml").prep.image_size == 160
    assert load_config("quick") == load_config(None)
    (tmp_path / "paper").write_text("seed: 7\n")
    assert resolve_config_path("paper") == Path("paper") and load_config("paper").seed == 7
    with pytest.raises(ConfigError, match=r"nope: config file not found, and not a packaged preset \(paper, quick"):
        load_config("nope")
    with pytest.raises(ConfigError, match=r"sub/paper\.yaml: config file not found"):
        load_config("sub/paper.yaml")


def test_missing_optional_package_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(AgnbenchError,
                       match=r"--scheduler needs the Python package 'no_such_pkg_agnb'.*agnbench\[dask\]"):
        import_optional("no_such_pkg_agnb.sub", purpose="--scheduler", install="pip install 'agnbench[dask]'")
    assert import_optional("json", purpose="x", install="y").__name__ == "json"
    from agnbench.baselines.catalog_models import fit_model
    from agnbench.cluster import work_executor

    for name in ("xgboost", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    x = np.random.default_rng(0).normal(size=(40, 2))
    y = (x[:, 0] > 0).astype(int)
    with pytest.raises(AgnbenchError, match=r"catalog.model=xgboost needs .*'xgboost'.*xgboost-cpu.*agnbench\[cpu\].*"
                                            r"pip install xgboost .*agnbench\[cuda\]"):
        fit_model("xgboost", x, y, x, y, n_classes=2, feature_names=["a", "b"], seed=0)
    with pytest.raises(AgnbenchError, match=r"dask.distributed is not installed; pip install 'agnbench\[dask\]'"):
        with work_executor("tcp://127.0.0.1:1", workers=1, key="--scheduler"):
            pass


def _copy_source(dest: Path) -> Path:
    """The files a wheel is built from, copied (agnbench/configs stays a link to configs/, as in git)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "configs", dest / "configs", ignore=ignore)
    shutil.copytree(ROOT / "agnbench", dest / "agnbench", symlinks=True, ignore=ignore)
    return dest


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path: Path) -> None:
    """python -m build --wheel; pip install --no-deps into a fresh venv that sees this environment's packages
    (not its editable agnbench); agnbench --help and simulate --config paper from an empty directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["AGNBENCH_MAX_THREADS"] = "1"
    src = _copy_source(tmp_path / "src")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(src)],
         cwd=src, env=env)
    (wheel,) = (tmp_path / "dist").glob("agnbench-*.whl")
    assert wheel.name.startswith(f"agnbench-{agnbench.__version__}-py3-none-any")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"agnbench-{agnbench.__version__}.dist-info"
        assert f"{info}/licenses/LICENSE" in names
        for cfg in (ROOT / "configs").glob("*.yaml"):
            assert zf.read(f"agnbench/configs/{cfg.name}") == cfg.read_bytes()
        meta = zf.read(f"{info}/METADATA").decode()
    assert f"Version: {agnbench.__version__}" in meta and "License-Expression: MIT" in meta
    assert not re.search(r"^Requires-Dist: (pytest|dask|distributed|xgboost)\b[^;]*$", meta, re.MULTILINE)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    vpy = venv / "bin" / "python"
    site = Path(_run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path, env=env).stdout.strip())
    # this environment's packages as a plain path: its .pth files (the editable agnbench) are not processed;
    # the optional packages and the test tools are made unimportable, as in a plain `pip install agnbench`
    (site / "parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (site / "zz_no_optional.pth").write_text(f"import sys; sys.modules.update(dict.fromkeys({list(OPTIONAL)!r}))\n")
    _run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", str(wheel)], cwd=tmp_path, env=env)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = _run([str(vpy), "-c", "import agnbench, importlib.metadata as m; print(agnbench.__file__); "
                  "print(m.version('agnbench'))"], cwd=outside, env=env).stdout.split()
    assert Path(where[0]).is_relative_to(venv) and where[1] == agnbench.__version__
    for name in ("xgboost", "distributed"):  # the blocking works
        blocked = subprocess.run([str(vpy), "-c", f"import {name}"], cwd=outside, env=env, capture_output=True,
                                 text=True)
        assert blocked.returncode == 1 and "ModuleNotFoundError" in blocked.stderr
    agnbench_exe = str(venv / "bin" / "agnbench")
    assert "simulate" in _run([agnbench_exe, "--help"], cwd=outside, env=env).stdout
    assert _run([agnbench_exe, "--version"], cwd=outside, env=env).stdout.strip() == f"agnbench {agnbench.__version__}"
    _run([agnbench_exe, "simulate", "--config", "paper", "--set", "simulate.n=30", "--set", "simulate.image_size=16",
          "--set", "simulate.workers=1", "--out", "raw", "-q"], cwd=outside, env=env)
    written = yaml.safe_load((outside / "raw" / "config.yaml").read_text())
    assert written["prep"]["image_size"] == 160 and written["spectra"]["epochs"] == 40  # the paper preset was read
    assert not (outside / "configs").exists()
