"""Benchmark gradient attribution of the deep tracks on the CPU (2 threads).

(a) Integrated gradients (32 Gauss-Legendre steps, target logit, completeness delta returned)
    of the default spectra model (configs: ResNet1d, 2 channels) for 1,000 synthetic spectra on
    the 3750-7400 A rest grid (L = 2,953 pixels; continuum + emission lines + noise) against
    their line-free continuum baseline -- target <= 60 s; and of the default images model
    (ResNet-18 layout, width 0.5) for 200 synthetic 64 x 64 grz cutouts against the sky
    (zeros) -- target <= 60 s. Grad-CAM of the same 200 cutouts and the occlusion probes
    (30 A windows every 15 A on 50 spectra; centre/outskirts on the 200 cutouts) alongside.
(b) The simple approach a user would otherwise write: a Python loop over objects calling
    captum's ``IntegratedGradients.attribute`` one object at a time with
    ``internal_batch_size=steps`` (model in eval mode, parameters left trainable), timed on a
    subset and scaled to the full set; reported as the ratio to (a). Also (a) without folding
    the batch norms into the convolutions (``fold_bn=False``), on a subset, scaled.
(c) Completeness at 32 steps. The seed-0 models have logits ~0 (zero-initialised residual
    branches, a 0.01-std head), so their deltas are trivially tiny; it is also measured on 50
    objects with a perturbed copy (random batch-norm statistics, N(0, 1) head).

Each case runs in its own Python process (synthetic data and model built there), so that its
peak resident memory (interpreter, torch and data included; ``setup`` rows give that floor)
is measured alone; wall and process-CPU seconds are timed inside around the work. The load
average is recorded: on a shared machine the wall time depends on what else runs.

``python -m benchmarks.bench_attribution`` writes ``benchmarks/results/attribution.json`` and prints tables.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._measure import machine, run_measured, save, table

STEPS = 32
N = {"spectra": 1000, "images": 200}
N_OCCLUDE_SPECTRA = 50
N_COMPLETENESS = 50
SUBSET = {"spectra": 40, "images": 10}  # objects timed for the scaled cases
SIZE = 64
TARGET_S = 60.0


def _spectra(n: int, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, L) normalised flux (continuum ~1, the BPT emission lines, noise) and a weight channel."""
    from agnbench.data_prep.lines import line_centres

    flux = 1 + rng.uniform(-0.3, 0.3, (n, 1)) * (wave - 5500) / 3650 + rng.normal(0, 0.05, (n, wave.size))
    for centre in line_centres("bpt"):
        flux += rng.lognormal(-0.5, 0.8, (n, 1)) * np.exp(-0.5 * ((wave - centre) / 2.5) ** 2)
    weight = np.broadcast_to(rng.uniform(0.5, 1.5, (n, 1)), (n, wave.size))
    return np.stack([flux, weight], axis=1).astype(np.float32)


def _cutouts(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, SIZE, SIZE) exponential discs with a point-like nucleus on a noisy sky of 0."""
    r = np.hypot(*(np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2))[None, None]
    disc = rng.uniform(0.3, 1.5, (n, 3, 1, 1)) * np.exp(-r / rng.uniform(2, 8, (n, 1, 1, 1)))
    nucleus = rng.uniform(0, 1, (n, 3, 1, 1)) * np.exp(-0.5 * (r / 1.2) ** 2)
    return (disc + nucleus + rng.normal(0, 0.02, (n, 3, SIZE, SIZE))).astype(np.float32)


def _setup(track: str) -> dict:
    """Inputs, baseline, model and predicted targets of one track (deterministic)."""
    from agnbench.config.core import load_config
    from agnbench.data_prep.ingest.spectra import rest_grid
    from agnbench.deep.networks import build_model
    from agnbench.interpretability.ig_baselines import continuum_baseline, zero_baseline
    from agnbench.interpretability.gradients import predicted_or_true

    rng = np.random.default_rng(0)
    cfg = load_config()
    if track == "spectra":
        wave = 10 ** rest_grid(wave_min=3750.0, wave_max=7400.0)
        x = _spectra(N[track], wave, rng)
        base, model = continuum_baseline(x, wave), build_model("spectra", cfg.spectra, in_channels=2, n_classes=2, seed=0)
    else:
        wave = None
        x = _cutouts(N[track], rng)
        base, model = zero_baseline(x), build_model("images", cfg.images, in_channels=3, n_classes=2, seed=0)
    model.eval()
    return {"x": x, "base": base, "wave": wave, "model": model, "target": predicted_or_true(model, x, None)}


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A copy with random batch-norm statistics/affines and an N(0, 1) head: logits of order 1, like a trained net."""
    g = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
    return model.eval()


def _deltas(res) -> dict:
    from agnbench.interpretability.gradients import DELTA_ATOL

    gap = res.attr.reshape(len(res.delta), -1).sum(1) - res.delta
    return {"median_abs_gap": float(f"{np.median(np.abs(gap)):.3g}"),
            "max_abs_delta": float(f"{np.abs(res.delta).max():.3g}"),
            "median_rel_delta": float(f"{np.median(np.abs(res.delta) / np.maximum(np.abs(gap), DELTA_ATOL)):.3g}"),
            "frac_over_tol": round(float(np.mean(np.abs(res.delta) > 0.05 * np.abs(gap) + DELTA_ATOL)), 3)}


