"""Journal figure style: sizes, colours and saving, with no global matplotlib state.

Figures are :class:`matplotlib.figure.Figure` objects made without ``pyplot``, so they render
headless (Agg) and never leak into a user's interactive session. Widths follow the common journal
layout: one column is 3.3 in, a full page 7 in (ApJ, MNRAS, A&A are within 0.2 in of these).
Every plotting function in :mod:`agnbench.reports` takes ``ax=`` (an existing axes to draw on) so
users restyle figures for their journal; :func:`axes` makes one when none is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from agnbench.reports.figure_writer import active_writer, render_figure

#: Width of one journal column and of a full page, inches.
COLUMN_IN = 3.3
PAGE_IN = 7.0
#: Raster resolution of the PNG copies (dots per inch).
PNG_DPI = 200
#: Metadata of every PDF: no ``CreationDate``, so a figure's PDF is the same bytes whenever it is drawn.
PDF_METADATA = {"Creator": "agnbench", "CreationDate": None}

#: rcParams applied while a figure is drawn and saved (:func:`journal_style`).
JOURNAL_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # TrueType in PDFs: journals' production systems want embedded, editable text
    "ps.fonttype": 42,  # read by the PDF backend too (matplotlib 3.11): one subset per font, not one more per
                        # character beyond Latin-1 (the minus sign, Greek, arrows), each costing a font subsetting
    "image.cmap": "viridis",
}



def journal_style() -> matplotlib.rc_context:
    """Context manager applying :data:`JOURNAL_RC` (use around drawing *and* saving)."""
    return matplotlib.rc_context(JOURNAL_RC)


def new_figure(width: str | float = "column", *, aspect: float = 0.75, nrows: int = 1, ncols: int = 1,
               **subplot_kw) -> tuple[Figure, Axes | Sequence[Axes]]:
    """A pyplot-free figure sized for a journal.

    Parameters
    ----------
    width : {"column", "page"} or float
        3.3 in, 7 in, or a width in inches.
    aspect : float
        Height / width of the whole figure.
    nrows, ncols : int
        Subplot grid, as :meth:`Figure.subplots`.

    Returns
    -------
    fig, axes
        ``axes`` is one Axes for a 1x1 grid, else the array :meth:`Figure.subplots` returns.
    """
    w = {"column": COLUMN_IN, "page": PAGE_IN}.get(width, width) if isinstance(width, str) else float(width)
    if not isinstance(w, float):
        raise ValueError(f"width must be 'column', 'page' or inches, not {width!r}")
    with journal_style():
        fig = Figure(figsize=(w, w * aspect), layout="constrained")
        axs = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axs


def axes(ax: Axes | None, *, width: str | float = "column", aspect: float = 0.75) -> Axes:
    """``ax`` itself, or the single axes of a new :func:`new_figure`."""
    if ax is not None:
        return ax
    _, made = new_figure(width, aspect=aspect)
    return made


@dataclass(frozen=True)
class FigureRecord:
    """One saved figure, as the report lists it.

    Attributes
    ----------
    name : str
        File stem (``figures/<name>.pdf|png``).
    section : str
        Report section key: ``dataset``, ``performance``, ``calibration``, ``subgroups``, ``training``,
        ``tests``, ``composites``, ``interpretability``, ``errors``.
    title : str
        Short heading.
    caption : str
        What is shown, the run(s) and split, sample sizes, and how uncertainty was computed.
    pdf, png : Path
        The saved files.
    tables : tuple of str
        Names of the ``tables/*.csv`` the figure was drawn from (empty when drawn from run files).
    """

    name: str
    section: str
    title: str
    caption: str
    pdf: Path
    png: Path
    tables: tuple[str, ...] = field(default=())


def save_figure(fig: Figure, out_dir: Path, name: str, *, section: str, title: str, caption: str,
                tables: Sequence[str] = ()) -> FigureRecord:
    """Write ``fig`` as ``out_dir/<name>.pdf`` and ``.png`` (atomically) and return its record.

    The PDF is vector (fonts embedded as TrueType, no creation date: the same figure gives the same bytes); the
    PNG is :data:`PNG_DPI` dpi. Each file is written under a temporary name and renamed, so an interrupted report
    never leaves half a file. Inside :func:`agnbench.reports.figure_writer.figure_writer` the figure is handed to
    its worker processes and the files appear when the block ends; otherwise they are written before returning.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = active_writer()
    with journal_style():
        if writer is None:
            render_figure(fig, out_dir, name, rc=None, meta=PDF_METADATA, dpi=PNG_DPI)
        else:
            writer.submit(fig, out_dir, name, meta=PDF_METADATA, dpi=PNG_DPI)
    return FigureRecord(name=name, section=section, title=title, caption=caption, pdf=out_dir / f"{name}.pdf",
                        png=out_dir / f"{name}.png", tables=tuple(tables))
