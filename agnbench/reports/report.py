"""``agnbench report``: a paper-ready report of one comparison (Contract 4 ``report/``).

Steps: read the comparison and what it points to (:mod:`agnbench.reports.report_inputs`) -> tables
(CSV with full precision + booktabs LaTeX) -> figures (PDF + PNG, each a function of a table; drawn here and
rendered by ``report.workers`` processes, :mod:`agnbench.reports.figure_writer`) -> the summary paragraph ->
``report.html`` (one self-contained file) and ``report.md``. Everything is written into a temporary directory
renamed into place at the end, so an interrupted report is never mistaken for a finished one and an existing
report is replaced only with ``overwrite``.

Every section checks its inputs: one whose inputs are absent (no line ratios for the BPT plane in a table
store, no ood split, a single run, no attributions, ...) is skipped with one INFO line saying which and why,
and the summary lists what was left out (also ``report/skipped.csv``). Nothing assumes ``feat_``/``q_``
columns or the sf/agn class names; baselines come from the comparison's classes and counts.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from agnbench.config.choices import INTERVAL_LABELS
from agnbench.config.core import Config
from agnbench.contracts import files
from agnbench.contracts.comparison import comparison_paths
from agnbench.contracts.run_dir import (config_path, is_run_dir, read_attributions_summary,
                                       seed_free_config_hash)
from agnbench.contracts.store import (MOCK_SURVEY_KIND, read_manifest, read_survey_manifest, store_paths,
                                     survey_paths)
from agnbench.reports import tables as tb
from agnbench.reports.attribution_seeds import attribution_seed_spread
from agnbench.reports.build_incremental import incremental_items
from agnbench.reports.attribution_tables import attribution_display_tables, readable_key
from agnbench.reports.display import relabel
from agnbench.reports.figure_writer import figure_writer
from agnbench.reports.report_inputs import COMPOSITES, ReportInputs, load_report_inputs, ood_description
from agnbench.reports.render import Code, Figure, Paragraph, Section, Table, render_html, render_markdown
from agnbench.reports.skips import Skips
from agnbench.reports.style import FigureRecord
from agnbench.reports.methods_text import seed_sentence
from agnbench.reports.results_tables import result_tables, save_table
from agnbench.reports.summary_brief import brief_sentences, brief_table
from agnbench.reports.summary_text import summary_paragraph
from agnbench.config.provenance import REPORT_SECTIONS, science_config
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
    ("incremental", "What each modality adds", ("incremental",)),
    ("details", "Details: every test and calibration measure", ()),
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
    rc = cfg.report
    inputs = load_report_inputs(Path(comparison), data=data, labels=rc.labels)
    report_dir = comparison_paths(comparison).report_dir
    with atomic_directory(report_dir, kind="report", overwrite=overwrite, inputs=[comparison, data],
                          config=science_config(cfg, REPORT_SECTIONS)) as tmp:
        figures_dir, tables_dir = tmp / "figures", tmp / "tables"
        figures_dir.mkdir()
        tables_dir.mkdir()
        steps = _figure_steps(cfg)
        skips = Skips()
        records: list[FigureRecord] = []
        with figure_writer(rc.workers, progress=progress):  # figures render in worker processes meanwhile
            bar = tqdm(steps, desc="report", unit="step", disable=not progress, leave=False)
            for name, builder in bar:
                bar.set_postfix_str(name)
                records += builder(inputs, figures_dir=figures_dir, tables_dir=tables_dir, skips=skips)
        sections = _document(inputs, records, tables_dir=tables_dir, rc=rc, skips=skips)
        atomic_write_text(tmp / "skipped.csv", skips.table().to_csv(index=False))
        _latex_for_every_csv(tables_dir, digits=rc.digits)
        mock = _is_mock(inputs)
        note = MOCK_NOTE if mock else None
        title = f"agnbench report: {Path(comparison).name}"
        atomic_write_text(tmp / files.REPORT_HTML, render_html(title, sections, root=tmp, note=note))
        atomic_write_text(tmp / files.REPORT_MD, render_markdown(title, sections, root=tmp, note=note))
        n_tables = len(list(tables_dir.glob("*.csv")))
    log.info("report: %d figures, %d tables in %s; %d parts skipped (listed in the summary and skipped.csv)",
             len(records), n_tables, report_dir, len(skips))
    return report_dir


def _figure_steps(cfg: Config) -> list[tuple[str, FigureBuilder]]:
    """The figure builders, in report order (each returns the records of the figures it saved)."""
    from agnbench.reports.build_incremental import build_incremental_figures
    from agnbench.reports.build_interpret import build_error_figures, build_interpretability_figures
    from agnbench.reports.build_performance import build_dataset_figures, build_performance_figures

    k = cfg.report.mistakes
    return [
        ("dataset", build_dataset_figures),
        ("performance", lambda i, **kw: build_performance_figures(i, seed=cfg.seed, n_boot=cfg.report.curve_boot, **kw)),
        ("incremental", build_incremental_figures),
        ("interpretability", lambda i, **kw: build_interpretability_figures(i, k=k, **kw)),
        ("errors", lambda i, **kw: build_error_figures(i, k=k, **kw) if k > 0 else _no_mistakes(**kw)),
    ]


def _no_mistakes(*, skips: Skips, **_) -> list[FigureRecord]:
    skips.skip("Error analysis", "report.mistakes = 0", logger=log)
    return []


def describe_runs(inputs: ReportInputs) -> dict[str, str]:
    """Run name (and seed-group row name) -> its display name, e.g. ``"Logistic regression (catalog, seed 1)"``.

    The names of :attr:`ReportInputs.display` (:func:`agnbench.reports.display.display_labels`, with
    ``report.labels`` applied when the inputs were loaded for a report).
    """
    return inputs.display


def _document(inputs: ReportInputs, records: list[FigureRecord], *, tables_dir: Path, rc,
              skips: Skips) -> list[Section]:
    """The report's sections, tables written to ``tables_dir`` on the way; what is skipped goes to ``skips``."""
    summary, tests = inputs.tables["summary"], inputs.tables["tests"]
    by_key = {key: Section(key, title) for key, title, _ in SECTIONS}
    if ood_description(inputs) != COMPOSITES:
        by_key["composites"] = Section("composites", "Out-of-distribution objects (split ood)")
    for key, _, fig_sections in SECTIONS:
        by_key[key].items.extend(Figure(r) for r in records if r.section in fig_sections)
    describe = describe_runs(inputs)
    shown = tb.reported_runs(summary, inputs.inputs.get("seed_groups"))
    primary = inputs.tables.get("primary")
    text = summary_paragraph(summary[summary["run"].isin(shown)], tests, inputs.inputs, describe=describe,
                             mock=bool(_is_mock(inputs)), alpha=rc.alpha, digits=rc.digits,
                             primary=primary, calibration=inputs.tables.get("calibration"))
    text += seed_sentence(inputs.inputs)
    brief = brief_sentences(summary, inputs.inputs, labels=describe, runs=shown, alpha=rc.alpha, digits=rc.digits,
                            primary=primary)
    atomic_write_text(tables_dir.parent / "summary.txt", f"{brief}\n\nDetails: {text}\n")
    by_key["summary"].items[:0] = [
        Table("At a glance: headline metrics with their intervals (full table under Results)",
              brief_table(summary, shown, labels=describe, digits=rc.digits, primary=primary)),
        Paragraph(brief)]
    by_key["details"].items.append(Paragraph(text))

    results = result_tables(inputs, tables_dir=tables_dir, alpha=rc.alpha, digits=rc.digits, skips=skips)
    seeds = seed_groups_checked(inputs, skips)
    if len(seeds):
        seeds = tb.seeds_table(seeds)
        save_table(tables_dir, "seeds", seeds, None)
        groups = {unit.split(" (")[0]: describe[unit] for unit in (inputs.inputs.get("seed_groups") or {})
                  if unit in describe}
        results.append(Table("Spread over training seeds (runs whose config is the same apart from the seed; mean, "
                             "sample standard deviation)", seeds.assign(group=seeds["group"].map(
                                 lambda g: groups.get(g, g))), ("tables/seeds.csv",)))
    else:
        skips.skip("Seed-spread table", "no two runs differ by seed alone (same config.yaml apart from the seed)",
                   logger=log)
    pairwise = [t for t in results if "tables/pairwise.csv" in t.files]  # secondary and long: after the figures
    by_key["results"].items[:0] = [t for t in results if t not in pairwise]
    by_key["results"].items.extend(pairwise)
    by_key["dataset"].items[:0] = _dataset_items(inputs)
    by_key["incremental"].items[:0] = incremental_items(inputs, digits=rc.digits)
    if "ood" in inputs.tables and len(inputs.tables["ood"]):
        by_key["composites"].items.insert(0, Table(
            f"Where each run puts the ood objects ({ood_description(inputs)}; fraction per predicted class, with "
            f"intervals)", relabel(inputs.tables["ood"], describe), ("tables/ood.csv",)))
        save_table(tables_dir, "ood", inputs.tables["ood"], None)
    for name, caption in (("thresholds", "Decision thresholds chosen on val, applied to test"),
                          ("abstention", "Abstention: accuracy when answering only the most confident objects "
                                         "(threshold chosen on val)")):
        if name in inputs.tables and len(inputs.tables[name]):
            save_table(tables_dir, name, inputs.tables[name], None)
            by_key["decisions"].items.append(Table(caption, relabel(inputs.tables[name], describe),
                                                   (f"tables/{name}.csv",)))
        else:
            why = (inputs.inputs.get("skipped") or {}).get(name) or f"the comparison has no {name}.csv"
            skips.skip(f"Operating points: {name} table", why, logger=log)
    facts = attribution_facts(inputs)
    if len(facts):  # the CSV keeps every dotted key; the report shows readable tables after the figures
        save_table(tables_dir, "attribution_facts", facts, None)
        for run in inputs.runs:
            if run.attributions is None:
                continue
            for caption, table in attribution_display_tables(read_attributions_summary(run.path), label=run.shown,
                                                             digits=rc.digits):
                by_key["interpretability"].items.append(Table(caption, table, ("tables/attribution_facts.csv",),
                                                              collapsed=len(table) > 12))
        spread = attribution_seed_spread(facts, inputs.inputs.get("seed_groups"))
        if len(spread):
            save_table(tables_dir, "attribution_seeds", spread, None)
            groups = {unit.split(" (")[0]: describe[unit] for unit in (inputs.inputs.get("seed_groups") or {})
                      if unit in describe}
            shown_spread = spread.assign(group=spread["group"].map(lambda g: describe.get(g, groups.get(g, g))),
                                         quantity=spread["quantity"].map(readable_key))
            by_key["interpretability"].items.append(Table(
                "Attribution summaries over training seeds (runs identical but for the seed): numbers as mean, "
                "sample standard deviation, min and max over the seeds; text as the most common value and in how "
                "many seeds", shown_spread, ("tables/attribution_seeds.csv",), collapsed=len(spread) > 12))
    by_key["provenance"].items.extend(_provenance_items(inputs))
    for s in by_key.values():
        if not s.items and s.key not in ("summary", "incremental"):  # incremental: skipped with its reason
            skips.skip(f"Section {s.title!r}", "it has nothing to show: its inputs are absent (see the lines above)",
                       logger=log)
    if len(skips):
        by_key["summary"].items.append(Table("Left out of this report (their inputs are absent)", skips.table(),
                                             ("skipped.csv",), collapsed=len(skips) > 6))
    return [s for s in by_key.values() if s.items]


