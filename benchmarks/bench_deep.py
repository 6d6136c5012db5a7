"""Benchmark the deep tracks on the CPU: training and evaluation throughput, the loader, quick-config runs.

(a) Throughput of the default models (configs/quick.yaml) on a synthetic memory-mapped store:
    spectra at L = 3,840 pixels (an SDSS-I/II spectrum's length; targets >= 200 spectra/s
    training) and images at 64 x 64 grz (target >= 150 cutouts/s training). Each is measured
    as the trainer runs it (store -> batch -> augmentation -> forward/backward/AdamW), with the
    loader alone (batches + augmentation, no model), and in evaluation (no gradients).
(b) The simple approaches a user would otherwise write, in the same run: a per-sample torch
    ``Dataset`` (one row and its augmentation per ``__getitem__``, default collation, 2 loader
    workers) feeding the same spectra model, and a plain ResNet-18 (ImageNet stem, full width) on
    160 px cutouts, the usual Legacy-Survey set-up (about 35 cutouts/s here).
(c) ``agnbench train spectra|images`` with the quick config on the 3,000-galaxy mock survey
    (built in a temporary directory): wall time, peak memory of the process tree, test accuracy
    and ROC-AUC against the majority baseline (target <= 3 minutes each).

``python -m benchmarks.bench_deep [--skip-quick]`` writes ``benchmarks/results/deep.json`` and prints tables.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks._measure import machine, run_measured, save, table

TARGETS = {"spectra": 200.0, "images": 150.0}
N_OBJECTS = 2048
STEPS = 12


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _synthetic_store(root: Path, *, length: int, size: int):
    """A Store over random memory-mapped arrays (same layout as agnbench prep writes)."""
    from agnbench.contracts.store import Store

    rng = np.random.default_rng(0)
    (root / "spectra").mkdir(parents=True)
    (root / "images").mkdir()
    np.save(root / "spectra" / "flux.npy", rng.normal(1, 0.2, (N_OBJECTS, length)).astype(np.float32))
    np.save(root / "spectra" / "ivar.npy", rng.uniform(50, 400, (N_OBJECTS, length)).astype(np.float32))
    np.save(root / "images" / "cutouts.npy", rng.normal(0, 1, (N_OBJECTS, 3, size, size)).astype(np.float16))
    split = np.where(np.arange(N_OBJECTS) % 5 == 0, "val", "train")
    label = (rng.random(N_OBJECTS) < 0.2).astype(np.int64)
    objects = pd.DataFrame({"object_id": [str(i) for i in range(N_OBJECTS)], "split": split, "label": label,
                            "label_name": np.where(label == 1, "agn", "sf"), "z": rng.uniform(0.02, 0.2, N_OBJECTS),
                            "spec_row": np.arange(N_OBJECTS), "image_row": np.arange(N_OBJECTS)})
    return Store(path=root, objects=objects, manifest={}, classes=("sf", "agn"))


def _rate(fn, n_items: int, steps: int = STEPS) -> float:
    fn()
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps * n_items / (time.perf_counter() - start)


def _trainer_rates(track: str, store) -> dict:
    from agnbench.config.core import load_config
    from agnbench.deep.data import EpochBatches, TrackData
    from agnbench.deep.networks import build_model
    from agnbench.deep.optim import classification_loss, make_optimizer

    cfg = getattr(load_config(), track)
    data = TrackData(track, store, cfg, 0)
    model = build_model(track, cfg, in_channels=data.n_channels, n_classes=2, seed=0)
    fmt = torch.channels_last if track == "images" and cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)  # as the trainer does (images.channels_last, CPU included)
    opt = make_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = EpochBatches(data, data.epoch_plan(0), epoch=0, augment_inputs=True)
    it = iter(range(10**9))

    def loader_only() -> None:
        batches[next(it) % len(batches)]

    def train_step() -> None:
        x, _, y = batches[next(it) % len(batches)]
        x = x.contiguous(memory_format=fmt) if x.ndim == 4 else x
        model.train()
        loss = classification_loss(model(x), y, weight=None, kind="ce", gamma=0, smoothing=0)
        opt.zero_grad()
        loss.backward()
        opt.step()

    x_eval, _ = data.inputs(data.indices("val")[: cfg.eval_batch_size])
    x_eval = x_eval.contiguous(memory_format=fmt) if x_eval.ndim == 4 else x_eval

    @torch.inference_mode()
    def eval_step() -> None:
        model.eval()
        model(x_eval)

    bs = cfg.batch_size
    return {"case": f"{track}: agnbench default ({data.input_shape})", "params": sum(p.numel() for p in model.parameters()),
            "train_per_s": round(_rate(train_step, bs), 1), "loader_per_s": round(_rate(loader_only, bs), 1),
            "eval_per_s": round(_rate(eval_step, x_eval.shape[0], 6), 1), "target_train_per_s": TARGETS[track],
            "peak_rss_mib": _peak_rss_mib()}


class _PerSampleSpectra(torch.utils.data.Dataset):
    """The simple loader: one spectrum per item, augmentation per sample in numpy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.flux = self.ivar = None
        self.labels = np.zeros(N_OBJECTS, dtype=np.int64)

    def __len__(self) -> int:
        return N_OBJECTS

    def __getitem__(self, i: int):
        if self.flux is None:
            self.flux = np.load(self.root / "spectra" / "flux.npy", mmap_mode="r")
            self.ivar = np.load(self.root / "spectra" / "ivar.npy", mmap_mode="r")
        f, iv = np.array(self.flux[i]), np.array(self.ivar[i])
        f = f + np.random.normal(size=f.size) / np.sqrt(iv)
        x = np.stack([f, np.sqrt(iv) / 15.0]).astype(np.float32)
        return torch.from_numpy(x), int(self.labels[i])


