"""Tests for agnbench.seeding: derived seeds are deterministic, key-specific and process-stable."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest

from agnbench.seeding import (
    derive_seed,
    make_worker_init_fn,
    rng,
    seed_everything,
    torch_generator,
    worker_seed,
)

#: derive_seed(0) computed once; SeedSequence output is stable across NumPy versions by policy.
PINNED_DERIVE_SEED_0 = 6569863346532939966
PINNED_DERIVE_SEED_3_SIMULATE_2 = 6099910212769214201

KEYS = [(), ("simulate",), ("simulate", 0), ("simulate", 1), ("split",),
        ("bootstrap", "catalog", 3)]


def test_derive_seed_deterministic_and_in_range():
    for keys in KEYS:
        value = derive_seed(42, *keys)
        assert isinstance(value, int)
        assert 0 <= value < 2**63
        assert derive_seed(42, *keys) == value


def test_derive_seed_differs_by_key_and_seed():
    values = {derive_seed(0, *keys) for keys in KEYS}
    assert len(values) == len(KEYS)
    assert derive_seed(0, "a") != derive_seed(1, "a")
    assert derive_seed(0, "a", "b") != derive_seed(0, "b", "a")
    assert derive_seed(0, 1) != derive_seed(0, "1")


def test_derive_seed_matches_documented_recipe():
    key = int.from_bytes(hashlib.sha256(b"simulate").digest()[:8], "little")
    ss = np.random.SeedSequence(entropy=7, spawn_key=(key, 3))
    expected = int(ss.generate_state(1, dtype=np.uint64)[0]) % 2**63
    assert derive_seed(7, "simulate", 3) == expected


def test_rng_streams_independent_of_call_order():
    a1 = rng(5, "chunk", 0).random(4)
    b1 = rng(5, "chunk", 1).random(4)
    b2 = rng(5, "chunk", 1).random(4)
    a2 = rng(5, "chunk", 0).random(4)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.allclose(a1, b1)
    assert isinstance(rng(5).bit_generator, np.random.PCG64)


def test_no_global_state_touched():
    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.random()
    random.seed(123)
    np.random.seed(123)
    derive_seed(1, "x")
    rng(1, "x").random(10)
    assert random.random() == expected_py
    assert np.random.random() == expected_np


def _fingerprint() -> list:
    draws = rng(3, "x").integers(0, 2**62, 3).tolist()
    return [derive_seed(3, "simulate", 2), derive_seed(0), draws]


def test_values_fixed_across_processes():
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from test_seeding import _fingerprint; print(json.dumps(_fingerprint()))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)],
                         capture_output=True, text=True, check=True, env=env, timeout=60)
    assert json.loads(out.stdout) == _fingerprint()
    # pinned values guard against silent changes of the derivation recipe
    assert derive_seed(0) == PINNED_DERIVE_SEED_0
    assert derive_seed(3, "simulate", 2) == PINNED_DERIVE_SEED_3_SIMULATE_2


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed_rejected(bad):
    with pytest.raises((TypeError, ValueError)):
        derive_seed(bad, "x")


def test_bad_key_rejected():
    with pytest.raises(TypeError):
        derive_seed(0, 1.5)
    with pytest.raises(ValueError):
        derive_seed(0, -3)


def test_worker_seed_differs_by_worker():
    seeds = {worker_seed(0, w) for w in range(8)}
    assert len(seeds) == 8
    assert worker_seed(0, 1) != worker_seed(1, 1)
    assert worker_seed(0, 1, base_seed=10) != worker_seed(0, 1, base_seed=11)
    assert worker_seed(0, 1, base_seed=10) == worker_seed(0, 1, base_seed=10)


def test_worker_init_fn_picklable_and_seeds_globals():
    fn = pickle.loads(pickle.dumps(make_worker_init_fn(9)))
    fn(2)
    first = (random.random(), np.random.random())
    fn(2)
    assert (random.random(), np.random.random()) == first
    fn(3)
    assert (random.random(), np.random.random()) != first


def test_seed_everything_reproducible():
    seed_everything(4)
    first = (random.random(), np.random.random())
    seed_everything(4)
    assert (random.random(), np.random.random()) == first


def test_torch_generator():
    torch = pytest.importorskip("torch")
    g1, g2 = torch_generator(1, "init"), torch_generator(1, "init")
    assert g1.initial_seed() == derive_seed(1, "init")
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    assert torch_generator(1, "other").initial_seed() != g1.initial_seed()


class _RandomDataset:
    """Items are numpy legacy-RNG draws, as an augmentation would make them."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> float:
        return float(np.random.random())


def _loader_draws(seed: int) -> list[list[float]]:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    loader = DataLoader(_RandomDataset(), batch_size=2, num_workers=2,
                        worker_init_fn=make_worker_init_fn(seed),
                        generator=torch_generator(seed, "dataloader"))
    return [torch.cat(list(loader)).tolist() for _ in range(2)]


def test_dataloader_workers_reproducible_and_vary_by_epoch():
    first = _loader_draws(3)
    assert _loader_draws(3) == first  # same seed -> same draws in every worker and epoch
    assert first[0] != first[1]  # a new epoch gives new augmentations
    assert _loader_draws(4) != first
