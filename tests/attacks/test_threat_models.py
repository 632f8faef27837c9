"""Threat models beyond the paper's: per-point budgets (``ord="point"``) and point injection.

References are computed here from the definitions (row norms with numpy, nearest clean points by
brute force, fresh fits of the poisoned data), never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from advcluster import (
    BL1,
    BL2,
    Additive,
    ConvexClusteringModel,
    FeatureShift,
    Injection,
    Multiplicative,
    Pointwise,
    SklearnClassifier,
    SklearnClusterer,
    attack,
    knn_graph,
)
from advcluster.attacks import OPTIMIZERS
from advcluster.deviation import deviation
from advcluster.graph import first_appearance
from advcluster.perturbation import matrix_norm


def _rows(E):
    return np.sqrt((np.asarray(E) ** 2).sum(axis=1))


def _perturbations(rng, n, d):
    rows = np.sort(rng.choice(n, int(rng.integers(1, n)), replace=False))
    feats = np.sort(rng.choice(d, int(rng.integers(1, d + 1)), replace=False))
    return [Additive(rows, feats, ord="point"), Pointwise(rows, feats, ord="point"),
            Multiplicative(rows, feats, ord="point"), FeatureShift(feats, ord="point")]


@pytest.mark.parametrize("seed", range(12))
def test_point_norm_is_the_largest_row_norm_and_projection_is_feasible(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(3, 12)), int(rng.integers(1, 5))
    A = rng.normal(size=(n, d)) + 0.5
    assert matrix_norm(A, "point") == pytest.approx(_rows(A).max(), rel=1e-14)
    for pert in _perturbations(rng, n, d):
        bound = pert.bind(A)
        for _ in range(5):
            theta = rng.normal(size=bound.n_params) * rng.uniform(0.1, 3)
            E = bound.matrix(theta)
            assert bound.norm(theta) == pytest.approx(_rows(E).max(), rel=1e-13)
            budget = rng.uniform(0.05, 1.5)
            t = bound.project(theta, budget)
            assert _rows(bound.matrix(t)).max() <= budget * (1 + 1e-12)
            assert bound.norm(bound.project(t, budget)) == pytest.approx(bound.norm(t), rel=1e-14)  # idempotent
            lo, hi = bound.box(budget)
            assert np.all(t >= lo - 1e-12) and np.all(t <= hi + 1e-12)  # a feasible point lies in the box
            if isinstance(pert, Pointwise) and not isinstance(pert, Multiplicative):
                # one parameter per entry: each row is projected onto the ball on its own
                scale = np.minimum(1.0, budget / np.maximum(_rows(E), 1e-300))
                np.testing.assert_allclose(bound.matrix(t), E * scale[:, None], rtol=1e-12, atol=1e-15)


def test_point_box_is_the_smallest_along_each_parameter():
    A = np.arange(12.0).reshape(4, 3) + 1
    bound = Multiplicative([0, 2], [1, 2], ord="point").bind(A)
    lo, hi = bound.box(2.0)
    for j in range(bound.n_params):  # at the box's end, one parameter alone reaches the budget
        t = np.zeros(bound.n_params)
        t[j] = hi[j]
        assert bound.norm(t) == pytest.approx(2.0, rel=1e-14)
        assert lo[j] == -hi[j]


@pytest.fixture(scope="module")
def blobs():
    A, _ = make_blobs(45, centers=[[0, 0], [5, 0], [0, 5]], cluster_std=0.6, random_state=3)
    return A


def _nearest(P, A):
    """Each row of ``P``'s distance to its nearest row of ``A``, and all the distances."""
    dist = np.sqrt(((P[:, None, :] - A[None]) ** 2).sum(axis=2))
    return dist.min(axis=1), dist


