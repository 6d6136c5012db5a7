"""Prior-shift (label-shift) correction of calibrated posteriors by EM (Saerens, Latinne & Decaestecker 2002).

A classifier calibrated where the classes have prior ``pi_train`` gives posteriors ``p_train(k | x)``.
On new data whose class-conditional densities ``p(x | k)`` are the same but whose priors are
``pi_new``, Bayes' rule gives the new posteriors without retraining::

    p_new(k | x) = (pi_new_k / pi_train_k) p_train(k | x) / sum_j (pi_new_j / pi_train_j) p_train(j | x)

and ``pi_new`` is the maximum-likelihood estimate from the unlabelled new objects, found by the EM
iteration of Saerens et al. (2002): E-step, the posteriors under the current prior (above); M-step,
the new prior is their mean over the objects. It starts at ``pi_train``; each step does not decrease
the likelihood ``sum_i log sum_k (pi_k / pi_train_k) p_train(k | x_i)``.

EM needs ``pi_train`` to be the prior the posteriors actually encode. A model trained with balanced
class weights, or calibrated by temperature scaling (which cannot move the prior), encodes another
prior than the class fractions of its data; used as ``pi_train``, those fractions send EM astray (a
balanced-weight model on 4 % AGN looks like 100 % AGN data). :func:`implied_prior` estimates the
encoded prior from labelled data the posteriors were calibrated on: the prior whose correction makes
the mean posterior equal the true class fractions (the maximum-likelihood per-class bias; see
Alexandari, Kundaje & Shrikumar 2020, ICML, on bias-corrected calibration for label shift).

Reference: M. Saerens, P. Latinne and C. Decaestecker (2002), "Adjusting the outputs of a classifier
to new a priori probabilities: a simple procedure", Neural Computation 14(1), 21-41.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agnbench.errors import AgnbenchError

__all__ = ["PriorShift", "adjust_posteriors", "em_prior_shift", "implied_prior"]

#: Probabilities are clipped to this floor before the prior ratio is applied.
_EPS = 1e-12


@dataclass(frozen=True)
class PriorShift:
    """The result of :func:`em_prior_shift`.

    Attributes
    ----------
    prior : numpy.ndarray, shape (K,)
        The estimated prior of the new objects (sums to 1).
    train_prior : numpy.ndarray, shape (K,)
        The prior the posteriors were calibrated under.
    n_iter : int
        EM iterations run.
    converged : bool
        True if the prior moved less than ``tol`` (max abs change) in the last iteration.
    log_likelihood : float
        ``sum_i log sum_k (prior_k / train_prior_k) p_train(k | x_i)`` at ``prior`` (0 at ``train_prior``).
    """

    prior: np.ndarray
    train_prior: np.ndarray
    n_iter: int
    converged: bool
    log_likelihood: float

    def as_dict(self, classes: list[str] | tuple[str, ...]) -> dict:
        """JSON-serialisable summary, priors keyed by class name."""
        return {"method": "em_saerens2002", "prior": dict(zip(classes, map(float, self.prior))),
                "train_prior": dict(zip(classes, map(float, self.train_prior))), "n_iter": int(self.n_iter),
                "converged": bool(self.converged), "log_likelihood_gain": float(self.log_likelihood)}


def _check(proba: np.ndarray, prior: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise AgnbenchError(f"posteriors must have shape (n, K >= 2), got {proba.shape}")
    if proba.size and (not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1 + 1e-9):
        raise AgnbenchError("posteriors must be finite and within [0, 1]")
    if prior.shape != (proba.shape[1],) or not np.isfinite(prior).all() or prior.min() <= 0:
        raise AgnbenchError(f"{name} must hold {proba.shape[1]} positive class frequencies, got {prior.tolist()}")
    return proba, prior / prior.sum()


def adjust_posteriors(proba: np.ndarray, train_prior: np.ndarray, new_prior: np.ndarray) -> np.ndarray:
    """Posteriors under ``new_prior`` from posteriors calibrated under ``train_prior`` (Bayes' rule).

    Parameters
    ----------
    proba : numpy.ndarray, shape (n, K)
        Calibrated posteriors ``p_train(k | x)`` (rows sum to 1).
    train_prior, new_prior : numpy.ndarray, shape (K,)
        Class priors (positive; normalised here).

    Returns
    -------
    numpy.ndarray, shape (n, K), float64
        Rows sum to 1; equal to ``proba`` when the priors are equal.
    """
    proba, train_prior = _check(proba, train_prior, "train_prior")
    _, new_prior = _check(proba, new_prior, "new_prior")
    weighted = np.clip(proba, _EPS, 1.0) * (new_prior / train_prior)
    return weighted / weighted.sum(axis=1, keepdims=True)


def implied_prior(proba: np.ndarray, y: np.ndarray, *, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """The class prior that posteriors encode, estimated on labelled objects.

    Finds ``pi`` such that correcting the posteriors from ``pi`` to the labels' class fractions ``f``
    (:func:`adjust_posteriors`) makes their mean equal ``f``: the score equation of the maximum-likelihood
    per-class bias ``b`` in ``softmax(log p + b)``, with ``pi ∝ f / exp(b)``. Solved by the multiplicative
    fixed point ``w <- w * f / mean(normalise(w * p))`` (iterative proportional fitting). For posteriors
    calibrated under ``f`` it returns ``f`` (up to sampling noise).

    Parameters
    ----------
    proba : numpy.ndarray, shape (n, K)
        Posteriors of labelled objects (for agnbench runs: the calibrated val predictions).
    y : numpy.ndarray of int, shape (n,)
        Their labels ``0..K-1``; every class must occur.

    Returns
    -------
    numpy.ndarray, shape (K,)
        The encoded prior (sums to 1); use it as ``train_prior`` of :func:`em_prior_shift`.

    Raises
    ------
    AgnbenchError
        Malformed input, or a class absent from ``y``.
    """
    y = np.asarray(y)
    proba, _ = _check(proba, np.ones(np.shape(proba)[-1] if np.ndim(proba) == 2 else 2), "prior")
    k = proba.shape[1]
    if y.shape != (proba.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.size == 0:
        raise AgnbenchError(f"labels must be {proba.shape[0]} integers 0..{k - 1}, got shape {y.shape}")
    fractions = np.bincount(y, minlength=k).astype(np.float64)[:k] / y.size
    if (fractions == 0).any():
        raise AgnbenchError(f"every class must occur among the labelled objects to estimate the encoded prior; "
                            f"class fractions {np.round(fractions, 4).tolist()}")
    p = np.clip(proba, _EPS, 1.0)
    w = np.ones(k)
    for _ in range(int(max_iter)):
        q = p * w
        mean = (q / q.sum(axis=1, keepdims=True)).mean(axis=0)
        step = fractions / mean
        w = w * step
        w = w / w.sum()
        if np.max(np.abs(step - 1.0)) <= tol:
            break
    prior = fractions / w
    return prior / prior.sum()


def em_prior_shift(proba: np.ndarray, train_prior: np.ndarray, *, tol: float = 1e-8,
                   max_iter: int = 10_000) -> PriorShift:
    """Estimate the class prior of new objects by EM on their calibrated posteriors (Saerens et al. 2002).

    Parameters
    ----------
    proba : numpy.ndarray, shape (n, K)
        Calibrated posteriors of the new (unlabelled) objects under ``train_prior``.
    train_prior : numpy.ndarray, shape (K,)
        The class frequencies of the data the posteriors were calibrated on (for agnbench runs: the
        labels of the run's val split, where the calibrator was fitted).
    tol : float, optional
        Stop when no class prior changes by more than this between iterations.
    max_iter : int, optional
        Iteration cap (the last estimate is returned with ``converged=False``).

    Returns
    -------
    PriorShift
        The estimated prior; adjust the posteriors with :func:`adjust_posteriors`.

    Raises
    ------
    AgnbenchError
        Empty or malformed posteriors, or a non-positive prior.
    """
    proba, train_prior = _check(proba, train_prior, "train_prior")
    if proba.shape[0] == 0:
        raise AgnbenchError("cannot estimate a prior from zero objects")
    p = np.clip(proba, _EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    prior = train_prior.copy()
    converged = False
    n_iter = 0
    for n_iter in range(1, int(max_iter) + 1):
        weighted = p * (prior / train_prior)
        new = (weighted / weighted.sum(axis=1, keepdims=True)).mean(axis=0)
        change = float(np.max(np.abs(new - prior)))
        prior = new
        if change <= tol:
            converged = True
            break
    loglik = float(np.sum(np.log((p * (prior / train_prior)).sum(axis=1))))
    return PriorShift(prior=prior / prior.sum(), train_prior=train_prior, n_iter=n_iter, converged=converged,
                      log_likelihood=loglik)
