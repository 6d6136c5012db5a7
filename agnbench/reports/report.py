"""``agnbench report``: a paper-ready report of one comparison (Contract 4 ``report/``).

Steps: read the comparison and what it points to (:mod:`agnbench.reports.report_inputs`) -> tables
(CSV with full precision + booktabs LaTeX) -> figures (PDF + PNG, each a function of a table) ->
the summary paragraph -> ``report.html`` (one self-contained file) and ``report.md``. Everything
is written into a temporary directory renamed into place at the end, so an interrupted report is
never mistaken for a finished one and an existing report is replaced only with ``overwrite``.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from agnbench.config.core import Config
from agnbench.contracts import files
from agnbench.contracts.comparison import comparison_paths
from agnbench.contracts.run_dir import config_path, is_run_dir, read_attributions_summary
from agnbench.contracts.store import (MOCK_SURVEY_KIND, read_manifest, read_survey_manifest, store_paths,
                                     survey_paths)
from agnbench.reports import tables as tb
from agnbench.reports.report_inputs import ReportInputs, load_report_inputs
from agnbench.reports.render import Code, Figure, Paragraph, Section, Table, render_html, render_markdown
from agnbench.reports.style import FigureRecord
from agnbench.reports.summary_text import summary_paragraph
from agnbench.fileio import atomic_directory, atomic_write_text

log = logging.getLogger(__name__)

MOCK_NOTE = ("Built from the simulated (mock) survey: these numbers demonstrate the pipeline and are not science "
             "results.")
ACKNOWLEDGEMENTS = (
    "If you use SDSS data: Funding for the Sloan Digital Sky Survey has been provided by the Alfred P. Sloan "
    "Foundation, the Participating Institutions, the National Science Foundation, the U.S. Department of Energy, "
    "NASA, the Japanese Monbukagakusho, the Max Planck Society, and the Higher Education Funding Council for England "
    "(see sdss.org for the acknowledgement of the data release used). The MPA-JHU catalogues: Brinchmann et al. "
    "(2004), Kauffmann et al. (2003), Tremonti et al. (2004). BPT classes: Baldwin, Phillips & Terlevich (1981), "
    "Kewley et al. (2001), Kauffmann et al. (2003). If you use Legacy Survey images, cite Dey et al. (2019) and use "
    "the Legacy Surveys acknowledgement (legacysurvey.org/acknowledgment).")

#: Report sections in order: (key, title, figure sections shown in it).
SECTIONS = (
    ("summary", "Summary", ()),
    ("dataset", "Dataset", ("dataset",)),
    ("results", "Results", ("performance", "calibration", "tests")),
    ("subgroups", "Performance across the sample", ("subgroups",)),
    ("training", "Training", ("training",)),
    ("composites", "Composites (out-of-distribution objects)", ("composites",)),
    ("decisions", "Operating points", ()),
    ("interpretability", "What the models look at", ("interpretability",)),
    ("errors", "Error analysis: confident mistakes", ("errors",)),
    ("provenance", "Provenance and reproduction", ()),
)

FigureBuilder = Callable[..., list[FigureRecord]]


def build_report(cfg: Config, *, comparison: Path, data: Path | None = None, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """Write ``comparison/report/`` and return its path.

    Parameters
    ----------
    cfg : Config
        Resolved configuration (section ``report``; ``seed`` seeds the curve bands).
    comparison : Path
        A directory written by ``agnbench compare``.
    data : Path, optional
        The dataset store, if it moved since training.
    overwrite : bool
        Replace an existing report (only once the new one is complete).
    progress : bool
        Show a progress bar over the steps.
    """
    inputs = load_report_inputs(Path(comparison), data=data)
    rc = cfg.report
    report_dir = comparison_paths(comparison).report_dir
    with atomic_directory(report_dir, overwrite=overwrite) as tmp:
        figures_dir, tables_dir = tmp / "figures", tmp / "tables"
        figures_dir.mkdir()
        tables_dir.mkdir()
        steps = _figure_steps(cfg)
        records: list[FigureRecord] = []
        bar = tqdm(steps, desc="report", unit="step", disable=not progress, leave=False)
        for name, builder in bar:
            bar.set_postfix_str(name)
            records += builder(inputs, figures_dir=figures_dir, tables_dir=tables_dir)
        sections = _document(inputs, records, tables_dir=tables_dir, rc=rc)
        _latex_for_every_csv(tables_dir, digits=rc.digits)
        mock = _is_mock(inputs)
        note = MOCK_NOTE if mock else None
        title = f"agnbench report: {Path(comparison).name}"
        atomic_write_text(tmp / files.REPORT_HTML, render_html(title, sections, root=tmp, note=note))
        atomic_write_text(tmp / files.REPORT_MD, render_markdown(title, sections, root=tmp, note=note))
        n_tables = len(list(tables_dir.glob("*.csv")))
    log.info("report: %d figures, %d tables in %s", len(records), n_tables, report_dir)
    return report_dir


def _figure_steps(cfg: Config) -> list[tuple[str, FigureBuilder]]:
    """The figure builders, in report order (each returns the records of the figures it saved)."""
    from agnbench.reports.build_interpret import build_error_figures, build_interpretability_figures
    from agnbench.reports.build_performance import build_dataset_figures, build_performance_figures

    k = cfg.report.mistakes
    return [
        ("dataset", build_dataset_figures),
        ("performance", lambda i, **kw: build_performance_figures(i, seed=cfg.seed, n_boot=cfg.report.curve_boot, **kw)),
        ("interpretability", lambda i, **kw: build_interpretability_figures(i, k=k, **kw)),
        ("errors", lambda i, **kw: build_error_figures(i, k=k, **kw) if k > 0 else []),
    ]


def describe_runs(inputs: ReportInputs) -> dict[str, str]:
    """Run name -> ``"the spectra track (resnet1d, seed 0)"`` (the seed only when several runs share a model)."""
    groups = pd.Series([f"{r.track}-{r.model}" for r in inputs.runs]).value_counts()
    out = {}
    for r in inputs.runs:
        seed = f", seed {r.seed}" if groups.get(f"{r.track}-{r.model}", 0) > 1 else ""
        out[r.name] = f"the {r.track} track ({r.model}{seed})" if r.track else r.name
    return out


def _document(inputs: ReportInputs, records: list[FigureRecord], *, tables_dir: Path, rc) -> list[Section]:
    """The report's sections, tables written to ``tables_dir`` on the way."""
    summary, tests = inputs.tables["summary"], inputs.tables["tests"]
    by_key = {key: Section(key, title) for key, title, _ in SECTIONS}
    for key, _, fig_sections in SECTIONS:
        by_key[key].items.extend(Figure(r) for r in records if r.section in fig_sections)
    describe = describe_runs(inputs)
    text = summary_paragraph(summary, tests, inputs.inputs, describe=describe, mock=bool(_is_mock(inputs)),
                             alpha=rc.alpha, digits=rc.digits)
    atomic_write_text(tables_dir.parent / "summary.txt", text + "\n")
    by_key["summary"].items[:0] = [Paragraph(text), Paragraph("Runs: " + "; ".join(
        f"{name} = {desc}" for name, desc in describe.items()) + ".")]

    head = tb.headline_table(summary)
    _save(tables_dir, "headline", head, tb.headline_latex(
        head, caption=_headline_caption(inputs) + " Bold: the best model per column.", label="tab:headline"))
    pair = tb.pairwise_table(tests, alpha=rc.alpha)
    _save(tables_dir, "pairwise", pair, tb.pairwise_latex(pair, caption=(
        f"Pairwise differences on the {inputs.split} split: delta = A - B with its interval; p-values of the paired "
        f"bootstrap, DeLong (ROC-AUC) and McNemar (accuracy) tests, Holm-corrected over all pairs and metrics; "
        f"* marks Holm p < {rc.alpha:g}."), label="tab:pairwise"))
    _save(tables_dir, "metrics_all", summary, None)
    results = [Table(_headline_caption(inputs), tb.headline_display(head, digits=rc.digits),
                     ("tables/headline.csv", "tables/headline.tex")),
               Table("Pairwise tests (delta = A - B; * = significant after Holm correction)",
                     tb.pairwise_display(pair, digits=rc.digits), ("tables/pairwise.csv", "tables/pairwise.tex"))]
    if "seeds" in inputs.tables:
        seeds = tb.seeds_table(inputs.tables["seeds"])
        _save(tables_dir, "seeds", seeds, None)
        results.append(Table("Spread over training seeds (mean, sample standard deviation)", seeds,
                             ("tables/seeds.csv",)))
    by_key["results"].items[:0] = results
    by_key["dataset"].items[:0] = _dataset_items(inputs)
    if "ood" in inputs.tables:
        by_key["composites"].items.insert(0, Table(
            "Where each run puts the composites (fraction of ood objects per predicted class, with intervals)",
            inputs.tables["ood"], ("tables/ood.csv",)))
        _save(tables_dir, "ood", inputs.tables["ood"], None)
    for name, caption in (("thresholds", "Decision thresholds chosen on val, applied to test"),
                          ("abstention", "Abstention: accuracy when answering only the most confident objects "
                                         "(threshold chosen on val)")):
        if name in inputs.tables:
            _save(tables_dir, name, inputs.tables[name], None)
            by_key["decisions"].items.append(Table(caption, inputs.tables[name], (f"tables/{name}.csv",)))
    facts = attribution_facts(inputs)
    if len(facts):
        _save(tables_dir, "attribution_facts", facts, None)
        by_key["interpretability"].items.insert(0, Table(
            "Attribution summaries per run (from each run's attributions/summary.json)", facts,
            ("tables/attribution_facts.csv",)))
    by_key["provenance"].items.extend(_provenance_items(inputs))
    sections = [s for s in by_key.values() if s.items]
    for s in by_key.values():
        if not s.items and s.key not in ("summary",):
            log.info("report: section %r is empty (its inputs are absent) and is left out", s.title)
    return sections


