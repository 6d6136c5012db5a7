"""Gradient attributions of the deep tracks: integrated gradients, saliency and Grad-CAM (captum).

Every attribution explains ONE logit per object -- the class given in ``target`` (the
predicted or the true class, see :func:`predicted_or_true`), never a sum over logits, which
would mix the evidence for AGN with the evidence against it. Logits rather than
probabilities are attributed because integrated gradients is exactly complete on the
quantity it differentiates, and the logit is additive in the evidence (the softmax saturates).

Integrated gradients checks itself: the completeness error ``delta = sum(attr) - (f(x) -
f(baseline))`` of the target logit is returned for every object, and with ``check=True`` an
:class:`~agnbench.errors.AgnbenchError` names the worst object when the Riemann/Gauss-Legendre
approximation of the path integral is too coarse. The tolerance is relative to the logit
difference being explained (``rtol``, default 5 %) plus an absolute floor of 1e-3 logits,
so objects whose logit barely changes along the path do not trip it. For ReLU networks the
integrand is piecewise constant along the path (a jump at every crossed kink), so no
quadrature converges fast: the error falls roughly as 1/steps, and deep networks on rough
inputs can need 64-256 steps for 5 %. More steps is always the fix.

All functions run the model in eval mode with frozen parameters (restored afterwards),
process the objects in chunks (no per-object Python loop) and return numpy arrays. In eval
mode a batch norm is a fixed affine map, so by default (``fold_bn=True``) it is folded into
the convolution before it (:func:`fold_batchnorm`, on a copy checked to give the same logits):
the same function, about a third fewer operations per forward/backward pass.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency
from torch import nn

from agnbench.errors import AgnbenchError
from agnbench.config.choices import EXPLAIN_TARGETS as TARGET_MODES

log = logging.getLogger(__name__)

#: absolute floor (logits) of the completeness tolerance of :func:`integrated_gradients`
DELTA_ATOL = 1e-3


@dataclass(frozen=True)
class Attribution:
    """Per-object attributions of one target logit.

    Attributes
    ----------
    attr : np.ndarray
        Same shape as the inputs, e.g. (n, C, L) for spectra or (n, bands, H, W) for cutouts;
        units of logit (integrated gradients) or logit per input unit (saliency).
    delta : np.ndarray
        (n,) completeness error ``sum(attr) - (f(x) - f(baseline))`` of the target logit; NaN
        for methods without a completeness property (saliency).
    target : np.ndarray
        (n,) class index whose logit was attributed.
    method : str
        ``"integrated_gradients"``, ``"expected_gradients"`` or ``"saliency"``.
    baseline : str
        Name of the baseline (``"none"`` for saliency).
    max_relative_delta : float
        max over objects of ``|delta| / max(|f(x) - f(baseline)|, DELTA_ATOL)``; NaN without deltas.
    """

    attr: np.ndarray
    delta: np.ndarray
    target: np.ndarray
    method: str
    baseline: str
    max_relative_delta: float


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode (the deployed classifier) with frozen parameters; both restored on exit."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each batch norm that follows a convolution folded into it.

    A ``BatchNorm`` registered right after a ``Conv1d``/``Conv2d`` of matching channels in the
    same parent (``conv1``/``bn1``, ``Sequential(conv, bn, ...)``) becomes ``nn.Identity`` and the
    convolution gets weight ``w * g / sqrt(var + eps)`` and bias ``(b - mean) * g / sqrt(var + eps) + beta``.
    Registration order is not data flow in general: :func:`_attribution_model` checks the logits.
    """
    folded = copy.deepcopy(model).eval()
    for parent in folded.modules():
        kids = list(parent.named_children())
        for (_, conv), (bn_name, bn) in zip(kids, kids[1:]):
            if not (isinstance(conv, (nn.Conv1d, nn.Conv2d)) and isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d))
                    and bn.track_running_stats and bn.num_features == conv.out_channels):
                continue
            with torch.no_grad():
                gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
                beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
                scale = gamma / torch.sqrt(bn.running_var + bn.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                conv.weight.mul_(scale.reshape(-1, *([1] * (conv.weight.ndim - 1))))
                conv.bias = nn.Parameter((bias - bn.running_mean) * scale + beta)
            setattr(parent, bn_name, nn.Identity())
    return folded


@contextmanager
def _attribution_model(model: nn.Module, probe: torch.Tensor, probe_scalars: torch.Tensor | None,
                       fold_bn: bool) -> Iterator[nn.Module]:
    """``model`` frozen in eval mode, or its batch-norm-folded copy when that gives the same logits on ``probe``."""
    with frozen_eval(model):
        if not fold_bn or not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules()):
            yield model
            return
        folded = fold_batchnorm(model)
        for p in folded.parameters():
            p.requires_grad_(False)
        args = () if probe_scalars is None else (probe_scalars,)
        with torch.inference_mode():
            ref, got = model(probe, *args), folded(probe, *args)
        if torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * (1 + float(ref.abs().max()))):
            yield folded
        else:
            log.warning("folding batch norms changed the logits (max diff %.3g); attributing the model as it is",
                        float((got - ref).abs().max()))
            yield model


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def as_float_tensor(x: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device`` (no copy when it already is one)."""
    return torch.as_tensor(x, dtype=torch.float32, device=device)


def check_target(target: torch.Tensor | np.ndarray, n: int, device: torch.device) -> torch.Tensor:
    """``target`` as a (n,) int64 tensor, or raise :class:`AgnbenchError`."""
    t = torch.as_tensor(target, device=device)
    if t.ndim != 1 or t.shape[0] != n:
        raise AgnbenchError(f"target must hold one class index per object, shape ({n},); got {tuple(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise AgnbenchError(f"target must be integer class indices, got dtype {t.dtype}")
    if n and int(t.min()) < 0:
        raise AgnbenchError(f"target holds a negative class index ({int(t.min())})")
    return t.long()


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    if size < 1:
        raise AgnbenchError(f"batch_size must be >= 1, got {size}")
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _baseline_chunk(baseline: torch.Tensor, x: torch.Tensor, sl: slice) -> torch.Tensor:
    """The rows of ``baseline`` for chunk ``sl`` of ``x`` (a single-row baseline is broadcast)."""
    if baseline.ndim != x.ndim or baseline.shape[1:] != x.shape[1:] or baseline.shape[0] not in (1, x.shape[0]):
        raise AgnbenchError(f"baseline shape {tuple(baseline.shape)} does not match inputs {tuple(x.shape)} "
                            f"(give one baseline per object, or a single one with leading dimension 1)")
    return baseline if baseline.shape[0] == 1 else baseline[sl]


def check_completeness(delta: np.ndarray, gap: np.ndarray, *, rtol: float, steps: int | None = None) -> None:
    """Raise :class:`AgnbenchError` naming the worst object if any ``|delta| > rtol * |gap| + DELTA_ATOL``.

    ``delta`` (n,) are completeness errors ``sum(attr) - gap`` and ``gap`` (n,) the target-logit
    differences ``f(x) - f(baseline)`` (logits); ``steps`` is quoted in the message.
    """
    bad = np.abs(delta) > rtol * np.abs(gap) + DELTA_ATOL
    if not bad.any():
        return
    excess = np.where(bad, np.abs(delta) - rtol * np.abs(gap), -np.inf)
    worst = int(np.argmax(excess))
    used = f" (now {steps})" if steps is not None else ""
    raise AgnbenchError(
        f"integrated gradients did not converge for {int(bad.sum())} of {delta.size} objects: worst is object "
        f"{worst}, completeness delta {delta[worst]:.4g} logits against f(x) - f(baseline) = {gap[worst]:.4g} "
        f"(tolerance {rtol:g} x |f(x) - f(baseline)| + {DELTA_ATOL:g}); increase steps{used}, "
        f"or pass check=False to keep the attributions and inspect Attribution.delta")


def integrated_gradients(model: nn.Module, x: torch.Tensor | np.ndarray, baseline: torch.Tensor | np.ndarray,
                         target: torch.Tensor | np.ndarray, *, steps: int = 32, batch_size: int = 64,
                         internal_batch_size: int = 64, scalars: torch.Tensor | np.ndarray | None = None,
                         method: str = "gausslegendre", check: bool = True, rtol: float = 0.05,
                         baseline_name: str = "custom", fold_bn: bool = True) -> Attribution:
    """Integrated gradients of the ``target`` logit of every object, with completeness check.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits (B, K); called as ``model(x)`` or ``model(x, scalars)``.
    x : torch.Tensor or np.ndarray
        (n, C, L) spectra or (n, bands, H, W) cutouts.
    baseline : torch.Tensor or np.ndarray
        Same shape as ``x``, or with leading dimension 1 (one baseline for all objects); see
        :mod:`agnbench.interpretability.ig_baselines`.
    target : torch.Tensor or np.ndarray
        (n,) int class index per object.
    steps : int
        Points of the path integral.
    batch_size : int
        Objects per captum call.
    internal_batch_size : int
        Interpolated inputs per forward/backward pass (at least the chunk's object count). On
        CPU 32-64 is fastest: larger passes fall out of cache (256 runs 25-50 % slower).
    scalars : torch.Tensor or np.ndarray, optional
        (n, S) extra scalar inputs (e.g. redshift), held fixed along the path.
    method : str
        captum's quadrature (``gausslegendre``, ``riemann_trapezoid``, ...).
    check : bool
        Raise :class:`AgnbenchError` if any ``|delta| > rtol * |f(x) - f(baseline)| + 1e-3``.
    rtol : float
        Relative completeness tolerance.
    baseline_name : str
        Recorded in :attr:`Attribution.baseline`.
    fold_bn : bool
        Attribute the batch-norm-folded copy (same function, faster); see :func:`fold_batchnorm`.

    Returns
    -------
    Attribution
        ``attr`` in logits, same shape as ``x``; ``delta`` (n,) in logits.
    """
    device = _device(model)
    xt = as_float_tensor(x, device)
    bt = as_float_tensor(baseline, device)
    n = xt.shape[0]
    tt = check_target(target, n, device)
    st = None if scalars is None else as_float_tensor(scalars, device)
    if steps < 1:
        raise AgnbenchError(f"steps must be >= 1, got {steps}")
    attr = np.empty(tuple(xt.shape), dtype=np.float32)
    delta = np.empty(n, dtype=np.float64)
    with _attribution_model(model, xt[:8], None if st is None else st[:8], fold_bn) as net:
        ig = IntegratedGradients(net)
        for sl in chunks(n, batch_size):
            xc = xt[sl]
            a, d = ig.attribute(xc, baselines=_baseline_chunk(bt, xt, sl), target=tt[sl],
                                additional_forward_args=None if st is None else (st[sl],), n_steps=steps,
                                method=method, internal_batch_size=max(internal_batch_size, xc.shape[0]),
                                return_convergence_delta=True)
            attr[sl] = a.detach().cpu().numpy()
            delta[sl] = d.detach().cpu().double().numpy()
    gap = attr.reshape(n, -1).sum(axis=1, dtype=np.float64) - delta
    max_rel = float((np.abs(delta) / np.maximum(np.abs(gap), DELTA_ATOL)).max()) if n else 0.0
    log.info("integrated gradients: %d objects, %d steps, max |delta| %.3g logits, max relative delta %.3g",
             n, steps, float(np.abs(delta).max()) if n else 0.0, max_rel)
    if check:
        check_completeness(delta, gap, rtol=rtol, steps=steps)
    return Attribution(attr=attr, delta=delta, target=tt.cpu().numpy(), method="integrated_gradients",
                       baseline=baseline_name, max_relative_delta=max_rel)


def expected_gradients(model: nn.Module, x: torch.Tensor | np.ndarray, references: torch.Tensor | np.ndarray,
                       target: torch.Tensor | np.ndarray, *, steps: int = 32, batch_size: int = 64,
                       internal_batch_size: int = 64, scalars: torch.Tensor | np.ndarray | None = None,
                       method: str = "gausslegendre", check: bool = True, rtol: float = 0.05,
                       baseline_name: str = "expected_gradients", fold_bn: bool = True) -> Attribution:
    """Expected gradients (Erion et al. 2021): integrated gradients averaged over a set of reference inputs.

    Each object is explained against every reference ``r_k`` with :func:`integrated_gradients` and the
    attributions are averaged, i.e. the expectation over references of Erion et al. with the path
    integral done by quadrature instead of one random point per sample. No region of the input is
    singled out by the baseline: the attribution of a pixel is zero only where the object equals
    every reference. Completeness holds for the average: ``sum(attr) = f(x) - mean_k f(r_k)``, and
    is checked on it (``delta`` is the mean of the per-reference errors).

    Parameters
    ----------
    model, x, target, steps, batch_size, internal_batch_size, scalars, method, check, rtol, fold_bn
        As for :func:`integrated_gradients` (``scalars`` stay the object's own along every path).
    references : torch.Tensor or np.ndarray
        (K, ...) reference inputs shaped like one object (e.g. K training spectra of every class).
    baseline_name : str
        Recorded in :attr:`Attribution.baseline`.

    Returns
    -------
    Attribution
        ``attr`` in logits, same shape as ``x``; ``delta`` (n,) in logits, against ``f(x) - mean_k f(r_k)``.
    """
    refs = torch.as_tensor(references, dtype=torch.float32)
    n_refs = refs.shape[0] if refs.ndim else 0
    if n_refs == 0:
        raise AgnbenchError("expected_gradients needs at least one reference input")
    attr, delta = None, None
    for k in range(n_refs):
        one = integrated_gradients(model, x, refs[k : k + 1], target, steps=steps, batch_size=batch_size,
                                   internal_batch_size=internal_batch_size, scalars=scalars, method=method,
                                   check=False, baseline_name=baseline_name, fold_bn=fold_bn)
        attr = one.attr.astype(np.float64) if attr is None else attr + one.attr
        delta = one.delta.copy() if delta is None else delta + one.delta
        target = one.target
    attr, delta = (attr / n_refs).astype(np.float32), delta / n_refs
    n = attr.shape[0]
    gap = attr.reshape(n, -1).sum(axis=1, dtype=np.float64) - delta
    max_rel = float((np.abs(delta) / np.maximum(np.abs(gap), DELTA_ATOL)).max()) if n else 0.0
    log.info("expected gradients: %d objects x %d references, %d steps, max relative delta %.3g", n, n_refs, steps,
             max_rel)
    if check:
        check_completeness(delta, gap, rtol=rtol, steps=steps)
    return Attribution(attr=attr, delta=delta, target=np.asarray(target), method="expected_gradients",
                       baseline=baseline_name, max_relative_delta=max_rel)


def saliency(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
             batch_size: int = 256, scalars: torch.Tensor | np.ndarray | None = None,
             fold_bn: bool = True) -> Attribution:
    """Saliency ``|d logit_target / d x|`` of every object (no baseline, no completeness).

    Parameters
    ----------
    model, x, target, scalars, fold_bn
        As for :func:`integrated_gradients`.
    batch_size : int
        Objects per forward/backward pass.

    Returns
    -------
    Attribution
        ``attr`` in logit per input unit, same shape as ``x``; ``delta`` all NaN.
    """
    device = _device(model)
    xt = as_float_tensor(x, device)
    n = xt.shape[0]
    tt = check_target(target, n, device)
    st = None if scalars is None else as_float_tensor(scalars, device)
    attr = np.empty(tuple(xt.shape), dtype=np.float32)
    with _attribution_model(model, xt[:8], None if st is None else st[:8], fold_bn) as net:
        sal = Saliency(net)
        for sl in chunks(n, batch_size):
            a = sal.attribute(xt[sl].detach().requires_grad_(), target=tt[sl], abs=True,
                              additional_forward_args=None if st is None else (st[sl],))
            attr[sl] = a.detach().cpu().numpy()
    return Attribution(attr=attr, delta=np.full(n, np.nan), target=tt.cpu().numpy(), method="saliency",
                       baseline="none", max_relative_delta=float("nan"))


def grad_cam(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
             layer: nn.Module | None = None, batch_size: int = 128) -> np.ndarray:
    """Grad-CAM maps of the ``target`` logit, ReLU'd and upsampled (bilinear) to the cutout size.

    Parameters
    ----------
    model, target
        As for :func:`integrated_gradients` (an image classifier).
    x : torch.Tensor or np.ndarray
        (n, bands, H, W) cutouts.
    layer : nn.Module, optional
        Layer whose activations are weighted; default ``model.stages[-1]`` (the last stage of
        :class:`~agnbench.deep.resnet2d.ResNet18`).
    batch_size : int
        Objects per forward/backward pass.

    Returns
    -------
    np.ndarray
        (n, H, W) non-negative maps (gradient-weighted activations summed over channels, logits).
    """
    device = _device(model)
    xt = as_float_tensor(x, device)
    if xt.ndim != 4:
        raise AgnbenchError(f"Grad-CAM needs an image model and (n, bands, H, W) cutouts; got inputs of shape "
                            f"{tuple(xt.shape)} (use integrated_gradients or occlude_windows for spectra)")
    if layer is None:
        if not hasattr(model, "stages"):
            raise AgnbenchError(f"Grad-CAM needs an image model with .stages (got {type(model).__name__}); "
                                f"pass layer= to choose the convolutional layer")
        layer = model.stages[-1]
    n, _, h, w = xt.shape
    tt = check_target(target, n, device)
    out = np.empty((n, h, w), dtype=np.float32)
    with frozen_eval(model):
        cam = LayerGradCam(model, layer)
        for sl in chunks(n, batch_size):
            a = cam.attribute(xt[sl], target=tt[sl], relu_attributions=True)
            if a.ndim != 4:
                raise AgnbenchError(f"Grad-CAM layer output has shape {tuple(a.shape)}; it needs a 2D feature map")
            up = LayerAttribution.interpolate(a, (h, w), interpolate_mode="bilinear")
            out[sl] = up[:, 0].detach().cpu().numpy()
    return out


def predicted_or_true(model: nn.Module, x: torch.Tensor | np.ndarray, y_true: torch.Tensor | np.ndarray | None, *,
                      mode: str = "predicted", batch_size: int = 512,
                      scalars: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
    """The class to attribute for each object: the model's argmax (``predicted``) or ``y_true`` (``true``).

    ``y_true`` (n,) is needed for ``mode="true"``; ``model``, ``x``, ``scalars`` as for
    :func:`integrated_gradients`; ``batch_size`` objects per forward pass. Returns (n,) int64
    class indices on the model's device.
    """
    device = _device(model)
    if mode not in TARGET_MODES:
        raise AgnbenchError(f"mode must be one of {TARGET_MODES}, got {mode!r}")
    n = len(x)
    if mode == "true":
        if y_true is None:
            raise AgnbenchError("mode='true' needs y_true")
        return check_target(y_true, n, device)
    xt = as_float_tensor(x, device)
    st = None if scalars is None else as_float_tensor(scalars, device)
    pred = torch.empty(n, dtype=torch.long, device=device)
    with frozen_eval(model), torch.inference_mode():
        for sl in chunks(n, batch_size):
            logits = model(xt[sl]) if st is None else model(xt[sl], st[sl])
            pred[sl] = logits.argmax(dim=1)
    return pred
