"""Post-hoc probability calibration, fitted on the val split only.

Methods (:data:`CALIBRATION_METHODS`):

* ``none`` — identity.
* ``temperature`` — one ``T > 0`` minimising the val negative log-likelihood of
  ``softmax(log(p) / T)``; found with :func:`scipy.optimize.minimize_scalar` on ``log T``
  (bounded to ``T`` in ``[e^-5, e^5]``). Preserves the argmax. The same fit as scikit-learn's
  ``CalibratedClassifierCV(FrozenEstimator(...), method="temperature")`` (T agrees to < 1e-6
  relative, tested), kept here because that route needs every class in val and a pass-through
  classifier (docs/kept-libraries.md).
* ``sigmoid`` — Platt scaling ``sigmoid(a * logit(p_k) + b)`` by maximum likelihood, fitted by an
  unpenalised :class:`sklearn.linear_model.LogisticRegression` on ``logit(p_k)``: binary on the
  positive class (``p_0 = 1 - p_1``); multi-class one-vs-rest per class, then rows renormalised.
  (scikit-learn's ``method="sigmoid"`` differs: it fits on ``p`` itself for a ``predict_proba``
  model and smooths the targets as Platt (1999) did.)
* ``isotonic`` — :class:`sklearn.isotonic.IsotonicRegression` (``out_of_bounds="clip"``) with the
  same binary / one-vs-rest scheme; its step function is stored as lists and applied with linear
  interpolation, exactly as scikit-learn predicts.

Probabilities are clipped to ``[1e-12, 1]`` before any logarithm. A class that val never shows
(or always shows) cannot be fitted one-vs-rest: it is left uncalibrated, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from agnbench.errors import AgnbenchError
from agnbench.config.choices import CALIBRATION_METHODS

EPS = 1e-12
_LOG_T_BOUNDS = (-5.0, 5.0)


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map.

    Attributes
    ----------
    method : str
        One of :data:`CALIBRATION_METHODS`.
    params : dict
        JSON-serialisable parameters, enough to rebuild the map: ``n_classes`` plus
        ``temperature`` (float), ``a``/``b`` (one float per calibrated column; ``None`` where a
        class was left uncalibrated) or ``x``/``y`` (isotonic thresholds, one list per column).
        For binary problems the calibrated column is the positive class (column 1) only.
    """

    method: str
    params: dict

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrate probabilities.

        Parameters
        ----------
        proba : numpy.ndarray, shape (n, K)
            Uncalibrated probabilities (rows summing to 1).

        Returns
        -------
        numpy.ndarray, shape (n, K), float64
            Calibrated probabilities; rows sum to 1. A copy for ``"none"``.
        """
        proba = _check_proba(proba, int(self.params.get("n_classes", np.shape(proba)[-1])))
        if self.method == "none":
            return proba.copy()
        if self.method == "temperature":
            return _softmax(np.log(np.clip(proba, EPS, 1.0)) / float(self.params["temperature"]))
        if self.method == "sigmoid":
            maps = [None if a is None else (a, b) for a, b in zip(self.params["a"], self.params["b"])]
            return _one_vs_rest(proba, maps, _platt_apply)
        if self.method == "isotonic":
            maps = [None if x is None else (np.asarray(x), np.asarray(y))
                    for x, y in zip(self.params["x"], self.params["y"])]
            return _one_vs_rest(proba, maps, lambda p, xy: np.interp(p, xy[0], xy[1]))
        raise AgnbenchError(f"unknown calibration method {self.method!r}; valid: {', '.join(CALIBRATION_METHODS)}")

    def to_dict(self) -> dict:
        """``{"method": ..., "params": ...}``, JSON-serialisable."""
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or "method" not in d or "params" not in d:
            raise AgnbenchError(f"a calibrator dict needs 'method' and 'params', got {d!r:.200}")
        if d["method"] not in CALIBRATION_METHODS:
            raise AgnbenchError(f"unknown calibration method {d['method']!r}; valid: {', '.join(CALIBRATION_METHODS)}")
        return cls(method=d["method"], params=dict(d["params"]))


def fit_calibrator(proba_val: np.ndarray, y_val: np.ndarray, *, method: str) -> Calibrator:
    """Fit a calibration map on val probabilities.

    Parameters
    ----------
    proba_val : numpy.ndarray, shape (n_val, K)
        Model probabilities on the val split (never the test split).
    y_val : numpy.ndarray, shape (n_val,)
        Integer labels ``0 .. K-1``.
    method : str
        One of :data:`CALIBRATION_METHODS`.

    Returns
    -------
    Calibrator

    Raises
    ------
    AgnbenchError
        Unknown method or malformed inputs.
    """
    if method not in CALIBRATION_METHODS:
        raise AgnbenchError(f"unknown calibration method {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
    proba = _check_proba(proba_val, np.shape(proba_val)[-1] if np.ndim(proba_val) == 2 else -1)
    k = proba.shape[1]
    y = np.asarray(y_val)
    if proba.shape[0] == 0:
        raise AgnbenchError("cannot fit a calibrator on an empty val split")
    if y.shape != (proba.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k:
        raise AgnbenchError(f"y_val must be integer labels 0..{k - 1} of shape ({proba.shape[0]},)")
    if method == "none":
        return Calibrator("none", {"n_classes": k})
    if method == "temperature":
        return Calibrator("temperature", {"n_classes": k, "temperature": _fit_temperature(proba, y)})
    columns = [1] if k == 2 else list(range(k))
    fits = []
    for c in columns:
        target = (y == c).astype(np.float64)
        if target.min() == target.max():
            warnings.warn(f"calibration ({method}): class {c} is {'always' if target[0] else 'never'} the label "
                          "in val; leaving it uncalibrated", stacklevel=2)
            fits.append(None)
        else:
            fits.append(_fit_platt(proba[:, c], target) if method == "sigmoid" else _fit_isotonic(proba[:, c], target))
    if method == "sigmoid":
        return Calibrator("sigmoid", {"n_classes": k, "a": [None if f is None else f[0] for f in fits],
                                      "b": [None if f is None else f[1] for f in fits]})
    return Calibrator("isotonic", {"n_classes": k, "x": [None if f is None else f[0] for f in fits],
                                   "y": [None if f is None else f[1] for f in fits]})


# ----------------------------------------------------------------------------- one method per function
def _fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The T minimising mean NLL of softmax(log p / T), searched over log T.

    When every object's argmax is its label (a separable calibration split), the NLL falls to 0 as
    T -> 0 and has no minimum: the search would return its lower bound and turn every later mistake
    into a near-certain one (test log loss 0.56 instead of 0.07 for one seed of the mock spectra run).
    Such a split carries no information about how much to sharpen, so T = 1 (no rescaling) is returned
    with a warning.
    """
    from scipy.optimize import minimize_scalar

    if y.size and np.array_equal(np.argmax(proba, axis=1), y):
        warnings.warn(f"temperature scaling: all {y.size} calibration objects are classified correctly, so the "
                      "likelihood has no maximum (T -> 0); keeping T = 1 (probabilities not rescaled)", stacklevel=3)
        return 1.0
    logp = np.log(np.clip(proba, EPS, 1.0))

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(y.size), y]))

    res = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    if not np.isfinite(res.x) or abs(res.x - _LOG_T_BOUNDS[0]) < 1e-3 or abs(res.x - _LOG_T_BOUNDS[1]) < 1e-3:
        warnings.warn(f"temperature scaling hit its bound (T = {np.exp(res.x):.3g})", stacklevel=3)
    return float(np.exp(res.x))