@pytest.mark.parametrize("seed", range(10))
def test_injection_norm_box_and_projection(blobs, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    inj = Injection(k).bind(blobs)
    assert inj.n_params == 2 * k
    low, high = blobs.min(axis=0), blobs.max(axis=0)
    P = rng.uniform(low - 2, high + 2, size=(k, 2))
    near = _nearest(P, blobs)[0]
    assert inj.norm(P.ravel()) == pytest.approx(near.max(), rel=1e-13)
    np.testing.assert_array_equal(inj.apply(blobs, P.ravel()), np.vstack([blobs, P]))
    budget = rng.uniform(0.1, 2.0)
    Q = inj.matrix(inj.project(P.ravel(), budget))
    assert np.all(Q >= low - 1e-12) and np.all(Q <= high + 1e-12)
    assert inj.norm(Q.ravel()) <= budget * (1 + 1e-12)
    # brute force: into the box, the nearest point of the union of balls of radius budget, into the box
    for p, q in zip(np.clip(P, low, high), Q):
        options = [a + (p - a) * min(1.0, budget / max(np.linalg.norm(p - a), 1e-300)) for a in blobs]
        best = min(options, key=lambda o: np.linalg.norm(o - p))
        np.testing.assert_allclose(q, np.clip(best, low, high), rtol=0, atol=1e-12)
    lo, hi = inj.box(budget)
    np.testing.assert_allclose(lo, np.tile(low, k))
    count = Injection(k, ord="count").bind(blobs)
    assert count.norm(P.ravel()) == k
    np.testing.assert_allclose(count.matrix(count.project(P.ravel(), 0.0)), np.clip(P, low, high))


def test_injection_given_box(blobs):
    inj = Injection(2, box=(-1.0, [1.0, 2.0])).bind(blobs)
    lo, hi = inj.box()
    np.testing.assert_array_equal(lo, [-1, -1, -1, -1])
    np.testing.assert_array_equal(hi, [1, 2, 1, 2])
    assert "n_points=2" in inj.describe()


class _Spy(SklearnClusterer):
    """A clusterer that keeps every data set it is fed."""

    def __init__(self, estimator):
        super().__init__(estimator)
        self.seen = []

    def _solve(self, A):
        self.seen.append(A.copy())
        return super()._solve(A)


MODELS = {
    "single": lambda: SklearnClusterer(AgglomerativeClustering(3, linkage="single")),
    "kmeans": lambda: SklearnClusterer(KMeans(3, n_init=3, random_state=0)),
    "convex": lambda: ConvexClusteringModel(1.5, k=6),
}


def _refit(name, B):
    """A fresh fit of the poisoned data, independent of the attack's models and caches."""
    if name == "convex":
        from advcluster import solve

        res = solve(B, knn_graph(B, 6, 0.5), 1.5)
        assert res.labels_certified
        return res.labels
    model = MODELS[name]()
    return model.estimator.fit_predict(B)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("optimizer", ["random", "biggio-bridge"])
def test_injection_answers_are_feasible_and_recomputed(blobs, name, optimizer):
    problem = BL1(MODELS[name](), blobs, Injection(3), budget=1.5, deviation="ari")
    res = attack(problem, optimizer, random_state=0, max_evals=30)
    assert res.feasible and res.success and res.n_evals <= 30
    P = res.E
    assert P.shape == (3, 2) and res.norm == pytest.approx(_nearest(P, blobs)[0].max(), rel=1e-12)
    clean = first_appearance(_refit(name, blobs))
    labels = first_appearance(_refit(name, np.vstack([blobs, P]))[:len(blobs)])
    np.testing.assert_array_equal(res.labels, labels)
    assert res.deviation == pytest.approx(1 - deviation(clean, labels, "ari"), abs=1e-15)
    for e in res.history:  # every evaluation within the threat model
        assert e.feasible and e.norm <= 1.5 * (1 + 1e-12)


def test_injection_never_moves_the_clean_points(blobs):
    spy = _Spy(KMeans(3, n_init=2, random_state=0))
    attack(BL1(spy, blobs, Injection(2), budget=1.0), "random", random_state=1, max_evals=12)
    assert len(spy.seen) == 13  # the clean fit, then one per evaluation
    assert spy.seen[0].shape == blobs.shape
    for B in spy.seen[1:]:
        assert B.shape == (len(blobs) + 2, 2)
        np.testing.assert_array_equal(B[:len(blobs)], blobs)


@pytest.mark.parametrize("optimizer", ["random", "biggio-bridge", "cma"])
def test_injection_answers_do_not_depend_on_n_jobs_and_follow_the_seed(blobs, optimizer):
    if optimizer == "cma":
        pytest.importorskip("cma")

    def run(n_jobs, seed):
        problem = BL1(MODELS["kmeans"](), blobs, Injection(2), budget=1.0, deviation="ari")
        return attack(problem, optimizer, random_state=seed, max_evals=24, n_jobs=n_jobs)

    one, two, again = run(1, 5), run(2, 5), run(1, 5)
    for other in (two, again):
        np.testing.assert_array_equal(one.theta, other.theta)
        assert [e.value for e in one.history] == [e.value for e in other.history]


def test_bridge_points_merge_single_linkage_clusters():
    """Biggio et al. (2013): a few points on the shortest link between two clusters merge them
    under single linkage (and the cut at two clusters then falls elsewhere)."""
    rng = np.random.default_rng(0)
    left = rng.normal(size=(30, 2)) * 0.3
    right = rng.normal(size=(30, 2)) * 0.3 + [4.0, 0.0]
    far = rng.normal(size=(30, 2)) * 0.3 + [2.0, 9.0]
    A = np.vstack([left, right, far])
    model = SklearnClusterer(AgglomerativeClustering(3, linkage="single"))
    problem = BL1(model, A, Injection(6), budget=2.0, deviation="ari")
    res = attack(problem, "biggio-bridge")
    labels = first_appearance(AgglomerativeClustering(3, linkage="single").fit_predict(np.vstack([A, res.E]))[:90])
    assert labels[0] == labels[30]  # left and right now one cluster
    assert labels[0] != labels[60]
    assert res.deviation == pytest.approx(1 - deviation(problem.reference.labels, labels, "ari")) and res.deviation > 0.3
    assert res.n_evals <= 6 * 3  # three links per step: three clusters


def test_bl2_with_injection_distance(blobs):
    problem = BL2(MODELS["single"](), blobs, Injection(2), target=0.2, deviation="ari", max_norm=3.0)
    res = attack(problem, "random", random_state=0, max_evals=40)
    assert res.norm <= 3.0 * (1 + 1e-12)
    if res.feasible:
        assert res.deviation >= 0.2


def test_injection_errors(blobs):
    y = (blobs[:, 0] > 2).astype(int)
    with pytest.raises(ValueError, match="training targets y label the clean points only"):
        BL1(SklearnClassifier(LogisticRegression(random_state=0), None, y), blobs, Injection(2), budget=1.0)
    graph = knn_graph(blobs, 5)
    with pytest.raises(ValueError, match="weight graph was given for the clean points only"):
        BL1(ConvexClusteringModel(1.0, weights=graph), blobs, Injection(2), budget=1.0)
    with pytest.raises(ValueError, match="reweight=False keeps the clean points' graph"):
        BL1(ConvexClusteringModel(1.0, reweight=False), blobs, Injection(2), budget=1.0)
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="n_points must be an integer >= 1"):
            Injection(bad)
    with pytest.raises(ValueError, match="unknown norm ord='fro' for Injection; choose one of"):
        Injection(2, ord="fro")
    with pytest.raises(ValueError, match="box must be finite with low <= high"):
        Injection(2, box=(1.0, 0.0)).bind(blobs)
    with pytest.raises(ValueError, match=r"box must be \(low, high\)"):
        Injection(2, box=(np.zeros(3), np.ones(3))).bind(blobs)
    with pytest.raises(ValueError, match="not a linear map of the data"):
        Injection(2).bind(blobs).operator
    with pytest.raises(ValueError, match="needs an Injection perturbation"):
        attack(BL1(MODELS["kmeans"](), blobs, Pointwise([0]), budget=1.0), "biggio-bridge")
    with pytest.raises(ValueError, match="fractions must be numbers in"):
        attack(BL1(MODELS["kmeans"](), blobs, Injection(1), budget=1.0), "biggio-bridge", fractions=(1.5,))
    with pytest.raises(ValueError, match="data of shape"):
        model = MODELS["kmeans"]()
        model.reference(blobs)
        model.respond(blobs[:10])