def seed_groups_checked(inputs: ReportInputs, skips: Skips) -> pd.DataFrame:
    """``seeds.csv`` without the groups whose runs differ by more than the seed.

    ``agnbench compare`` groups runs by their config apart from the seed; a comparison made before it did (by
    track and model only) may hold groups of runs with different feature sets or settings. Those rows are
    dropped (skipped, with the reason) rather than reported as seed spread.
    """
    seeds = inputs.tables.get("seeds")
    if seeds is None or seeds.empty or "runs" not in seeds.columns:
        return pd.DataFrame(columns=["group", "metric", "mean", "std", "n", "runs"])
    paths = {r.name: r.path for r in inputs.runs}
    keep = []
    for group, members in seeds.groupby("group", sort=False)["runs"].first().items():
        names = str(members).split(" ")
        hashes = {seed_free_config_hash(paths[n]) if n in paths else None for n in names}
        if len(hashes) == 1 and None not in hashes:
            keep.append(group)
        else:
            skips.skip(f"Seed spread of {group}", f"its runs ({', '.join(names)}) differ by more than the seed (or "
                       "lack config.yaml); re-run `agnbench compare` to regroup them", logger=log)
    return seeds[seeds["group"].isin(keep)].reset_index(drop=True)


def _dataset_items(inputs: ReportInputs) -> list:
    if inputs.objects is None:
        return [Paragraph("The dataset store was not found, so this section is empty; pass --data to point at it.")]
    labels = read_manifest(inputs.store).get("labels", {})
    n_ood = int((inputs.objects["split"] == "ood").sum()) if "split" in inputs.objects.columns else 0
    ood = (f"; the {n_ood} objects of the ood split ({ood_description(inputs)}) are scored, never trained on"
           if n_ood else "; the store has no ood split")
    text = (f"Store {inputs.store} ({len(inputs.objects)} objects; label scheme "
            f"{labels.get('scheme', inputs.inputs.get('label_scheme', '?'))}; classes {', '.join(inputs.classes)}). "
            f"Splits were made once in prep, stratified by label, and are shared by every track{ood}.")
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
    """Scalar entries as ``(dotted name, value)``; a list of mappings (e.g. ``shap.top_features``) by 1-based rank."""
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for rank, item in enumerate(value, start=1):
                yield from _flatten(item, f"{name}.{rank}.")
        elif isinstance(value, (int, float, str, bool)):
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
    runs = pd.DataFrame([{"display name": r.shown, "run": r.name, "track": r.track, "model": r.model,
                          "seed": r.seed, "path": str(r.path)} for r in inputs.runs])
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
