"""The local / black-box optimizers and BL2 by bisection (advcluster.attacks.local)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_blobs
from sklearn.svm import SVC

from advcluster.attacks import BL1, BL2, OPTIMIZERS, attack
from advcluster.attacks import local
from advcluster.deviation import deviation
from advcluster.models import ConvexClusteringModel, SklearnClassifier, SklearnClusterer
from advcluster.perturbation import Additive, FeatureShift, Pointwise

OURS = ["trust-constr", "cobyqa", "cobyla", "nelder-mead", "powell", "cma", "random"]
PROJECTING = set(OURS) - {"trust-constr"}  # every point they evaluate is within the budget

BLOBS, _ = make_blobs(n_samples=36, centers=[[0, 0], [5, 0], [2.5, 4.5]], cluster_std=0.6, random_state=0)


def _cvx():
    return ConvexClusteringModel(5.0, weights="knn", k=5)


def _line():
    """A 1-D instance on the exact path (uniform weights): fast solves, rich staircase."""
    rng = np.random.default_rng(3)
    n = 24
    A = np.concatenate([rng.normal(0, 0.3, n // 2), rng.normal(2, 0.3, n - n // 2)])[:, None]
    index = rng.choice(n, size=6, replace=False)
    return A, index


def _uniform():
    return ConvexClusteringModel(0.04, weights="uniform")


def _fresh(model_factory, A, E, measure):
    m = model_factory()
    ref = m.reference(A).labels
    return deviation(ref, m.respond(A + E).labels, measure)


def test_registered():
    for name in OURS + ["bisection"]:
        assert name in OPTIMIZERS
    assert OPTIMIZERS["bisection"].problems == ("BL2",)


def test_default_budget_without_max_evals():
    A, index = _line()
    res = attack(BL1(_uniform(), A, Pointwise(index=index[:3], features=[0]), 1.0), "random", random_state=0)
    assert res.n_evals == local.DEFAULT_EVALS and res.success


@pytest.mark.parametrize("name", OURS + ["grid"])
def test_bl1_answer_is_feasible_and_its_deviation_is_recomputed(name):
    pert = Pointwise(index=[0], features=[0, 1])  # two parameters, so the grid applies too
    budget = 3.0
    problem = BL1(_cvx(), BLOBS, pert, budget)
    options = dict(num=6) if name == "grid" else {}
    max_evals = 40 if name == "grid" else 25
    res = attack(problem, name, random_state=0, max_evals=max_evals, **options)
    assert res.feasible and res.norm <= budget * (1 + 1e-12)
    assert res.norm == pytest.approx(pert.bind(BLOBS).norm(res.theta))
    assert np.array_equal(res.E, pert.bind(BLOBS).matrix(res.theta))
    assert res.deviation == _fresh(_cvx, BLOBS, res.E, "delta")
    assert res.n_evals == len(res.history) <= max_evals
    assert res.deviation == max(e.value for e in res.history if e.feasible)
    if name in PROJECTING:
        assert all(e.norm <= budget * (1 + 1e-12) for e in res.history)
    assert res.success, res.message


@pytest.mark.parametrize("name", ["cma", "random", "nelder-mead", "trust-constr"])
def test_same_random_state_same_answer(name):
    A, index = _line()
    pert = Pointwise(index=index[:3], features=[0])
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    runs = [attack(BL1(_uniform(), A, pert, 1.0), name, random_state=7, max_evals=30) for _ in range(2)]
    assert np.random.random() == before  # numpy's global generator is left alone (cma seeds it)
    assert np.array_equal(runs[0].theta, runs[1].theta)
    assert [e.theta.tolist() for e in runs[0].history] == [e.theta.tolist() for e in runs[1].history]
    other = attack(BL1(_uniform(), A, pert, 1.0), name, random_state=8, max_evals=30)
    assert not np.array_equal(other.history[0].theta, runs[0].history[0].theta)


def test_random_search_does_not_depend_on_n_jobs():
    A, index = _line()
    pert = Pointwise(index=index, features=[0])
    serial = attack(BL1(_uniform(), A, pert, 1.0), "random", random_state=1, max_evals=40, batch=20)
    parallel = attack(BL1(_uniform(), A, pert, 1.0), "random", random_state=1, max_evals=40, batch=20, n_jobs=2)
    assert [e.value for e in serial.history] == [e.value for e in parallel.history]
    assert np.array_equal(serial.theta, parallel.theta)


def test_max_evals_spent_ends_the_search_normally():
    res = attack(BL1(_cvx(), BLOBS, Pointwise(index=[0, 1, 2], features=[0, 1]), 3.0), "nelder-mead",
                 random_state=0, max_evals=12)
    assert res.n_evals == 12 and res.success
    res = attack(BL1(_cvx(), BLOBS, Pointwise(index=[0, 1, 2], features=[0, 1]), 3.0), "random",
                 random_state=0, max_evals=10, batch=4)
    assert res.n_evals == 10 and res.success


def test_callback_stop_propagates():
    res = attack(BL1(_cvx(), BLOBS, Pointwise(index=[0], features=[0, 1]), 3.0), "cobyqa", random_state=0,
                 callback=lambda e: len(e.labels) > 0)
    assert res.n_evals == 1 and not res.success and "callback" in res.message


def test_kmeans_black_box_attack_finds_damage():
    model = SklearnClusterer(KMeans(n_clusters=3, random_state=0, n_init=3))
    res = attack(BL1(model, BLOBS, Pointwise(index=[0, 1, 2], features=[0, 1]), 4.0), "cma",
                 random_state=0, max_evals=40)
    assert res.deviation > 0 and res.feasible
    fresh = lambda: SklearnClusterer(KMeans(n_clusters=3, random_state=0, n_init=3))  # noqa: E731
    assert res.deviation == _fresh(fresh, BLOBS, res.E, "delta")


def test_svc_poisoning_attack_changes_predictions():
    A, y = make_blobs(n_samples=60, centers=[[0, 0], [3, 0]], cluster_std=1.0, random_state=1)
    X_eval, _ = make_blobs(n_samples=80, centers=[[0, 0], [3, 0]], cluster_std=1.0, random_state=2)

    def svc():
        return SklearnClassifier(SVC(C=1.0, random_state=0), X_eval, y)

    res = attack(BL1(svc(), A, FeatureShift(features=[0, 1]), 4.0), "cobyqa", random_state=0, max_evals=40)
    assert res.measure == "prediction_changes"
    assert res.deviation > 0 and res.feasible
    m = svc()
    clean = m.reference(A).labels
    assert res.deviation == deviation(clean, m.respond(A + res.E).labels, "prediction_changes")


def test_trust_constr_stops_on_the_plateau_it_starts_on():
    """The paper's finding: forward differences see no slope on a piecewise-constant f."""
    A = load_iris().data[:100, 3:4]
    pert = Additive(index=np.arange(0, 100, 4), features=[0])

    def model():
        return ConvexClusteringModel(0.02, weights="uniform")

    exact = attack(BL1(model(), A, pert, 10.0), "staircase", num=81)
    local = attack(BL1(model(), A, pert, 10.0), "trust-constr", x0=[0.1])
    assert exact.deviation > 0
    assert local.deviation == 0 and abs(local.theta[0] - 0.1) < 0.05
    assert "termination" in local.message