def _simple_ig(model: torch.nn.Module, x: np.ndarray, base: np.ndarray, target: np.ndarray) -> None:
    """The per-object loop: one captum call per object, ``internal_batch_size=steps``."""
    from captum.attr import IntegratedGradients

    model.eval()
    ig = IntegratedGradients(model)
    for i in range(x.shape[0]):
        ig.attribute(torch.as_tensor(x[i:i + 1]), baselines=torch.as_tensor(base[i:i + 1]), target=int(target[i]),
                     n_steps=STEPS, internal_batch_size=STEPS, return_convergence_delta=True)


def _completeness(model: torch.nn.Module, x: np.ndarray, base: np.ndarray):
    from agnbench.interpretability.gradients import integrated_gradients, predicted_or_true

    net = _perturbed(model, 1)
    return integrated_gradients(net, x, base, predicted_or_true(net, x, None), steps=STEPS, check=False)


def run_case(name: str) -> dict:
    """One case, in this process: ``{"n", "wall_s", "cpu_s", "scaled_from"?, deltas?}``."""
    from agnbench.interpretability.gradients import grad_cam, integrated_gradients
    from agnbench.interpretability.occlusion import occlude_centre_outskirts, occlude_windows

    torch.set_num_threads(2)
    kind, track = name.rsplit("_", 1)
    s = _setup(track)
    x, base, model, target = s["x"], s["base"], s["model"], s["target"]
    n, m = len(x), SUBSET[track]
    work = {
        "setup": lambda: None,
        "ig": lambda: integrated_gradients(model, x, base, target, steps=STEPS, check=False),
        "unfolded": lambda: integrated_gradients(model, x[:m], base[:m], target[:m], steps=STEPS, check=False,
                                                 fold_bn=False),
        "simple": lambda: _simple_ig(model, x[:m], base[:m], target[:m].numpy()),
        "gradcam": lambda: grad_cam(model, x, target),
        "occlusion": (lambda: occlude_windows(model, x[:N_OCCLUDE_SPECTRA], target[:N_OCCLUDE_SPECTRA], s["wave"]))
        if track == "spectra" else (lambda: occlude_centre_outskirts(model, x, target, radius_pix=4.0)),
        "completeness": lambda: _completeness(model, x[:N_COMPLETENESS], base[:N_COMPLETENESS]),
    }[kind]
    start, cpu = time.perf_counter(), time.process_time()
    res = work()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out: dict = {"n": n, "wall_s": wall, "cpu_s": cpu}
    if kind in ("unfolded", "simple"):
        out.update(n=n, wall_s=wall * n / m, cpu_s=cpu * n / m, scaled_from=m)
    elif kind == "occlusion" and track == "spectra":
        out.update(n=N_OCCLUDE_SPECTRA, windows=int(res[1].size))
    elif kind == "completeness":
        out.update(n=N_COMPLETENESS, **_deltas(res))
    if kind == "ig":
        out.update(_deltas(res))
    return out


CASES = {
    "setup_spectra": "setup only: imports, 1,000 spectra, continuum baseline, model",
    "ig_spectra": f"IG spectra ({STEPS} steps, continuum baseline, L=2953)",
    "unfolded_spectra": "  same, fold_bn=False",
    "simple_spectra": "  simple: per-object captum loop",
    "occlusion_spectra": "occlusion spectra (30 A windows every 15 A)",
    "setup_images": "setup only: imports, 200 cutouts, model",
    "ig_images": f"IG cutouts ({STEPS} steps, zero baseline, {SIZE}x{SIZE} grz)",
    "unfolded_images": "  same, fold_bn=False",
    "simple_images": "  simple: per-object captum loop",
    "gradcam_images": "Grad-CAM cutouts (stages[-1], bilinear to 64x64)",
    "occlusion_images": "occlusion cutouts (centre r<4 px / outskirts)",
    "completeness_spectra": f"IG {STEPS} steps, perturbed spectra model, continuum baseline",
    "completeness_images": f"IG {STEPS} steps, perturbed images model, zero baseline",
}


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.case:
        Path(args.out).write_text(json.dumps(run_case(args.case)))
        return {}
    load_start = os.getloadavg()[0]
    by: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, label in CASES.items():
            out = Path(tmp) / f"{name}.json"
            proc = run_measured([sys.executable, "-m", "benchmarks.bench_attribution", "--case", name, "--out", str(out)])
            res = json.loads(out.read_text())
            row = {"case": label, **{k: round(v, 2) if isinstance(v, float) and k.endswith("_s") else v
                                     for k, v in res.items()}, "peak_rss_mib": round(proc["peak_rss_mib"], 1)}
            by[name] = row
    for track in ("spectra", "images"):
        ours = by[f"ig_{track}"]
        ours.update(per_s=round(ours["n"] / ours["wall_s"], 1), target_s=TARGET_S,
                    vs_simple_loop=round(by[f"simple_{track}"]["wall_s"] / ours["wall_s"], 2),
                    vs_unfolded_bn=round(by[f"unfolded_{track}"]["wall_s"] / ours["wall_s"], 2))
    rows = [row for name, row in by.items() if not name.startswith("completeness")]
    checks = [row for name, row in by.items() if name.startswith("completeness")]
    payload = {"machine": machine(), "threads": 2, "steps": STEPS,
               "load_average_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
               "rows": rows, "completeness_perturbed": checks}
    save("attribution", payload)
    print(table(rows, ["case", "n", "wall_s", "cpu_s", "target_s", "per_s", "scaled_from", "vs_simple_loop",
                       "vs_unfolded_bn", "peak_rss_mib", "max_abs_delta", "frac_over_tol"]))
    print()
    print(table(checks, ["case", "n", "median_abs_gap", "max_abs_delta", "median_rel_delta", "frac_over_tol"]))
    print(f"load average {payload['load_average_start_end']} (start, end) on {machine()['cpus']} cpus")
    return payload


if __name__ == "__main__":
    main()