@pytest.mark.parametrize("name", ["surrogate-gradient", "staircase"])
def test_optimizers_that_move_points_refuse_injection(name):
    A = np.arange(8.0)[:, None]
    problem = BL1(ConvexClusteringModel(0.5, k=3), A, Injection(1), budget=1.0)
    with pytest.raises(ValueError, match=f"optimizer '{name}' moves the given points"):
        attack(problem, name, max_evals=3)


def test_injection_registry():
    """The optimizers that take Injection: every one not limited to moving points."""
    takes = sorted(name for name, opt in OPTIMIZERS.items() if opt.threats != "moves")
    assert {"biggio-bridge", "capture-bridge", "random", "cma", "grid"} <= set(takes)
    assert OPTIMIZERS["biggio-bridge"].threats == OPTIMIZERS["capture-bridge"].threats == "injection"


def test_entrywise_says_whether_any_change_of_the_entries_is_reachable(blobs):
    A = blobs
    assert Pointwise([0, 1], [0, 1]).bind(A).entrywise
    assert Multiplicative([0, 1]).bind(A).entrywise
    assert Additive([0], [0]).bind(A).entrywise  # one parameter, one entry
    assert not Additive([0, 1], [0]).bind(A).entrywise  # one parameter on two entries
    assert not FeatureShift().bind(A).entrywise
    assert not Injection(2).bind(A).entrywise


