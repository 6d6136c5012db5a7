"""Does the images track add information beyond the catalog only when the mock plants it? (issue 20)

The mock's nuclear point source (``simulate.point_source_fraction`` of the Seyferts, flux
``simulate.point_source_strength`` x 4-30% of the galaxy's r flux) is the image information about AGN beyond the
catalog. For each seed, two surveys (point sources planted / none) go through simulate -> prep -> catalog track
(xgboost) + images track -> ``agnbench train fusion`` -> ``agnbench compare`` (paired bootstrap, 1,000 replicates),
and the ``incremental.csv`` row "catalog + images vs catalog alone" (ROC AUC, test split) is recorded.
The pipeline is ``tests/fusion/test_fusion_knob.py``'s :func:`catalog_plus_images_vs_catalog`; two configurations:

- ``test`` (the test's, seed 3 there): 1,000 galaxies, 32 px; 30% Seyferts, 3% LINERs, 3% composites; point sources
  in half the Seyferts at ``point_source_strength: 2``; val 20%, test 30% (~280 test objects); images 12 epochs
  (patience 4), width 0.5, no test-time augmentation.
- ``large`` (the test fixtures' mock, seed 3): 2,000 galaxies, 48 px, default class mix and splits (247 test
  objects), default point sources (half the Seyferts, strength 1); images 10 epochs, patience 4 (``TRAINED``).

Measured (2-core CPU shared with other jobs, ``AGNBENCH_MAX_THREADS=1``, December 2026; ROC AUC test split,
fusion - catalog with its 95% paired-bootstrap percentile interval; cpu = process CPU seconds of one
setting, the first of a process with the imports):

``test`` configuration, simulator seeds 3-9 (the test asserts on seed 3)::

    seed  nuclei   catalog  images  catalog+images  delta [95% interval]         test objects  cpu s
    3     planted  0.893    0.937   0.929           +0.0355 [+0.0205, +0.0520]   280           72
    3     none     0.923    0.904   0.926           +0.0034 [-0.0052, +0.0122]   275           61
    4     planted  0.869    0.914   0.913           +0.0436 [+0.0214, +0.0705]   275           61
    4     none     0.956    0.939   0.958           +0.0016 [-0.0047, +0.0078]   279           67
    5     planted  0.918    0.957   0.956           +0.0378 [+0.0225, +0.0573]   274           65
    5     none     0.957    0.957   0.965           +0.0084 [-0.0018, +0.0186]   276           56
    6     planted  0.925    0.962   0.964           +0.0381 [+0.0163, +0.0620]   279           67
    6     none     0.935    0.900   0.932           -0.0029 [-0.0091, +0.0030]   281           45
    7     planted  0.879    0.918   0.920           +0.0415 [+0.0151, +0.0698]   275           66
    7     none     0.954    0.935   0.954           +0.0008 [-0.0016, +0.0029]   281           64
    8     planted  0.892    0.919   0.919           +0.0266 [+0.0097, +0.0448]   275           70
    8     none     0.935    0.913   0.936           +0.0007 [-0.0005, +0.0023]   280           46
    9     planted  0.925    0.955   0.957           +0.0319 [+0.0118, +0.0545]   276           71
    9     none     0.926    0.888   0.920           -0.0055 [-0.0154, +0.0033]   275           55

Over these 7 seeds the planted interval's lower bound is between +0.0097 and +0.0225, and every interval without
point sources includes 0 (deltas -0.0055 to +0.0084). The test itself (both settings, one pytest process) took
148 CPU seconds (129 s user, 18 s system; 7 minutes wall on the shared machine).

``large`` configuration, seed 3, measured with the previous version of this benchmark (same pipeline and
settings, one run each, about 10 CPU minutes in all; not re-run for this table):

- planted (fraction 0.5, strength 1): catalog 0.886, images 0.923 (the test fixtures' images run), catalog +
  images 0.921, delta +0.035 [+0.005, +0.067], 247 test objects
- none: catalog 0.962, catalog + images 0.962, delta +0.0001 [-0.0012, +0.0017], 247 test objects

``AGNBENCH_MAX_THREADS=1 python -m benchmarks.bench_fusion_knob [--config test|large|both] [--seeds 3 4 ...]
[--planted on|off|both]`` repeats it (default: both configurations, seeds 3-9 for ``test``, the first seed for
``large``; about 15 + 10 CPU minutes) and writes ``benchmarks/results/fusion_knob.json`` (one row per run, appended
as they finish).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks._measure import RESULTS, machine
from tests.fusion.test_fusion_knob import catalog_plus_images_vs_catalog

#: name -> keyword arguments of catalog_plus_images_vs_catalog (beyond seed and planted)
CONFIGS = {
    "test": {},
    "large": {"n": 2000, "image_size": 48, "population": (), "point_sources": ("simulate.point_source_fraction=0.5",),
              "splits": (), "images": ("images.epochs=10", "images.patience=4")},
}
KEEP = ("catalog_auc", "images_auc", "fusion_auc", "delta", "lo", "hi", "n_test", "n_point_sources", "text")


def measure(config: str, *, seed: int, planted: bool) -> dict:
    """One setting: the incremental row with the wall and process CPU seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        row = catalog_plus_images_vs_catalog(Path(tmp), seed=seed, planted=planted, **CONFIGS[config])
    out = {"config": config, "seed": seed, "planted": planted, **{k: row[k] for k in KEEP},
           "excludes_zero": bool(row["lo"] > 0 or row["hi"] < 0),
           "wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1)}
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_fusion_knob")
    parser.add_argument("--config", choices=[*CONFIGS, "both"], default="both")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8, 9])
    parser.add_argument("--planted", choices=["on", "off", "both"], default="both")
    parser.add_argument("--out", type=Path, default=RESULTS / "fusion_knob.json")
    args = parser.parse_args([] if argv is None else argv)
    configs = list(CONFIGS) if args.config == "both" else [args.config]
    planted = {"on": [True], "off": [False], "both": [True, False]}[args.planted]
    rows = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    for config in configs:
        for seed in (args.seeds if config == "test" else args.seeds[:1]):
            for on in planted:
                rows.append(measure(config, seed=seed, planted=on))
                print(json.dumps(rows[-1]), flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
