"""Adaptive integrated-gradients steps: each object gets the coarsest quadrature that meets completeness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from agnbench.errors import AgnbenchError
from agnbench.interpretability.adaptive_steps import logit_gap, refine_steps
from agnbench.interpretability.gradients import integrated_gradients


def _net(seed: int, *, linear: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    if linear:
        return nn.Sequential(nn.Flatten(), nn.Linear(40, 2)).eval()
    return nn.Sequential(nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.Conv1d(16, 16, 5, padding=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(640, 2)).eval()


def _ig(net: nn.Module, x: torch.Tensor, target: torch.Tensor):
    base = torch.zeros_like(x)

    def attribute(rows: np.ndarray, steps: int):
        idx = torch.from_numpy(rows)
        return integrated_gradients(net, x[idx], base[idx], target[idx], steps=steps, check=False, fold_bn=False)

    return attribute


def test_a_linear_model_needs_only_the_first_pass() -> None:
    x = torch.randn(30, 1, 40, generator=torch.Generator().manual_seed(0))
    target = torch.zeros(30, dtype=torch.long)
    result, used = refine_steps(_ig(_net(0, linear=True), x, target), 30, min_steps=2, max_steps=64)
    assert (used == 2).all()  # IG of a linear function is exact with any quadrature
    assert np.abs(result.delta).max() < 1e-4


@pytest.mark.parametrize("seed", [1, 2])
def test_every_object_meets_completeness_or_used_the_most_steps(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(60, 1, 40, generator=gen)
    target = torch.randint(0, 2, (60,), generator=gen)
    attribute = _ig(_net(seed), x, target)
    rtol, atol = 0.05, 0.01
    result, used = refine_steps(attribute, 60, min_steps=2, max_steps=128, rtol=rtol, atol=atol)
    gap = logit_gap(result)
    passed = np.abs(result.delta) <= rtol * np.abs(gap) + atol
    assert (passed | (used == 128)).all()
    assert len(np.unique(used)) > 1  # a ReLU net: some objects converge at 2 steps, some need more
    # each object's attribution is exactly the fixed-step IG at the steps it used
    for steps in np.unique(used):
        rows = np.flatnonzero(used == steps)
        fixed = attribute(rows, int(steps))
        np.testing.assert_allclose(result.attr[rows], fixed.attr, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.delta[rows], fixed.delta, rtol=1e-5, atol=1e-6)
    # the gap f(x) - f(0) does not depend on the steps
    np.testing.assert_allclose(gap, logit_gap(attribute(np.arange(60), 128)), atol=1e-4)
    assert used.mean() < 128


def test_fixed_steps_when_min_equals_max_and_bad_steps_refused() -> None:
    x = torch.randn(10, 1, 40, generator=torch.Generator().manual_seed(3))
    target = torch.ones(10, dtype=torch.long)
    attribute = _ig(_net(3), x, target)
    result, used = refine_steps(attribute, 10, min_steps=16, max_steps=16)
    assert (used == 16).all()
    np.testing.assert_array_equal(result.attr, attribute(np.arange(10), 16).attr)
    with pytest.raises(AgnbenchError, match="min_steps <= max_steps"):
        refine_steps(attribute, 10, min_steps=32, max_steps=16)
