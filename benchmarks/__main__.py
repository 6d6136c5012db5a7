"""Run every benchmark: ``python -m benchmarks [NAME ...]`` (``make bench``)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("bench_simulate", "bench_spectra", "bench_images", "bench_prep", "bench_catalog", "bench_deep",
              "bench_delong", "bench_compare", "bench_interval_coverage", "bench_calibration_coverage",
              "bench_shap", "bench_attribution", "bench_fetch", "bench_run",
              "bench_seed_intervals", "bench_gpu", "bench_fusion_knob", "bench_report")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
