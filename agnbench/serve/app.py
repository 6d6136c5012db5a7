"""``agnbench serve COMPARISON``: a local web app (Gradio) to browse a comparison and classify uploaded files.

:func:`build_app` lays out the functions of :mod:`agnbench.serve.explore` (objects, probabilities,
spectrum + IG, cutout + IG/Grad-CAM, SHAP waterfall, confident mistakes) and
:func:`agnbench.serve.classify.classify_file` (an uploaded FITS spectrum or FITS/JPEG cutout scored by
a trained run) in three tabs; :func:`serve` starts it on ``127.0.0.1`` by default.

The app stays on the machine: Gradio's analytics and version check are off
(``GRADIO_ANALYTICS_ENABLED=False`` is set before Gradio is imported, and ``analytics_enabled=False``),
no share link is made, server-side rendering (a Node process) is off, and the theme uses the
system's fonts, so the page requests nothing from outside the server it came from (no Google Fonts,
no CDN). ``tests/serve/test_app_browser.py`` checks this in a real browser.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from agnbench.cli.serve import DEFAULT_HOST, DEFAULT_PORT
from agnbench.errors import AgnbenchError
from agnbench.serve.classify import UPLOAD_SUFFIXES, classify_file
from agnbench.serve.explore import (Explorer, cutout_figure, mistakes, object_probabilities, object_table,
                                    open_explorer, plot_spectrum, shap_waterfall, spectrum_figure)

log = logging.getLogger(__name__)

__all__ = ["build_app", "serve", "DEFAULT_HOST", "DEFAULT_PORT"]

#: Environment Gradio reads at import: no telemetry or version check, no Hugging Face telemetry.
_OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_SHARE": "False"}
#: System font stacks: a theme naming no web font makes the page fetch no font.
_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
_MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")
#: Rounding of probabilities in the tables shown.
_DIGITS = 4


def _gradio():
    """Import Gradio with its network features off; a clear error when the app extra is not installed."""
    os.environ.update(_OFFLINE_ENV)
    try:
        import gradio as gr
    except ImportError:
        raise AgnbenchError("agnbench serve needs Gradio: pip install 'agnbench[app]'") from None
    return gr


def theme(gr):
    """A Gradio theme with system fonts only (Gradio's default theme loads fonts that are not on the machine)."""
    return gr.themes.Default(font=_FONTS, font_mono=_MONO)


def _message(exc: Exception) -> str:
    return f"**Error:** {exc}"


def _round(df):
    return df.round(_DIGITS)


def _object_view(ex: Explorer, object_id: str | None):
    """The outputs of the object tab for one object: message, probabilities, spectrum, cutout, waterfall."""
    if not object_id:
        return "Choose an object.", None, None, None, None
    try:
        probs = object_probabilities(ex, object_id)
        spec, cut, shap = spectrum_figure(ex, object_id), cutout_figure(ex, object_id), shap_waterfall(ex, object_id)
    except AgnbenchError as exc:
        return _message(exc), None, None, None, None
    missing = [what for what, fig in (("spectrum", spec), ("cutout", cut), ("SHAP waterfall", shap)) if fig is None]
    text = f"**{object_id}**: true class {probs['true'].iloc[0]}; " + "; ".join(
        f"{r.run}: p({ex.positive}) = {getattr(r, 'p_' + ex.positive):.3f} → {r.predicted}"
        for r in probs.itertuples())
    if missing:
        text += f"\n\nNot available for this object: {', '.join(missing)} (no store, no such input, or not explained)."
    return text, _round(probs), spec, cut, shap


def _mistakes_view(ex: Explorer, run: str | None, k: float | None):
    if not run:
        return "Choose a run.", None, None, None
    try:
        table, images, spectra = mistakes(ex, run, k=int(k or 8))
    except AgnbenchError as exc:
        return _message(exc), None, None, None
    text = (f"The {len(table)} most confident mistakes of **{run}** on the {ex.inputs.split} split "
            f"(p: its highest probability on a wrong class).")
    return text, _round(table), images, spectra


def _redshift(text: str | None) -> float | None:
    """The redshift typed in (blank: None, the file's own)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise AgnbenchError(f"redshift {text!r}: give a number, or leave it blank to use the file's own") from None


def _classify_view(ex: Explorer, upload, run: str | None, z: str | None):
    if upload is None:
        return "Upload a file first.", None, None
    if not run:
        return "Choose a run to classify with.", None, None
    path = Path(upload if isinstance(upload, str) else getattr(upload, "name", upload))
    try:
        result = classify_file(ex.run(run).path, path, z=_redshift(z), name=path.name)
    except AgnbenchError as exc:
        return _message(exc), None, None
    if result.track == "spectra":
        fig = plot_spectrum(result.wave, result.inputs, ivar=result.ivar, title=f"{result.file} on {run}'s grid",
                            frame=ex.spectra_frame)
    else:
        from agnbench.reports.fig_common import gallery_stretch, grz_rgb
        from agnbench.reports.style import new_figure

        fig, ax = new_figure(3.0, aspect=1.0)
        cut = result.inputs
        if cut.shape[0] == 3:
            ax.imshow(grz_rgb(cut, gallery_stretch(cut[None])), origin="lower", interpolation="nearest")
        ax.set_title(f"{result.file} as {run} sees it", fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    return f"**Result:** {result.sentence()}", _round(result.table()), fig


def build_app(ex: Explorer):
    """The Gradio app of an opened comparison (not launched).

    Parameters
    ----------
    ex : Explorer
        From :func:`~agnbench.serve.explore.open_explorer`.

    Returns
    -------
    gradio.Blocks
        Three tabs: objects, confident mistakes, classify a file. Element ids (``object-select``,
        ``object-summary``, ``probabilities``, ``upload``, ``upload-run``, ``classify``, ``classify-result``) are
        stable, for tests.
    """
    gr = _gradio()
    table = object_table(ex)
    ids = table["object_id"].tolist()
    upload_runs = [r.name for r in ex.runs() if r.track in UPLOAD_SUFFIXES]
    all_suffixes = sorted({s for track in UPLOAD_SUFFIXES.values() for s in track})
    with gr.Blocks(analytics_enabled=False, title=f"agnbench explorer: {ex.comparison.name}") as app:
        gr.Markdown(f"# agnbench explorer: `{ex.comparison.name}`\n{len(ex.runs())} runs "
                    f"({', '.join(r.name for r in ex.runs())}), {len(ids)} objects of the {ex.inputs.split} split; "
                    f"classes {', '.join(ex.classes)}. Probabilities are the runs' calibrated predictions "
                    "(predictions.parquet); attributions are those `agnbench explain` saved.")
        with gr.Tab("Objects"):
            with gr.Row():
                pick = gr.Dropdown(choices=ids, value=ids[0] if ids else None, label="object", elem_id="object-select",
                                   filterable=True, scale=1)
                summary = gr.Markdown(elem_id="object-summary")
            probs = gr.Dataframe(label="each run's probabilities", elem_id="probabilities", interactive=False)
            spec = gr.Plot(label="spectrum (and IG attribution)", format="png")
            with gr.Row():
                cut = gr.Plot(label="cutout, IG and Grad-CAM", format="png")
                shap = gr.Plot(label="SHAP waterfall (catalog)", format="png")
            with gr.Accordion("all objects", open=False):
                gr.Dataframe(value=_round(table), interactive=False, elem_id="object-table")
            pick.change(lambda oid: _object_view(ex, oid), inputs=pick, outputs=[summary, probs, spec, cut, shap])
            app.load(lambda oid: _object_view(ex, oid), inputs=pick, outputs=[summary, probs, spec, cut, shap])
        with gr.Tab("Confident mistakes"):
            with gr.Row():
                run = gr.Dropdown(choices=[r.name for r in ex.runs()], value=ex.runs()[0].name, label="run",
                                  elem_id="mistakes-run")
                k = gr.Number(value=8, precision=0, minimum=1, maximum=50, label="how many")
                show = gr.Button("show", elem_id="mistakes-show")
            m_text = gr.Markdown()
            m_table = gr.Dataframe(interactive=False, elem_id="mistakes-table")
            m_img = gr.Plot(label="their cutouts (one display stretch)", format="png")
            m_spec = gr.Plot(label="their spectra", format="png")
            show.click(lambda r, n: _mistakes_view(ex, r, n), inputs=[run, k], outputs=[m_text, m_table, m_img, m_spec])
        with gr.Tab("Classify a file"):
            gr.Markdown("Upload a spectrum (FITS: SDSS spec-lite, BOSS spec, or any 1-D layout `agnbench prep` reads) "
                        "for a spectra run, or a cutout (FITS or JPEG, as the run's store was made) for an images run. "
                        "It is read and processed with the settings of the store the run was trained on and scored "
                        "with the run's own calibration and decision rule, as `agnbench predict` does.")
            with gr.Row():
                upload = gr.File(label="spectrum or cutout", file_types=all_suffixes, type="filepath",
                                 elem_id="upload")
                with gr.Column():
                    c_run = gr.Dropdown(choices=upload_runs, value=upload_runs[0] if upload_runs else None,
                                        label="run", elem_id="upload-run")
                    z = gr.Textbox(value="", label="redshift", placeholder="blank: the file's own (SDSS/BOSS Z)",
                                   elem_id="upload-z")
                    go = gr.Button("classify", variant="primary", elem_id="classify")
            c_text = gr.Markdown(elem_id="classify-result")
            c_table = gr.Dataframe(interactive=False, elem_id="classify-table")
            c_plot = gr.Plot(label="what the run saw", format="png")
            go.click(lambda f, r, zz: _classify_view(ex, f, r, zz), inputs=[upload, c_run, z],
                     outputs=[c_text, c_table, c_plot])
    return app


def _check_port(host: str, port: int) -> None:
    """One clear line if ``host:port`` cannot be bound (taken, or not an address of this machine)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            taken = exc.errno in (98, 48, 10048)  # EADDRINUSE on Linux, macOS, Windows
            raise AgnbenchError(f"port {port} on {host} is already in use; choose another with --port" if taken else
                                f"cannot listen on {host}:{port} ({exc.strerror}); check --host") from None


def serve(comparison: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, data: str | Path | None = None,
          block: bool = True, quiet: bool = False):
    """Open a comparison and serve the explorer on ``http://host:port``.

    Parameters
    ----------
    comparison : path
        A comparison directory (docs/contracts.md, Contract 4).
    host : str
        Address to listen on; the default ``127.0.0.1`` keeps the app on this machine. ``0.0.0.0`` exposes it to
        the network (the app has no authentication: do that only on a trusted network).
    port : int
    data : path, optional
        The dataset store, if it moved since training.
    block : bool
        Serve until interrupted (the CLI); False returns at once with the server running in a thread.
    quiet : bool
        No start-up line (the address); Gradio's own lines are always off.

    Returns
    -------
    gradio.Blocks
        The running app (``app.close()`` stops it); returned after the server stops when ``block``.

    Raises
    ------
    AgnbenchError
        Not a comparison directory, Gradio not installed, the port taken.
    """
    _check_port(host, port)
    ex = open_explorer(comparison, data=data)
    app = build_app(ex)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's start-up self-check requests, one line each
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True,
               quiet=True, ssr_mode=False, footer_links=[], theme=theme(_gradio()), pwa=False, mcp_server=False,
               enable_monitoring=False, show_error=False)
    if not quiet:
        log.info("explorer of %s on http://%s:%d (Ctrl-C stops it)", ex.comparison, host, port)
    if block:
        try:
            app.block_thread()
        finally:
            app.close()
    return app
