"""BL1 / BL2 problems, the grid and the exact staircase, and the lower-level models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.datasets import load_iris, make_blobs
from sklearn.mixture import GaussianMixture
from sklearn.svm import SVC

from advcluster import knn_graph, solve, uniform_graph
from advcluster.attacks import BL1, BL2, OPTIMIZERS, attack
from advcluster.deviation import deviation
from advcluster.models import ConvexClusteringModel, SklearnClassifier, SklearnClusterer
from advcluster.perturbation import Additive, Pointwise

IRIS = load_iris().data[:100, 3:4]


def _instance(seed):
    """A small 1-D problem: uniform weights, a random index set, gamma giving a few clusters."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 30))
    A = np.concatenate([rng.normal(0, 0.3, n // 2), rng.normal(2, 0.3, n - n // 2)])[:, None]
    index = rng.choice(n, size=int(rng.integers(2, n // 2)), replace=False)
    gamma = float(rng.uniform(0.01, 0.08))
    return A, index, gamma


def _fresh_labels(A, gamma):
    return solve(A, uniform_graph(len(A)), gamma, method="exact1d").labels


@pytest.mark.parametrize("seed", range(12))
def test_staircase_matches_a_dense_grid_and_its_plateaus_are_exact(seed):
    A, index, gamma = _instance(seed)
    pert = Additive(index=index, features=[0], ord="inf")
    budget = 3.0
    stair = attack(BL1(ConvexClusteringModel(gamma, weights="uniform"), A, pert, budget), "staircase", num=41)
    dense = attack(BL1(ConvexClusteringModel(gamma, weights="uniform"), A, pert, budget), "grid", num=4001)
    # The exact search is never worse than a dense grid, and the grid's best value is on a plateau.
    assert stair.deviation >= dense.deviation
    values = {p.value for p in stair.extra["plateaus"]}
    assert dense.deviation in values
    ref = _fresh_labels(A, gamma)
    rng = np.random.default_rng(seed)
    E = pert.bind(A)
    # Either side of each breakpoint the labels differ ...
    for left, right in stair.extra["breakpoints"]:
        assert right - left <= 1e-8 * 2 * budget * (1 + 1e-9)
        assert not np.array_equal(_fresh_labels(A + E.matrix(left), gamma), _fresh_labels(A + E.matrix(right), gamma))
    # ... and inside each plateau they do not (random interior points, fresh solves).
    for p in stair.extra["plateaus"]:
        inside = rng.uniform(p.lower, p.upper, size=3) if p.upper > p.lower else [p.lower]
        labels = [_fresh_labels(A + E.matrix(t), gamma) for t in [p.lower, *inside, p.upper]]
        assert all(np.array_equal(labels[0], lab) for lab in labels)
        assert deviation(ref, labels[0], "delta") == p.value


@pytest.mark.parametrize("seed", range(12))
def test_bl2_staircase_answer_is_minimal(seed):
    A, index, gamma = _instance(seed)
    pert = Additive(index=index, features=[0], ord="inf")
    grid = np.linspace(-3, 3, 2001)
    model = ConvexClusteringModel(gamma, weights="uniform")
    probe = attack(BL1(model, A, pert, 3.0), "grid", points=grid)
    values = np.array([e.value for e in probe.history])
    positive = np.unique(values[values > 0])
    if positive.size == 0:
        pytest.skip("no deviation reachable in range for this instance")
    target = float(positive[len(positive) // 2])
    res = attack(BL2(ConvexClusteringModel(gamma, weights="uniform"), A, pert, target, max_norm=3.0), "staircase", num=41)
    assert res.success and res.feasible and res.deviation >= target
    # No grid point with a smaller |eps| reaches the target.
    thetas = np.array([e.theta[0] for e in probe.history])
    assert not np.any((np.abs(thetas) < res.norm - 1e-12) & (values >= target))
    # And the answer is tight: just inside it, the target is not reached.
    step = 1e-6 * np.sign(res.theta[0])
    inner = _fresh_labels(A + pert.bind(A).matrix(res.theta[0] - step), gamma)
    assert deviation(_fresh_labels(A, gamma), inner, "delta") < target


def test_grid_is_the_papers_direct_method_on_iris():
    """321 points on [-8, 8] include 0 and the endpoints; the reported value is the grid maximum."""
    model = ConvexClusteringModel(0.01, weights="uniform")
    res = attack(BL1(model, IRIS, Additive(np.arange(0, 100, 2), [0], ord="inf"), 8.0), "grid")
    thetas = np.array([e.theta[0] for e in res.history])
    assert thetas.size == 321 and thetas[0] == -8 and thetas[-1] == 8 and 0.0 in thetas
    assert res.deviation == max(e.value for e in res.history) > 0
    assert res.history[160].value == 0  # eps = 0 changes nothing
    assert res.n_solves == 320 and res.success  # eps = 0 is the cached clean answer


@pytest.mark.slow  # joblib start-up
def test_parallel_grid_equals_serial():
    A, y = make_blobs(60, centers=3, random_state=0)
    pert = Pointwise(index=[0, 1], features=[0], ord="inf")
    kw = dict(num=9)
    a = attack(BL1(ConvexClusteringModel(1.0, k=5), A, pert, 2.0), "grid", **kw)
    b = attack(BL1(ConvexClusteringModel(1.0, k=5), A, pert, 2.0), "grid", n_jobs=2, **kw)
    assert [e.value for e in a.history] == [e.value for e in b.history]
    assert all(np.array_equal(x.labels, y.labels) for x, y in zip(a.history, b.history))
    np.testing.assert_array_equal(a.theta, b.theta)


def test_result_is_consistent_with_a_fresh_recomputation():
    A, _ = make_blobs(40, centers=3, random_state=1)
    model = ConvexClusteringModel(1.0, k=5)
    res = attack(BL1(model, A, Pointwise([3, 7], [0]), 3.0), "grid", num=5)
    assert res.norm <= 3.0 and res.feasible
    fresh = ConvexClusteringModel(1.0, k=5)
    ref = fresh.reference(A).labels
    assert deviation(ref, fresh.respond(A + res.E).labels, "delta") == res.deviation
    assert res.n_evals == len(res.history) == 13 and "12 outside the budget skipped" in res.message
    assert f"delta = {res.deviation:g}" in res.summary()


def test_bl2_unreachable_target_says_so():
    model = ConvexClusteringModel(0.01, weights="uniform")
    res = attack(BL2(model, IRIS, Additive([0], [0], ord="inf"), target=5000, max_norm=0.5), "staircase", num=11)
    assert not res.success and not res.feasible
    assert "target 5000 not reached in the search range" in res.message


def test_max_evals_and_callback_stop_the_search():
    model = ConvexClusteringModel(0.01, weights="uniform")
    prob = BL1(model, IRIS, Additive([0, 1, 2], [0], ord="inf"), 8.0)
    res = attack(prob, "grid", max_evals=50)
    assert res.n_evals == 50 and not res.success and "max_evals=50" in res.message
    seen = []
    res = attack(prob, "grid", callback=lambda e: seen.append(e) or len(seen) >= 7)
    assert res.n_evals == 7 and "callback" in res.message


def test_similarity_measures_enter_as_one_minus():
    model = ConvexClusteringModel(0.01, weights="uniform")
    prob = BL1(model, IRIS, Additive(np.arange(50), [0], ord="inf"), 8.0, deviation="nmi")
    e = prob.evaluate(3.0)
    assert e.value == pytest.approx(1 - deviation(prob.reference.labels, e.labels, "nmi"))


def test_model_cache_warm_start_and_reweighting():
    A, _ = make_blobs(50, centers=3, random_state=2)
    E = np.zeros_like(A)
    E[0] = [1.5, -1.0]
    m = ConvexClusteringModel(1.0, k=5)
    m.reference(A)
    first = m.respond(A + E)
    assert m.n_solves == 2 and m.respond(A + E) is first and m.n_solves == 2  # cached
    cold = ConvexClusteringModel(1.0, k=5, warm_start=False)
    cold.reference(A)
    np.testing.assert_array_equal(cold.respond(A + E).labels, first.labels)
    np.testing.assert_allclose(cold.respond(A + E).centers, first.centers, atol=1e-4)
    # reweight=False keeps the clean graph; True rebuilds it from the perturbed data.
    kept = ConvexClusteringModel(1.0, k=5, reweight=False)
    kept.reference(A)
    assert kept.graph_for(A + E) is kept.graph
    assert not np.array_equal(m.graph_for(A + 10 * E).weights, m.graph.weights)


def test_model_answers_on_moved_points_equal_cold_solves_on_fresh_graphs():
    """The model updates the kNN graph where points moved and starts from its nearest earlier
    answer; every answer equals a cold solve on a freshly built graph."""
    A, _ = make_blobs(120, centers=3, random_state=4)
    m = ConvexClusteringModel(0.5, k=6)
    m.reference(A)
    rng = np.random.default_rng(5)
    proven = 0
    for trial in range(12):
        B = A.copy()
        rows = rng.choice(len(A), 3, replace=False)
        B[rows] += rng.normal(scale=(0.01, 0.3, 2.0)[trial % 3], size=(3, 2))
        graph = knn_graph(B, 6)
        assert m.graph_for(B).edges.tolist() == graph.edges.tolist()
        np.testing.assert_array_equal(m.graph_for(B).weights, graph.weights)
        answer, cold = m.respond(B), solve(B, graph, 0.5)
        assert answer.certified and cold.labels_certified
        np.testing.assert_array_equal(answer.labels, cold.labels)
        proven += "warm start's partition is proven" in answer.message
    assert proven >= 3  # small moves keep the partition: proven with no iteration


def test_exact_path_agrees_with_the_certified_solver():
    m = ConvexClusteringModel(0.01, weights="uniform")
    m.reference(IRIS)
    rng = np.random.default_rng(0)
    for _ in range(20):
        B = IRIS + rng.normal(scale=0.5, size=IRIS.shape)
        r = solve(B, uniform_graph(100), 0.01, method="exact1d")
        assert r.success
        np.testing.assert_array_equal(m.respond(B).labels, r.labels)


def test_black_box_clusterer_needs_a_fixed_seed():
    with pytest.raises(ValueError, match="random_state=None"):
        SklearnClusterer(KMeans(n_clusters=2))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda m: BL1(m, IRIS, Additive([0], [0]), -1.0), r"budget must be a finite number >= 0"),
        (lambda m: BL2(m, IRIS, Additive([0], [0]), 0.0), r"target must be a finite number > 0"),
        (lambda m: BL2(m, IRIS, Additive([0], [0]), 1e9), r"exceeds the largest possible 'delta'"),
        (lambda m: BL1(m, IRIS, Additive([100], [0]), 1.0), r"row 100 out of range"),
        (lambda m: BL1(m, IRIS, Additive([0], [1]), 1.0), r"column 1 out of range"),
        (lambda m: BL1(m, IRIS, Additive([0], [0]), 1.0, deviation="jaccard"), r"unknown deviation 'jaccard'"),
        (lambda m: attack(BL1(m, IRIS, Additive([0], [0]), 1.0), "fmincon"), r"unknown optimizer 'fmincon'"),
        (lambda m: attack(BL1(m, IRIS, Additive([0], [0]), 1.0), "grid", nmu=3), r"unknown option\(s\) \['nmu'\]"),
        (lambda m: attack(BL1(m, IRIS, Pointwise([0, 1], [0]), 1.0), "staircase"), r"one-parameter"),
        (lambda m: attack(BL1(m, IRIS, Pointwise([0, 1, 2], [0]), 1.0), "grid"), r"1 or 2 parameters"),
        (lambda m: attack(BL2(m, IRIS, Additive([0], [0]), 10.0), "grid"), r"unbounded"),
        (lambda m: BL1("kmeans", IRIS, Additive([0], [0]), 1.0), r"lower-level model"),
    ],
)
def test_bad_input_names_the_problem(make, match):
    with pytest.raises(ValueError, match=match):
        make(ConvexClusteringModel(0.01, weights="uniform"))


def test_registry_lists_the_papers_methods():
    assert {"grid", "staircase"} <= set(OPTIMIZERS)


# The literature's attacks, merge-split and capture-bridge choose their own points and need one
# parameter per entry or an Injection: tests/attacks/test_baselines.py, test_structure.py and
# test_threat_models.py hold them to the same bar.
BASELINES = {"biggio-bridge", "capture-bridge", "chhabra-spillover", "cina-genetic", "merge-split"}
BL1_OPTIMIZERS = sorted(name for name, opt in OPTIMIZERS.items() if "BL1" in opt.problems and name not in BASELINES)


@pytest.mark.parametrize("name", BL1_OPTIMIZERS)
def test_every_registered_bl1_optimizer_is_feasible_and_honest(name):
    """Whatever is registered meets the same bar: within the budget, and its deviation re-checks."""
    A, index, gamma = _instance(3)
    pert = Additive(index=index, features=[0], ord="fro")
    budget = 2.0
    res = attack(BL1(ConvexClusteringModel(gamma, weights="uniform"), A, pert, budget), name,
                 random_state=0, max_evals=None if name in ("grid", "staircase") else 30,
                 **({"num": 21} if name in ("grid", "staircase") else {}))
    assert res.feasible and res.norm <= budget * (1 + 1e-12)
    assert res.norm == pytest.approx(pert.bind(A).norm(res.theta))
    ref = _fresh_labels(A, gamma)
    assert res.deviation == deviation(ref, _fresh_labels(A + res.E, gamma), "delta")
    assert res.n_evals == len(res.history) and res.deviation == max(e.value for e in res.history if e.feasible)


@pytest.mark.parametrize(
    "estimator",
    [
        KMeans(n_clusters=3, n_init=3, random_state=0),
        AgglomerativeClustering(n_clusters=3),
        SpectralClustering(n_clusters=3, random_state=0),
        DBSCAN(eps=1.0),
        GaussianMixture(3, random_state=0),
    ],
    ids=lambda e: type(e).__name__,
)
def test_black_box_clusterers_are_refitted_and_compared(estimator):
    A, _ = make_blobs(45, centers=3, cluster_std=0.7, random_state=4)
    model = SklearnClusterer(estimator)
    prob = BL1(model, A, Pointwise([0, 1, 2], [0]), 6.0)
    assert prob.evaluate([0.0, 0.0, 0.0]).value == 0  # unperturbed: the clean answer
    res = attack(prob, "random", random_state=0, max_evals=12)
    assert res.feasible and res.n_solves >= 1
    fresh = SklearnClusterer(estimator)
    clean = fresh.reference(A).labels
    assert res.deviation == deviation(clean, fresh.respond(A + res.E).labels, "delta")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ConvexClusteringModel(-1.0), r"gamma must be a finite number >= 0"),
        (lambda: ConvexClusteringModel(1.0, weights="gauss"), r"unknown weights 'gauss'"),
        (lambda: ConvexClusteringModel(1.0, method="newton"), r"unknown method 'newton'"),
        (lambda: ConvexClusteringModel(1.0, tol=0), r"tol must be a finite number > 0"),
        (lambda: ConvexClusteringModel(1.0, k=0), r"k must be an integer >= 1"),
        (lambda: ConvexClusteringModel(1.0).respond(IRIS), r"call reference\(A_clean\) before respond"),
        (lambda: SklearnClusterer("kmeans"), r"scikit-learn clusterer"),
        (lambda: SklearnClassifier(SVC(random_state=0), None, np.zeros(3)).reference(IRIS), r"y has 3 targets but the training data has 100"),
        (lambda: SklearnClassifier(SVC(random_state=0), np.zeros((4, 2)), np.zeros(100)).reference(IRIS), r"X_eval has 2 features"),
    ],
)
def test_models_reject_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_model_answers_only_data_of_the_clean_shape():
    m = ConvexClusteringModel(0.01, weights="uniform")
    m.reference(IRIS)
    with pytest.raises(ValueError, match=r"shape \(99, 1\) given, but the model was set up on shape \(100, 1\)"):
        m.respond(IRIS[:99])


def test_respond_many_matches_respond_and_rejects_bad_input():
    """``respond_many`` gives ``respond``'s answers, serially and in blocks, and names bad input."""
    rng = np.random.default_rng(0)
    A = np.r_[rng.normal(0, 0.3, (10, 2)), rng.normal(3, 0.3, (10, 2))]
    data = [A + rng.normal(0, 0.5, A.shape) for _ in range(5)]
    one = ConvexClusteringModel(0.05, weights="knn", k=5)
    one.reference(A)
    expected = [one.respond(D).labels for D in data]
    many = ConvexClusteringModel(0.05, weights="knn", k=5)
    many.reference(A)
    got = many.respond_many(data, block=2)
    assert all(np.array_equal(g.labels, e) for g, e in zip(got, expected))
    assert many.n_solves == 1 + len(data)
    with pytest.raises(ValueError, match="block must be an integer >= 1"):
        many.respond_many(data, block=0)
    with pytest.raises(ValueError, match="data of shape"):
        many.respond_many([A[:5]])
    with pytest.raises(ValueError, match="call reference"):
        ConvexClusteringModel(0.05).respond_many(data)


@pytest.mark.parametrize("reweight", [True, False])
def test_model_with_more_neighbours_than_samples_says_how_to_fix_it(reweight):
    A, _ = make_blobs(12, centers=2, random_state=0)
    with pytest.raises(ValueError, match=r"k=20 neighbours need at least k \+ 1 = 21 samples.*weights='complete'"):
        ConvexClusteringModel(1.0, k=20, reweight=reweight).reference(A)
