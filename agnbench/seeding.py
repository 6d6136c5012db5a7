"""One seed derives all others.

A run has a single integer seed. Every random stream it needs (a simulation chunk, a data
split, a bootstrap, a model initialisation, a DataLoader worker) is derived from that seed and
a tuple of keys naming the stream, via :class:`numpy.random.SeedSequence`. Derived values are
stable across processes, platforms and Python versions (string keys are hashed with SHA-256,
never with the salted built-in :func:`hash`), and streams do not depend on the order in which
they are requested. Only :func:`seed_everything` touches global RNG state.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np

__all__ = [
    "derive_seed",
    "make_worker_init_fn",
    "rng",
    "seed_everything",
    "seed_sequence",
    "torch_generator",
    "worker_seed",
    "WorkerInitFn",
]

_MAX_SEED = 2**63


def _key_to_int(key: str | int) -> int:
    """Map one key to a non-negative integer, stably across processes."""
    if isinstance(key, bool):
        raise TypeError(f"seed key must be str or int, got bool {key!r}")
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError(f"integer seed key must be >= 0, got {key}")
        return int(key)
    if isinstance(key, str):
        return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    raise TypeError(f"seed key must be str or int, got {type(key).__name__}")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)


def seed_sequence(seed: int, *keys: str | int) -> np.random.SeedSequence:
    """Return the :class:`numpy.random.SeedSequence` for ``seed`` and the stream ``keys``.

    Parameters
    ----------
    seed : int
        The run's root seed (>= 0).
    *keys : str or int
        Names of the stream, e.g. ``("simulate", "chunk", 3)``. Integer keys must be >= 0.
    """
    return np.random.SeedSequence(
        entropy=_check_seed(seed), spawn_key=tuple(_key_to_int(k) for k in keys)
    )


def derive_seed(seed: int, *keys: str | int) -> int:
    """Derive an integer seed in ``[0, 2**63)`` for the stream named by ``keys``.

    Parameters
    ----------
    seed : int
        The run's root seed (>= 0).
    *keys : str or int
        Names of the stream. Different keys give (with overwhelming probability) different seeds.

    Returns
    -------
    int
        A Python int, identical in every process for the same arguments.
    """
    state = seed_sequence(seed, *keys).generate_state(1, dtype=np.uint64)[0]
    return int(state) % _MAX_SEED


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """Return an independent PCG64 :class:`numpy.random.Generator` for the stream ``keys``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *keys)))


def torch_generator(seed: int, *keys: str | int) -> Any:
    """Return a ``torch.Generator`` (CPU) seeded with :func:`derive_seed` of the same arguments.

    torch is imported lazily, so this module does not depend on it.
    """
    import torch

    generator = torch.Generator()
    generator.manual_seed(derive_seed(seed, *keys) % _MAX_SEED)
    return generator


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's legacy global RNG and torch (if installed).

    Use only in training entry points: library functions take explicit seeds or generators.
    """
    seed = _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def worker_seed(seed: int, worker_id: int, *, base_seed: int | None = None) -> int:
    """Return the seed of DataLoader worker ``worker_id``, derived from ``seed``.

    Parameters
    ----------
    seed : int
        The run's root seed.
    worker_id : int
        Worker index (0-based).
    base_seed : int, optional
        Per-epoch entropy; inside a torch worker this is ``torch.initial_seed()``, which the
        DataLoader draws from its (seeded) generator every epoch, so that augmentations differ
        between epochs yet repeat exactly between runs.
    """
    keys: tuple[str | int, ...] = ("dataloader-worker", worker_id)
    return derive_seed(seed, *keys, *(() if base_seed is None else (base_seed,)))


class WorkerInitFn:
    """Picklable ``worker_init_fn`` for ``torch.utils.data.DataLoader``.

    Seeds Python ``random`` and numpy's legacy RNG inside each worker from
    :func:`worker_seed` with ``base_seed=torch.initial_seed()``. torch itself is already
    seeded per worker by the DataLoader (``base_seed + worker_id``, drawn from the loader's
    ``generator``, e.g. :func:`torch_generator`), so it is left as is: reseeding it with a
    fixed per-worker value would repeat the same augmentations every epoch.

    Parameters
    ----------
    seed : int
        The run's root seed.
    """

    def __init__(self, seed: int) -> None:
        self.seed = _check_seed(seed)

    def __call__(self, worker_id: int) -> None:
        try:
            import torch
        except ImportError:
            base_seed = None
        else:
            base_seed = int(torch.initial_seed())
        value = worker_seed(self.seed, worker_id, base_seed=base_seed)
        random.seed(value)
        np.random.seed(value % 2**32)

    def __repr__(self) -> str:
        return f"WorkerInitFn(seed={self.seed})"


def make_worker_init_fn(seed: int) -> WorkerInitFn:
    """Return a picklable callable to pass as ``DataLoader(worker_init_fn=...)``."""
    return WorkerInitFn(seed)
