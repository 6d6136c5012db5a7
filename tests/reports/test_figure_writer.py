"""Figures rendered in worker processes: the same bytes as in one process, every failure named, nothing lost.

Small figures of the kinds the report draws (lines with mathtext and bold titles, an RGB image, a colour bar, a
scatter) are saved through :func:`agnbench.reports.figure_writer.figure_writer` with one and with two worker
processes; the files must be identical byte for byte, and identical to saving without a writer.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.ticker import FuncFormatter

from agnbench.config.core import load_config
from agnbench.config.provenance import REPORT_SECTIONS, science_config
from agnbench.errors import ConfigError
from agnbench.fileio import usable_cpu_count
from agnbench.reports.figure_writer import FigureRenderError, figure_writer, resolve_workers
from agnbench.reports.style import journal_style, new_figure, save_figure


def _figures() -> list:
    """(name, figure) pairs: a line plot with mathtext, an image with a colour bar, a scatter grid."""
    rng = np.random.default_rng(0)
    out = []
    with journal_style():
        fig, ax = new_figure("column")
        x = np.linspace(0, 1, 50)
        ax.plot(x, x**2, label=r"$R_{50}$ ($r$)")
        ax.set_xlabel(r"$\log$ [NII]/H$\alpha$ (km s$^{-1}$)")
        ax.set_title("Hβ → [OIII], bold", fontweight="bold")
        ax.legend()
        out.append(("lines", fig))
        fig, axs = new_figure("page", aspect=0.3, ncols=2)
        axs[0].imshow(rng.uniform(size=(16, 16, 3)))
        im = axs[1].imshow(rng.normal(size=(16, 16)))
        fig.colorbar(im, ax=axs[1], label=r"mean $|$IG$|$")
        out.append(("images", fig))
        fig, ax = new_figure("column")
        ax.scatter(rng.normal(size=300), rng.normal(size=300), c=rng.uniform(size=300), s=3)
        ax.set_ylabel(r"Spearman $\rho$")
        out.append(("scatter", fig))
    return out


def _save_all(out: Path, figures: list) -> dict[str, str]:
    for name, fig in figures:
        save_figure(fig, out, name, section="performance", title=name, caption=name)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def test_files_are_the_same_bytes_with_any_number_of_workers(tmp_path: Path) -> None:
    figures = _figures()
    direct = _save_all(tmp_path / "direct", figures)
    assert all(type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine" for _, fig in figures)  # kept
    with figure_writer(1):
        serial = _save_all(tmp_path / "serial", _figures())
    with figure_writer(2):
        _save_all(tmp_path / "parallel", _figures())
    parallel = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((tmp_path / "parallel").iterdir())}
    assert len(direct) == 6 and set(direct) == {f"{n}.{e}" for n in ("lines", "images", "scatter") for e in ("pdf", "png")}
    assert serial == direct
    assert parallel == direct
    pdf = (tmp_path / "direct" / "lines.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/CreationDate" not in pdf  # TrueType (pdf.fonttype 42), embedded; no date
    subsets = set(re.findall(rb"/BaseFont /([A-Z]{6}\+\S+)", pdf))  # tag+name: one per embedded subset
    assert sorted(s.split(b"+")[1] for s in subsets) == [b"DejaVuSans", b"DejaVuSans-Bold", b"DejaVuSans-Oblique"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_figure_is_named_and_the_others_are_written(tmp_path: Path, workers: int) -> None:
    figures = _figures()
    with journal_style():
        bad, ax = new_figure("column")
        ax.set_xlabel(r"$\frac{1}{$")  # mathtext that does not parse: fails when rendered, not when drawn
    figures.insert(1, ("broken_label", bad))
    with pytest.raises(FigureRenderError, match=r"1 report figure\(s\) failed to render \(broken_label: ValueError"):
        with figure_writer(workers):
            _save_all(tmp_path, figures)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{n}.{e}" for n in ("lines", "images", "scatter") for e in ("pdf", "png"))


def test_a_figure_that_cannot_be_pickled_is_rendered_here(tmp_path: Path) -> None:
    with journal_style():
        fig, ax = new_figure("column")
        ax.plot([0, 1], [0, 1])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"<{v:g}>"))  # a lambda: not picklable
    with figure_writer(2):
        save_figure(fig, tmp_path, "lambda", section="performance", title="t", caption="c")
    assert (tmp_path / "lambda.pdf").read_bytes()[:5] == b"%PDF-" and (tmp_path / "lambda.png").stat().st_size


def test_an_error_while_drawing_stops_the_workers_and_propagates(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="drawing"):
        with figure_writer(2):
            _save_all(tmp_path, _figures()[:1])
            raise KeyError("drawing")


def test_workers_setting() -> None:
    assert resolve_workers(0) == usable_cpu_count() and resolve_workers(1) == 1 and resolve_workers(3) == 3
    assert load_config(overrides=["report.workers=2"]).report.workers == 2
    recorded = science_config(load_config(overrides=["report.workers=2"]), REPORT_SECTIONS)
    assert recorded == science_config(load_config(), REPORT_SECTIONS)  # a runtime setting: the report is the same
    with pytest.raises(ConfigError, match=re.escape("report.workers")):
        load_config(overrides=["report.workers=-1"])


class _ExitOnUnpickle:
    """Unpickling this calls ``os._exit(3)``: a worker process that dies while it renders a figure."""

    def __reduce__(self):
        import os

        return os._exit, (3,)


def test_a_worker_that_dies_is_named_and_replaced(tmp_path: Path) -> None:
    figures = _figures()
    with journal_style():
        doomed, ax = new_figure("column")
        ax.plot([0, 1], [1, 0])
    doomed.agnbench_test_exit = _ExitOnUnpickle()
    figures.insert(0, ("doomed", doomed))
    with pytest.raises(FigureRenderError, match=r"doomed: the worker process rendering it died \(exit code 3\)"):
        with figure_writer(2):
            _save_all(tmp_path, figures)
    assert sorted(p.stem for p in tmp_path.glob("*.pdf")) == ["images", "lines", "scatter"]


def test_a_script_without_a_main_guard_renders_in_workers(tmp_path: Path) -> None:
    """Workers are fresh interpreters: they never re-run the calling script (no ``__main__`` guard needed)."""
    script = tmp_path / "script.py"
    script.write_text(
        "from pathlib import Path\n"
        "from agnbench.reports.figure_writer import figure_writer\n"
        "from agnbench.reports.style import new_figure, save_figure\n"
        f"out = Path({str(tmp_path / 'out')!r})\n"
        "assert not out.exists(), 'the script ran twice'\n"
        "with figure_writer(2):\n"
        "    for i in range(3):\n"
        "        fig, ax = new_figure('column')\n"
        "        ax.plot([0, i])\n"
        "        save_figure(fig, out, f'f{i}', section='performance', title='t', caption='c')\n"
        "print(len(list(out.glob('*.p*'))))\n")
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert res.returncode == 0 and res.stdout.strip() == "6", res.stderr[-2000:]