def _headline_caption(inputs: ReportInputs) -> str:
    c = inputs.inputs.get("compare", {})
    counts = ", ".join(f"{v} {k}" for k, v in inputs.inputs.get("class_counts", {}).items())
    return (f"Metrics on the {inputs.split} split ({counts}) with {100 * float(c.get('confidence', 0.95)):g}% "
            f"{c.get('ci', 'percentile')} bootstrap intervals ({c.get('n_boot', '?')} paired replicates"
            f"{', stratified by class' if c.get('stratify', True) else ''}); the majority baseline predicts the training "
            f"majority class.")


def _dataset_items(inputs: ReportInputs) -> list:
    if inputs.objects is None:
        return [Paragraph("The dataset store was not found, so this section is empty; pass --data to point at it.")]
    labels = read_manifest(inputs.store).get("labels", {})
    text = (f"Store {inputs.store} ({len(inputs.objects)} objects; label scheme "
            f"{labels.get('scheme', inputs.inputs.get('label_scheme', '?'))}; classes {', '.join(inputs.classes)}). "
            f"Splits were made once in prep, stratified by label, and are shared by every track; BPT composites go "
            f"to the ood split and are scored, never trained on.")
    return [Paragraph(text)]


def attribution_facts(inputs: ReportInputs) -> pd.DataFrame:
    """Scalar entries of each run's ``attributions/summary.json`` as rows (run, quantity, value)."""
    rows = []
    for run in inputs.runs:
        if run.attributions is None:
            continue
        summary = read_attributions_summary(run.path)
        for key, value in _flatten(summary):
            if key in ("run", "track", "methods") or key.endswith("note"):
                continue
            rows.append({"run": run.name, "quantity": key, "value": value})
    return pd.DataFrame(rows, columns=["run", "quantity", "value"])


