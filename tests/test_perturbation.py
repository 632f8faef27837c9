"""Perturbations: the linear map theta -> E, its norms, boxes, projections and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from advcluster.perturbation import Additive, FeatureShift, Multiplicative, NORMS, Pointwise, matrix_norm

RNG = np.random.default_rng(0)
A = RNG.normal(size=(12, 4)) + 3.0


def _dense(pert, theta):
    """E(theta) built entry by entry, independently of the sparse operator."""
    E = np.zeros_like(A)
    rows = np.arange(A.shape[0]) if getattr(pert, "index", None) is None else np.asarray(pert.index)
    cols = np.arange(A.shape[1]) if pert.features is None else np.atleast_1d(pert.features)
    theta = np.atleast_1d(theta)
    if isinstance(pert, Additive):
        E[np.ix_(rows, cols)] = theta[0]
    elif isinstance(pert, FeatureShift):
        E[:, cols] = theta[None, :]
    else:
        T = theta.reshape(rows.size, cols.size)
        E[np.ix_(rows, cols)] = T * (A[np.ix_(rows, cols)] if isinstance(pert, Multiplicative) else 1.0)
    return E


CASES = [
    Additive(index=[0, 3, 5], features=[1]),
    Additive(index=None, features=[0, 2]),
    Pointwise(index=[1, 2, 7], features=[0, 3]),
    Multiplicative(index=[4, 9], features=None),
    FeatureShift(features=[1, 3]),
]


@pytest.mark.parametrize("pert", CASES, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("ord", NORMS)
def test_matrix_and_norm_match_a_dense_construction(pert, ord):
    pert = copy.copy(pert)
    pert.ord = ord
    bound = pert.bind(A)
    for seed in range(20):
        theta = np.random.default_rng(seed).normal(size=bound.n_params)
        theta[np.random.default_rng(seed).random(bound.n_params) < 0.2] = 0.0
        E = bound.matrix(theta)
        np.testing.assert_allclose(E, _dense(pert, theta), rtol=0, atol=1e-14)
        np.testing.assert_allclose((bound.operator @ theta).reshape(A.shape), _dense(pert, theta), rtol=0, atol=1e-14)
        assert bound.norm(theta) == pytest.approx(matrix_norm(E, ord), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("pert", CASES, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("ord", NORMS)
def test_projection_is_feasible_and_box_contains_the_ball(pert, ord):
    pert = copy.copy(pert)
    pert.ord = ord
    bound = pert.bind(A)
    rng = np.random.default_rng(1)
    for _ in range(30):
        budget = float(rng.uniform(0.1, 5.0))
        theta = rng.normal(scale=3.0, size=bound.n_params)
        t = bound.project(theta, budget)
        assert bound.norm(t) <= budget * (1 + 1e-12)
        if bound.norm(theta) <= budget:
            np.testing.assert_array_equal(t, theta)
        lo, hi = bound.box(budget)
        assert np.all(lo <= t + 1e-12) and np.all(t <= hi + 1e-12)
        # Along each axis the box edge is exactly on the budget (homogeneous norms).
        if ord != "l0":
            j = int(rng.integers(bound.n_params))
            e = np.zeros(bound.n_params)
            e[j] = hi[j]
            assert bound.norm(e) == pytest.approx(budget, rel=1e-12)


def test_additive_frobenius_norm_is_eps_sqrt_size():
    p = Additive(index=[0, 1, 2, 3], features=[2]).bind(A)
    assert p.n_params == 1
    assert p.norm(-2.5) == pytest.approx(2.5 * 2.0)
    assert Additive(index=[0, 1, 2, 3], features=[2], ord="inf").bind(A).norm(-2.5) == 2.5


def test_direction_and_bounds():
    D = np.zeros_like(A)
    D[3, 1] = 2.0
    p = Additive(direction=D, bounds=(-1.0, 4.0)).bind(A)
    np.testing.assert_array_equal(p.matrix(0.5), 0.5 * D)
    lo, hi = p.box(100.0)
    assert lo[0] == -1.0 and hi[0] == 4.0
    np.testing.assert_array_equal(p.project([10.0], 100.0), [4.0])


def test_boolean_masks_select_like_indices():
    mask = np.zeros(A.shape[0], dtype=bool)
    mask[[2, 5]] = True
    a = Pointwise(index=mask, features=[1]).bind(A)
    b = Pointwise(index=[2, 5], features=[1]).bind(A)
    np.testing.assert_array_equal(a.matrix([1.0, 2.0]), b.matrix([1.0, 2.0]))


def test_unbound_use_says_how_to_bind():
    with pytest.raises(ValueError, match=r"bind\(A\)"):
        Additive([0], [0]).matrix(1.0)
    with pytest.raises(ValueError, match=r"bind\(A\)"):
        Additive([0], [0]).operator


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Additive(index=[0, 12], features=[0]), r"index has row 12 out of range: the data has 12 rows"),
        (lambda: Additive(index=[-1], features=[0]), r"row -1 out of range"),
        (lambda: Pointwise(index=[0], features=[4]), r"features has column 4 out of range: the data has 4 columns"),
        (lambda: Pointwise(index=[0, 0], features=[1]), r"repeats a row"),
        (lambda: Pointwise(index=[], features=[1]), r"non-empty"),
        (lambda: Pointwise(index=["a"], features=[1]), r"integer 0-based rows"),
        (lambda: Pointwise(index=np.ones(3, bool), features=[1]), r"boolean mask needs length 12"),
        (lambda: Additive(index=[0], features=[0], ord="l2"), r"unknown norm ord='l2'"),
        (lambda: Additive(index=[0], features=[0], bounds=(1, 2)), r"low <= 0 <= high"),
        (lambda: Additive(index=[0], features=[0], bounds=(-1,)), r"bounds must be \(low, high\)"),
        (lambda: Additive(direction=np.ones((3, 3))), r"direction has shape \(3, 3\)"),
        (lambda: Additive(index=[0], direction=np.ones((12, 4))), r"either a direction or index"),
        (lambda: Multiplicative(index=[0], features=[0]).bind(np.zeros((12, 4))), r"changes nothing"),
    ],
)
def test_bad_input_names_the_problem(make, match):
    with pytest.raises(ValueError, match=match):
        make().bind(A)


@pytest.mark.parametrize("theta, match", [([1.0, 2.0], r"needs 1 value"), ([np.nan], r"finite"), ("x", r"numbers")])
def test_bad_theta(theta, match):
    p = Additive([0], [0]).bind(A)
    with pytest.raises(ValueError, match=match):
        p.matrix(theta)