def _simple_rates(root: Path) -> list[dict]:
    from agnbench.config.core import load_config
    from agnbench.deep.networks import build_model
    from agnbench.deep.resnet2d import ResNet18

    rows = []
    model = build_model("spectra", load_config().spectra, in_channels=2, n_classes=2, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(_PerSampleSpectra(root), batch_size=64, shuffle=True, num_workers=2)
    batches = iter(loader)

    def step() -> None:
        x, y = next(batches)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    rows.append({"case": "spectra: per-sample Dataset + DataLoader(2 workers), same model",
                 "train_per_s": round(_rate(step, 64, 10), 1), "peak_rss_mib": _peak_rss_mib()})
    plain = ResNet18(in_channels=3, n_classes=2, width=1.0, stem="imagenet")
    opt = torch.optim.AdamW(plain.parameters(), lr=1e-3)
    x, y = torch.randn(32, 3, 160, 160), torch.randint(0, 2, (32,))

    def plain_step() -> None:
        loss = torch.nn.functional.cross_entropy(plain(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    rows.append({"case": "images: plain ResNet-18 (ImageNet stem, width 1) at 160 px", "params":
                 sum(p.numel() for p in plain.parameters()), "train_per_s": round(_rate(plain_step, 32, 4), 1),
                 "peak_rss_mib": _peak_rss_mib()})
    return rows


def _quick_runs(tmp: Path) -> list[dict]:
    cli = [sys.executable, "-m", "agnbench.cli.main"]
    run_measured([*cli, "simulate", "--n", "3000", "--seed", "0", "--out", str(tmp / "raw"), "-q"])
    run_measured([*cli, "prep", "--source", "mpajhu", "--raw", str(tmp / "raw"), "--out", str(tmp / "data"), "-q"])
    rows = []
    for track in ("spectra", "images"):
        m = run_measured([*cli, "train", track, "--data", str(tmp / "data"), "--runs-dir", str(tmp / "runs"),
                          "--name", track, "-q"])
        metrics = json.loads((tmp / "runs" / track / "metrics.json").read_text())
        test = metrics["test"]
        rows.append({"case": f"agnbench train {track} (quick config, 3,000-galaxy mock)", "wall_s": round(m["wall_s"], 1),
                     "peak_rss_mib": round(m["peak_rss_mib"], 1), "epochs": metrics["model"]["epochs_run"],
                     "test_accuracy": round(test["accuracy"], 4), "majority": round(test["majority_baseline_accuracy"], 4),
                     "test_roc_auc": round(test["roc_auc"], 4), "target_wall_s": 180})
    return rows


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        store = _synthetic_store(root, length=3840, size=64)
        ours = [_trainer_rates("spectra", store), _trainer_rates("images", store)]
        simple = _simple_rates(root)
        quick = [] if "--skip-quick" in argv else _quick_runs(Path(tmp))
    ours[0]["vs_simple_loader"] = round(ours[0]["train_per_s"] / simple[0]["train_per_s"], 2)
    ours[1]["vs_plain_resnet18_160px"] = round(ours[1]["train_per_s"] / simple[1]["train_per_s"], 2)
    payload = {"machine": machine(), "threads": torch.get_num_threads(), "throughput": ours + simple, "quick": quick}
    save("deep", payload)
    print(table(ours + simple, ["case", "params", "train_per_s", "loader_per_s", "eval_per_s", "target_train_per_s",
                                "vs_simple_loader", "vs_plain_resnet18_160px", "peak_rss_mib"]))
    if quick:
        print()
        print(table(quick, ["case", "wall_s", "target_wall_s", "peak_rss_mib", "epochs", "test_accuracy", "majority",
                            "test_roc_auc"]))
    return payload


if __name__ == "__main__":
    main()