def _flatten(obj, prefix: str = ""):
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, (int, float, str, bool)) and not isinstance(value, list):
            yield name, value


def _provenance_items(inputs: ReportInputs) -> list:
    env = inputs.inputs.get("env", {})
    git = env.get("git", {}) or {}
    versions = ", ".join(f"{k} {v}" for k, v in (env.get("packages", {}) or {}).items())
    items = [Paragraph(f"Store objects.parquet sha256 {inputs.inputs.get('store_sha256', 'unknown')}; agnbench "
                       f"{env.get('agnbench', '?')}; git {git.get('sha', 'unknown')}"
                       f"{' (uncommitted changes)' if git.get('dirty') else ''}; comparison made "
                       f"{env.get('timestamp_utc', '?')}; seed {inputs.inputs.get('seed', '?')}."),
             Paragraph(f"Package versions: {versions}.")]
    items.append(Paragraph("To reproduce (each run's config.yaml is the fully resolved config it was trained with):"))
    items.append(Code(reproduce_commands(inputs)))
    runs = pd.DataFrame([{"run": r.name, "track": r.track, "model": r.model, "seed": r.seed, "path": str(r.path)}
                         for r in inputs.runs])
    items.append(Table("Runs compared", runs))
    items.append(Paragraph(ACKNOWLEDGEMENTS))
    return items