def test_bisection_matches_staircase_in_one_dimension():
    A, index = _line()
    pert = Additive(index=index, features=[0], ord="inf")
    target = 118.0
    stair = attack(BL2(_uniform(), A, pert, target, max_norm=3.0), "staircase", num=41)
    rtol = 1e-3
    bis = attack(BL2(_uniform(), A, pert, target, max_norm=3.0), "bisection", inner="staircase",
                 inner_options=dict(num=41, rtol=1e-6), rtol=rtol)
    assert stair.success and bis.success and bis.deviation >= target
    assert bis.norm >= stair.norm - 1e-6
    assert bis.norm - stair.norm <= rtol * bis.norm + 1e-6
    lo, hi = bis.extra["bracket"]
    assert hi == bis.norm and hi - lo <= rtol * hi
    trace = bis.extra["trace"]
    assert trace[0][0] == 3.0 and len(trace) > 5
    # Every inner evaluation is in the outer history, judged by BL2.
    assert bis.n_evals == len(bis.history)
    assert all(e.feasible == (e.value >= target) for e in bis.history)


@pytest.mark.parametrize("inner", ["cma", "random"])
def test_bisection_multi_parameter_answer_is_feasible(inner):
    A, index = _line()
    pert = Pointwise(index=index[:3], features=[0])
    target = 44.0
    res = attack(BL2(_uniform(), A, pert, target, max_norm=3.0), "bisection", inner=inner, rtol=1e-2,
                 random_state=0, max_evals=400)
    assert res.n_evals == len(res.history) <= 400
    assert res.success
    assert res.feasible and res.deviation >= target
    assert res.deviation == _fresh(_uniform, A, res.E, "delta")
    assert res.norm == min(e.norm for e in res.history if e.value >= target)