def _fit_platt(p: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(a, b) of sigmoid(a * logit(p) + b) by maximum likelihood: an unpenalised
    :class:`sklearn.linear_model.LogisticRegression` (``C=inf``, L-BFGS, ``tol=1e-10``) on ``logit(p)``."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(_logit(p)[:, None], target)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_isotonic(p: np.ndarray, target: np.ndarray) -> tuple[list[float], list[float]]:
    """Isotonic step function (thresholds x, values y) of target on p."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(p, target)
    return [float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_]


def _platt_apply(p: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    return _sigmoid(ab[0] * _logit(p) + ab[1])


# ----------------------------------------------------------------------------- helpers
def _one_vs_rest(proba: np.ndarray, maps: list, apply) -> np.ndarray:
    """Apply per-column maps (binary: the positive column only), then renormalise the rows."""
    if proba.shape[1] == 2:
        p1 = proba[:, 1] if maps[0] is None else apply(proba[:, 1], maps[0])
        return np.column_stack([1.0 - p1, p1])
    out = np.column_stack([proba[:, c] if m is None else apply(proba[:, c], m) for c, m in enumerate(maps)])
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1])
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def _check_proba(proba: np.ndarray, k: int) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2 or proba.shape[1] != k:
        raise AgnbenchError(f"probabilities must have shape (n, {k if k > 0 else 'K >= 2'}), got {proba.shape}")
    if proba.shape[0] == 0:
        return proba
    if not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1 + 1e-9:
        raise AgnbenchError("probabilities must be finite and within [0, 1]")
    return proba


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(s: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * s))
