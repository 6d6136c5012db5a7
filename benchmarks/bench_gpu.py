"""Benchmark the deep tracks' paper configs on one CUDA GPU (skipped, with a message, without CUDA).

For each track of ``configs/paper.yaml`` (spectra: the 1D ResNet at width 32 on the store's rest-frame
grid, 2,953 pixels; images: the full-width ResNet-18 on 160 px grz cutouts, the Legacy Survey size of
Guo et al. 2022) and each precision (the config's ``auto`` = bf16 autocast where the GPU supports it,
and fp32), the benchmark trains for a fixed number of steps as the trainer does (channels_last for
images, AdamW, class-weighted cross-entropy, the paper batch size) on synthetic batches already in
GPU memory, then times inference (with the 8-view TTA for images, as ``images.tta`` predicts).
It reports training and inference samples/s, the peak GPU memory and the projected time of one
training epoch over 200,000 galaxies (and of the paper's 40 epochs).

The batches are synthetic and resident on the GPU, so these are the GPU's ceilings: a real run also
needs the loader to keep up (``benchmarks/bench_deep.py`` measures the loader's CPU rate per
process; ``workers`` processes feed each GPU) and, under torchrun, N GPUs give at most N times the rate.

``python -m benchmarks bench_gpu`` (or ``python -m benchmarks.bench_gpu [--steps 50] [--image-size 160]``)
writes ``benchmarks/results/gpu.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from benchmarks._measure import machine, save, table

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper.yaml"
N_GALAXIES = 200_000
WARMUP_STEPS = 5


def _skip_reason() -> str | None:
    if not torch.cuda.is_available():
        return f"no CUDA device (torch {torch.__version__} sees none): run it on a GPU machine"
    return None


def _inputs(track: str, cfg, *, image_size: int, batch: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """A synthetic input batch of the paper shape and the spectra grid length (0 for images)."""
    if track == "spectra":
        from agnbench.data_prep.ingest.spectra import rest_grid

        length = rest_grid(wave_min=cfg.prep.wave_min, wave_max=cfg.prep.wave_max, dloglam=cfg.prep.dloglam).size
        x = torch.randn(batch, 2 if cfg.spectra.use_ivar else 1, length, device=device)
        return x, length
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    return x.contiguous(memory_format=torch.channels_last) if cfg.images.channels_last else x, 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(track: str, precision: str, *, cfg, steps: int, image_size: int,
             device: torch.device = torch.device("cuda")) -> dict:
    from agnbench.deep.device import autocast, resolve_precision
    from agnbench.deep.networks import build_model
    from agnbench.deep.optim import classification_loss, make_optimizer
    from agnbench.deep.trainer import Runtime, view_averaged_proba

    tc = getattr(cfg, track)
    amp = resolve_precision(precision, device)
    bs = tc.batch_size
    x, length = _inputs(track, cfg, image_size=image_size, batch=bs, device=device)
    y = torch.randint(0, 2, (bs,), device=device)
    weights = torch.tensor([0.6, 2.5], device=device)
    model = build_model(track, tc, in_channels=x.shape[1], n_classes=2, seed=0).to(device)
    if x.ndim == 4 and tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, lr=tc.lr, weight_decay=tc.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)

    def train_step() -> None:
        with autocast(device, amp):
            logits = model(x)
        loss = classification_loss(logits, y, weight=weights, kind=tc.loss, gamma=tc.focal_gamma,
                                   smoothing=tc.label_smoothing)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    model.train()
    for _ in range(WARMUP_STEPS):
        train_step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    _sync(device)
    train_rate = steps * bs / (time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")

    rt = Runtime(device=device, amp_dtype=amp, channels_last=x.ndim == 4 and tc.channels_last, workers=0,
                 progress=False)
    xe = x.repeat(-(-tc.eval_batch_size // bs), *[1] * (x.ndim - 1))[: tc.eval_batch_size]  # the eval batch
    if rt.channels_last:
        xe = xe.contiguous(memory_format=torch.channels_last)
    model.eval()
    for _ in range(2):
        view_averaged_proba(model, xe, None, rt=rt, tta=tc.tta)
    _sync(device)
    start = time.perf_counter()
    n_eval = max(2, steps // 5)
    for _ in range(n_eval):
        view_averaged_proba(model, xe, None, rt=rt, tta=tc.tta)
    _sync(device)
    eval_rate = n_eval * xe.shape[0] / (time.perf_counter() - start)
    epoch_s = N_GALAXIES / train_rate
    shape = f"{x.shape[1]}x{length}" if track == "spectra" else f"{x.shape[1]}x{image_size}x{image_size}"
    dtype = str(amp).replace("torch.", "") if amp else "fp32"
    return {"track": track, "input": shape, "precision": f"{precision} ({dtype})",
            "batch": bs, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "train_per_s": round(train_rate, 1), "eval_per_s": round(eval_rate, 1), "tta_views": 8 if tc.tta and
            x.ndim == 4 else 1, "peak_gpu_gib": round(peak, 2), "epoch_200k_min": round(epoch_s / 60, 2),
            "run_200k_h": round(tc.epochs * epoch_s / 3600, 2), "epochs": tc.epochs}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per case (after 5 warm-up steps)")
    parser.add_argument("--image-size", type=int, default=160, help="cutout side in pixels (default 160)")
    parser.add_argument("--config", type=Path, default=PAPER, help="config with the spectra and images sections")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)  # `python -m benchmarks bench_gpu`
    reason = _skip_reason()
    if reason is not None:
        print(f"bench_gpu: skipped: {reason}")
        return {"skipped": reason}
    from agnbench.config.core import load_config

    cfg = load_config(args.config)
    torch.backends.cudnn.benchmark = True
    rows = [_measure(track, precision, cfg=cfg, steps=args.steps, image_size=args.image_size)
            for track in ("spectra", "images") for precision in ("auto", "fp32")]
    gpu = torch.cuda.get_device_properties(0)
    payload = {"machine": {**machine(), "gpu": gpu.name, "gpu_memory_gib": round(gpu.total_memory / 2**30, 1),
                           "torch": torch.__version__, "cuda": torch.version.cuda},
               "config": str(args.config), "steps": args.steps, "galaxies": N_GALAXIES, "rows": rows}
    save("gpu", payload)
    print(f"{gpu.name}, torch {torch.__version__}, CUDA {torch.version.cuda}; {args.config.name}, {args.steps} steps")
    print(table(rows, ["track", "input", "precision", "batch", "params_m", "train_per_s", "eval_per_s", "tta_views",
                       "peak_gpu_gib", "epoch_200k_min", "run_200k_h"]))
    return payload


if __name__ == "__main__":
    main()