def reproduce_commands(inputs: ReportInputs) -> str:
    """Shell commands that retrain every run and redo the comparison and this report."""
    store = str(inputs.store) if inputs.store is not None else "DATA"
    lines = []
    for r in inputs.runs:
        if not is_run_dir(r.path):
            lines.append(f"# {r.name}: a predictions file without a training config (bring your own model)")
            continue
        track = r.track if r.track in ("catalog", "spectra", "images") else "catalog"
        cmd = ["agnbench", "train", track, "--data", store, "--config", str(config_path(r.path)),
               "--runs-dir", str(r.path.parent), "--name", f"{r.name}-repro"]
        lines.append(shlex.join(cmd))
    c = inputs.inputs.get("compare", {})
    runs = [f"{r.path.parent}/{r.name}-repro" for r in inputs.runs]
    lines.append(shlex.join(["agnbench", "compare", *runs, "--out", f"{inputs.comparison}-repro",
                             "--n-boot", str(c.get("n_boot", 2000)), "--seed", str(inputs.inputs.get("seed", 0))]))
    lines.append(shlex.join(["agnbench", "report", f"{inputs.comparison}-repro"]))
    return "\n".join(lines)


def _is_mock(inputs: ReportInputs) -> bool | None:
    """Whether the store was built from the simulated survey (None when the store is unknown)."""
    if inputs.store is None:
        return None
    manifest = store_paths(inputs.store).manifest
    if not manifest.exists():
        return None
    info = read_manifest(inputs.store).get("inputs", {})
    for value in info.values() if isinstance(info, dict) else []:
        for base in (Path.cwd(), inputs.store.parent.parent, inputs.store.parent):
            raw = (base / str(value)).parent.parent
            if survey_paths(raw).truth.exists():
                return True
            if read_survey_manifest(raw).get("kind") == MOCK_SURVEY_KIND:
                return True
    return False


def _save(tables_dir: Path, name: str, frame: pd.DataFrame, latex: str | None) -> None:
    atomic_write_text(tables_dir / f"{name}.csv", frame.to_csv(index=False))
    if latex is not None:
        atomic_write_text(tables_dir / f"{name}.tex", latex)


#: Tables longer than this are figure data (curves, per-object scores), kept as CSV only.
LATEX_MAX_ROWS = 60


def _latex_for_every_csv(tables_dir: Path, *, digits: int) -> None:
    """A booktabs version of every paper-sized table (at most :data:`LATEX_MAX_ROWS` rows) that has none yet."""
    for csv in sorted(tables_dir.glob("*.csv")):
        tex = csv.with_suffix(".tex")
        if not tex.exists():
            frame = pd.read_csv(csv)
            if len(frame) > LATEX_MAX_ROWS:
                continue
            atomic_write_text(tex, tb.generic_latex(frame, caption=csv.stem.replace("_", " "),
                                                    label=f"tab:{csv.stem}", digits=digits))