def test_bisection_unreachable_target_fails_with_a_message():
    A, index = _line()
    pert = Pointwise(index=index[:3], features=[0])
    res = attack(BL2(_uniform(), A, pert, 100.0, max_norm=0.05), "bisection", inner="random",
                 random_state=0, max_evals=60)
    assert not res.success and not res.feasible
    assert "not reached" in res.message
    assert len(res.extra["trace"]) == 1


def test_random_solves_bl2():
    A, index = _line()
    pert = Pointwise(index=index[:3], features=[0])
    res = attack(BL2(_uniform(), A, pert, 44.0, max_norm=3.0), "random", random_state=0, max_evals=80)
    assert res.success and res.deviation >= 44.0
    assert all(e.norm <= 3.0 * (1 + 1e-12) for e in res.history)


def test_bad_options_are_rejected():
    A, index = _line()
    pert = Pointwise(index=index[:3], features=[0])
    bl1 = BL1(_uniform(), A, pert, 1.0)
    bl2 = BL2(_uniform(), A, pert, 44.0, max_norm=3.0)
    with pytest.raises(ValueError, match="unknown option"):
        attack(bl1, "cma", foo=1)
    with pytest.raises(ValueError, match="unknown option"):
        attack(bl1, "cobyla", maxiter=3)
    for name in ["trust-constr", "cobyqa", "cobyla", "nelder-mead", "powell", "cma"]:
        with pytest.raises(ValueError, match="x0 needs 3"):
            attack(bl1, name, x0=[0.1, 0.2])
    with pytest.raises(ValueError, match="sigma0"):
        attack(bl1, "cma", sigma0=2.0)
    with pytest.raises(ValueError, match="step"):
        attack(bl1, "nelder-mead", step=0.0)
    with pytest.raises(ValueError, match="does not solve BL2"):
        attack(bl2, "cobyqa")
    with pytest.raises(ValueError, match="does not solve BL1"):
        attack(bl1, "bisection")
    with pytest.raises(ValueError, match="unknown optimizer"):
        attack(bl2, "bisection", inner="nope")
    with pytest.raises(ValueError, match="unknown option"):
        attack(bl2, "bisection", inner="random", inner_options=dict(foo=1))
    with pytest.raises(ValueError, match="rtol"):
        attack(bl2, "bisection", rtol=2.0)
    # l0 budgets give no box: the box searches need bounds.
    l0 = BL1(_uniform(), A, Pointwise(index=index[:3], features=[0], ord="l0"), 2)
    with pytest.raises(ValueError, match="unbounded"):
        attack(l0, "random")
    with pytest.raises(ValueError, match="finite range"):
        attack(BL2(_uniform(), A, pert, 44.0), "bisection")


def test_cma_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cma", None)
    A, index = _line()
    with pytest.raises(ValueError, match="pip install cma"):
        attack(BL1(_uniform(), A, Pointwise(index=index[:2], features=[0]), 1.0), "cma")
