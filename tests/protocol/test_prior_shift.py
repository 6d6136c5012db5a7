"""EM prior-shift correction (Saerens et al. 2002): planted priors, the likelihood optimum, no shift, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from agnbench.errors import AgnbenchError
from agnbench.protocol.prior_shift import adjust_posteriors, em_prior_shift, implied_prior

#: Class means of the generative model: x | k ~ N(MEANS[k], 1).
MEANS = np.array([0.0, 2.5, 5.0])


def _sample(prior: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and 1-D inputs drawn from the generative model with class prior ``prior``."""
    gen = np.random.default_rng(seed)
    k = len(prior)
    y = gen.choice(k, size=n, p=prior)
    return y, gen.normal(MEANS[:k][y], 1.0)


def _posteriors(x: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The exact (calibrated) posteriors of the generative model under ``prior``."""
    like = norm.pdf(x[:, None], loc=MEANS[: len(prior)][None, :]) * prior
    return like / like.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("train, new", [
    ([0.8, 0.2], [0.54, 0.46]),          # AGN 20 % -> 46 %, the measured transfer
    ([0.5, 0.5], [0.9, 0.1]),
    ([0.5, 0.3, 0.2], [0.2, 0.3, 0.5]),
])
def test_em_recovers_a_planted_prior(seed: int, train: list[float], new: list[float]) -> None:
    train, new = np.array(train), np.array(new)
    n = 20_000
    y, x = _sample(new, n, seed)
    est = em_prior_shift(_posteriors(x, train), train)
    assert est.converged
    # the MLE's error is ~ sqrt(pi (1 - pi) / n) ~ 0.0035 inflated by class overlap (< x2 at these
    # separations): 0.03 is > 4 standard errors, and the estimate is much closer to the realised
    # class fractions of the sample than to the training prior
    np.testing.assert_allclose(est.prior, new, atol=0.03)
    realised = np.bincount(y, minlength=len(new)) / n
    np.testing.assert_allclose(est.prior, realised, atol=0.02)
    assert np.abs(est.prior - new).max() < 0.25 * np.abs(train - new).max()


@pytest.mark.parametrize("seed", range(5))
def test_no_shift_returns_the_training_prior(seed: int) -> None:
    train = np.array([0.8, 0.2])
    _, x = _sample(train, 20_000, seed)
    est = em_prior_shift(_posteriors(x, train), train)
    np.testing.assert_allclose(est.prior, train, atol=0.02)


def test_fixed_point_when_the_mean_posterior_is_the_training_prior() -> None:
    """If the posteriors already average to the training prior, EM stops there at once (exactly)."""
    proba = np.array([[0.8, 0.2], [0.4, 0.6]])
    est = em_prior_shift(proba, np.array([0.6, 0.4]))
    assert est.converged and est.n_iter == 1
    np.testing.assert_allclose(est.prior, [0.6, 0.4], atol=1e-12)
    assert est.log_likelihood == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(adjust_posteriors(proba, [0.6, 0.4], est.prior), proba, atol=1e-12)


def test_em_reaches_the_maximum_likelihood_prior() -> None:
    """The EM fixed point maximises sum log sum_k (pi_k / pi_train_k) p(k | x): compare with scipy."""
    train = np.array([0.7, 0.3])
    _, x = _sample(np.array([0.4, 0.6]), 3_000, 11)
    proba = _posteriors(x, train)

    def nll(q: float) -> float:
        return -float(np.sum(np.log(proba @ (np.array([1 - q, q]) / train))))

    ref = minimize_scalar(nll, bounds=(1e-6, 1 - 1e-6), method="bounded", options={"xatol": 1e-10}).x
    est = em_prior_shift(proba, train, tol=1e-12)
    assert est.prior[1] == pytest.approx(ref, abs=1e-6)
    assert est.log_likelihood == pytest.approx(-nll(ref), abs=1e-6)


def test_adjusted_posteriors_are_the_bayes_posteriors_under_the_new_prior() -> None:
    x = np.linspace(-2, 7, 50)
    old, new = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.3, 0.6])
    np.testing.assert_allclose(adjust_posteriors(_posteriors(x, old), old, new), _posteriors(x, new), atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_implied_prior_of_a_balanced_weight_model_then_em(seed: int) -> None:
    """Posteriors that encode a uniform prior (balanced class weights) on 4 % AGN data: the encoded prior is
    recovered from labelled val data, and EM started from it finds the new prior; started from the val class
    fractions it would run away."""
    val_prior, encoded, new = np.array([0.96, 0.04]), np.array([0.5, 0.5]), np.array([0.8, 0.2])
    y_val, x_val = _sample(val_prior, 20_000, seed)
    np.testing.assert_allclose(implied_prior(_posteriors(x_val, encoded), y_val), encoded, atol=0.03)
    _, x_new = _sample(new, 20_000, seed + 100)
    proba = _posteriors(x_new, encoded)
    est = em_prior_shift(proba, implied_prior(_posteriors(x_val, encoded), y_val))
    np.testing.assert_allclose(est.prior, new, atol=0.03)
    assert em_prior_shift(proba, val_prior).prior[1] > 0.5  # the wrong starting prior: far off


@pytest.mark.parametrize("seed", range(3))
def test_implied_prior_of_calibrated_posteriors_is_the_class_fractions(seed: int) -> None:
    prior = np.array([0.5, 0.3, 0.2])
    y, x = _sample(prior, 20_000, seed)
    fractions = np.bincount(y, minlength=3) / y.size
    np.testing.assert_allclose(implied_prior(_posteriors(x, prior), y), fractions, atol=0.02)


def test_implied_prior_makes_the_mean_posterior_the_class_fractions() -> None:
    """The defining equation, to solver precision, on arbitrary posteriors."""
    gen = np.random.default_rng(4)
    proba = gen.dirichlet([1.0, 2.0, 0.5], size=500)
    y = gen.choice(3, size=500, p=[0.2, 0.5, 0.3])
    fractions = np.bincount(y, minlength=3) / y.size
    encoded = implied_prior(proba, y)
    np.testing.assert_allclose(adjust_posteriors(proba, encoded, fractions).mean(axis=0), fractions, atol=1e-8)
    with pytest.raises(AgnbenchError, match="every class must occur"):
        implied_prior(proba, np.zeros(500, dtype=int))


def test_bad_inputs() -> None:
    with pytest.raises(AgnbenchError, match="zero objects"):
        em_prior_shift(np.zeros((0, 2)), np.array([0.5, 0.5]))
    with pytest.raises(AgnbenchError, match="positive class frequencies"):
        em_prior_shift(np.array([[0.5, 0.5]]), np.array([1.0, 0.0]))
    with pytest.raises(AgnbenchError, match="shape"):
        em_prior_shift(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