THREATS = {
    "point": lambda: Pointwise(index=[0, 5, 10, 15], ord="point"),
    "inf": lambda: Pointwise(index=[1, 6, 11], ord="inf"),
    "injection-distance": lambda: Injection(2),
    "injection-count": lambda: Injection(2, ord="count"),
}


def _pairs_to_run():
    from advcluster.attacks.core import check_optimizer

    A, _ = make_blobs(24, centers=[[0, 0], [3, 0], [0, 3]], cluster_std=0.5, random_state=1)
    model = ConvexClusteringModel(0.8, k=5)
    out = []
    for name in sorted(OPTIMIZERS):
        if "BL1" not in OPTIMIZERS[name].problems:
            continue
        for threat, make in THREATS.items():
            budget = 2.0 if threat == "injection-count" else 0.5
            try:
                check_optimizer(BL1(model, A, make(), budget), name, {})
            except ValueError:
                continue  # the optimizer refuses this threat model, with its reason (tested elsewhere)
            out.append((name, threat))
    return out


@pytest.mark.parametrize("name, threat", _pairs_to_run())
def test_every_optimizer_on_every_threat_model(name, threat):
    """Feasible answers, the deviation of a fresh recomputation, the same under n_jobs and seeds,
    and the clean points never moved by an injection."""
    if name == "cma":
        pytest.importorskip("cma")
    from advcluster import solve

    A, _ = make_blobs(24, centers=[[0, 0], [3, 0], [0, 3]], cluster_std=0.5, random_state=1)
    budget = 2.0 if threat == "injection-count" else 0.5

    def run(n_jobs):
        problem = BL1(ConvexClusteringModel(0.8, k=5), A, THREATS[threat](), budget, deviation="ari")
        return problem, attack(problem, name, random_state=7, max_evals=8, n_jobs=n_jobs)

    (problem, one), (_, two) = run(1), run(2)
    np.testing.assert_array_equal(one.theta, two.theta)
    assert [e.value for e in one.history] == [e.value for e in two.history]
    assert one.feasible and one.norm <= budget * (1 + 1e-12) and one.n_evals <= 8
    data = problem.perturbation.apply(A, one.theta)
    if threat.startswith("injection"):
        np.testing.assert_array_equal(data[:len(A)], A)
    ref = solve(A, knn_graph(A, 5, 0.5), 0.8)
    new = solve(data, knn_graph(data, 5, 0.5), 0.8)
    if ref.labels_certified and new.labels_certified:
        labels = first_appearance(new.labels[:len(A)])
        assert one.deviation == pytest.approx(1 - deviation(ref.labels, labels, "ari"), abs=1e-12)


def test_bisection_over_injection_defaults_to_random_search():
    A = np.r_[np.zeros(10), np.full(10, 3.0)][:, None] + np.linspace(0, 0.2, 20)[:, None]
    model = SklearnClusterer(AgglomerativeClustering(2, linkage="single"))
    problem = BL2(model, A, Injection(1), target=0.1, deviation="ari", max_norm=2.0)
    res = attack(problem, "bisection", random_state=0, max_evals=40)
    assert res.extra["inner"] == "random" and res.norm <= 2.0 * (1 + 1e-12)
