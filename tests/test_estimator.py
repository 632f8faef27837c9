"""ConvexClustering: a scikit-learn estimator that is thin glue over :func:`advcluster.solve`."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

import advcluster.estimator
from advcluster import (ClusteringResult, ConvexClustering, Graph, UnprovenLabelsWarning, complete_graph, knn_graph,
                        solve, uniform_graph)

# ----------------------------------------------------------------------------- scikit-learn API

# The checks fit data sets of 10 to 150 samples. The default k=10 needs 11 samples, and
# k >= n_samples is an error by design (the estimator never shrinks the graph silently),
# so the default instance cannot run the two checks that fit 10 samples; ConvexClustering(k=3)
# runs every check. Uniform weights add up over all n - 1 neighbours, so gamma must scale
# like 1/n: 0.035 separates the three blobs of check_clustering (gamma=1 fuses them all).
_TEN_SAMPLES = "fits 10 samples; the default k=10 needs at least 11 (k >= n_samples is an error)"
CHECKED = [
    ConvexClustering(),
    ConvexClustering(k=3),
    ConvexClustering(k=3, method="admm"),
    ConvexClustering(weights="complete"),
    ConvexClustering(weights="uniform", gamma=0.035),
]


def _expected_failed_checks(estimator):
    if estimator.weights == "knn" and estimator.k >= 10:
        return {"check_fit2d_1feature": _TEN_SAMPLES, "check_estimators_nan_inf": _TEN_SAMPLES}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_docstring_examples_run():
    result = doctest.testmod(advcluster.estimator, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_init_only_stores_parameters():
    # Nonsense is accepted by __init__ and rejected by fit (scikit-learn convention).
    est = ConvexClustering(gamma=-1, weights="nope", k=0, method="?")
    assert est.get_params()["gamma"] == -1
    with pytest.raises(ValueError):
        est.fit(np.zeros((5, 2)))


def test_get_set_params_clone_round_trip():
    params = dict(gamma=0.3, weights="complete", k=4, phi=2.0, method="admm", tol=1e-5, p=1,
                  max_iter=500, label_tol=1e-4, label_rule="greedy", target_clusters=None)
    est = ConvexClustering(**params)
    assert est.get_params() == params
    other = ConvexClustering().set_params(**params)
    assert other.get_params() == params
    copy = clone(est)
    assert copy is not est and copy.get_params() == params
    assert set(ConvexClustering().get_params()) == set(params)


def test_clone_drops_fitted_state_and_keeps_a_graph(blobs):
    X, _ = blobs
    g = knn_graph(X, 5)
    est = ConvexClustering(weights=g).fit(X)
    copy = clone(est)
    assert not hasattr(copy, "labels_")
    assert_array_equal(copy.weights.edges, g.edges)
    assert_array_equal(copy.fit(X).labels_, est.labels_)


def test_fitted_attributes(blobs):
    X, _ = blobs
    est = ConvexClustering(gamma=1.0)
    assert est.fit(X) is est
    n, d = X.shape
    assert est.labels_.shape == (n,) and est.labels_.dtype.kind == "i"
    assert est.centers_.shape == (n, d)
    assert est.n_clusters_ == est.labels_.max() + 1 == est.result_.n_clusters
    assert isinstance(est.result_, ClusteringResult)
    assert isinstance(est.graph_, Graph) and est.graph_.n == n
    assert est.n_features_in_ == d
    assert est.n_iter_ == est.result_.n_iter >= 1
    assert_array_equal(est.fit_predict(X), est.labels_)
    assert not hasattr(est, "predict")  # transductive


# ----------------------------------------------------------------------------- same answer as solve()


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=60, centers=3, cluster_std=0.5, random_state=3)


def _dense(g):
    return g.to_matrix().toarray()


WEIGHTS = {
    "knn": lambda X: knn_graph(X, 10, 0.5),
    "complete": lambda X: complete_graph(X, 0.5),
    "uniform": lambda X: uniform_graph(len(X)),
}


@pytest.mark.parametrize("weights", ["knn", "complete", "uniform", "graph", "dense", "sparse"])
def test_fit_matches_solve_for_every_weights_option(blobs, weights):
    X, _ = blobs
    gamma = 0.01 if weights == "uniform" else 0.5
    graph = WEIGHTS.get(weights, WEIGHTS["knn"])(X)
    given = {"graph": graph, "dense": _dense(graph), "sparse": sp.csr_matrix(_dense(graph))}.get(weights, weights)
    est = ConvexClustering(gamma=gamma, weights=given).fit(X)
    ref = solve(X, graph, gamma)
    assert ref.success and est.result_.success
    assert_array_equal(est.graph_.edges, graph.edges)
    np.testing.assert_allclose(est.graph_.weights, graph.weights, rtol=1e-15)
    np.testing.assert_allclose(est.centers_, ref.centers, rtol=0, atol=1e-12)
    assert_array_equal(est.labels_, ref.labels)
    assert est.result_.kkt_residual <= est.tol


@pytest.mark.parametrize(
    "params",
    [
        dict(method="admm", p=1, gamma=0.3, k=5, phi=1.0, tol=1e-7),
        dict(method="admm", p=2, gamma=0.3, label_rule="greedy", label_tol=1e-4),
    ],
)
def test_parameters_reach_solve(blobs, params):
    X, _ = blobs
    est = ConvexClustering(**params).fit(X)
    graph = knn_graph(X, params.get("k", 10), params.get("phi", 0.5))
    kw = {key: params[key] for key in ("p", "tol", "label_rule", "label_tol") if key in params}
    ref = solve(X, graph, params["gamma"], params["method"], **kw)
    assert (est.result_.method, est.result_.p, est.result_.tol) == (ref.method, ref.p, ref.tol)
    np.testing.assert_allclose(est.centers_, ref.centers, rtol=0, atol=1e-12)
    assert_array_equal(est.labels_, ref.labels)


def test_exact1d_through_the_estimator():
    x = np.array([[0.0], [0.2], [0.1], [3.0], [3.3], [2.9]])
    est = ConvexClustering(gamma=0.2, weights="uniform", method="exact1d").fit(x)
    ref = solve(x, uniform_graph(6), 0.2, "exact1d")
    assert_array_equal(est.labels_, [0, 0, 0, 1, 1, 1])
    assert_array_equal(est.centers_, ref.centers)


# ----------------------------------------------------------------------------- a realistic use


def test_recovers_well_separated_blobs():
    X, y = make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)  # the CLI demo
    est = ConvexClustering(gamma=1.0)  # kNN weights, k=10, phi=0.5
    labels = est.fit_predict(X)
    assert est.graph_.n_components == 1  # the graph joins the blobs: gamma does the separating
    assert est.result_.success
    assert est.n_clusters_ == 4
    assert adjusted_rand_score(y, labels) == 1.0


# ----------------------------------------------------------------------------- non-convergence


@pytest.mark.parametrize("method", ["ssnal", "admm"])
def test_convergence_warning_carries_the_solver_message(method):
    # Unstructured data: the solution is partly fused, so one outer iteration cannot reach 1e-12.
    X = np.random.default_rng(0).normal(size=(80, 2))
    est = ConvexClustering(gamma=0.3, method=method, max_iter=1, tol=1e-12)
    with pytest.warns(ConvergenceWarning, match="did not converge") as record:
        est.fit(X)
    assert not est.result_.success
    assert est.result_.message in str(record[0].message)
    assert hasattr(est, "labels_")  # the last iterate is still reported


def test_no_warning_when_converged(blobs):
    X, _ = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", UnprovenLabelsWarning)
        est = ConvexClustering().fit(X)
    assert est.labels_certified_ is True


@pytest.mark.parametrize("method", ["ssnal", "admm"])
def test_unproven_partition_warns(method):
    """Uniform weights on 0, 1, 5, 6 at gamma 0.5: both pairs sit exactly at their fusion
    threshold (the flows that fuse them are saturated), so no proof exists."""
    X = np.array([[0.0], [1.0], [5.0], [6.0]])
    est = ConvexClustering(gamma=0.5, weights="uniform", method=method)
    with pytest.warns(UnprovenLabelsWarning, match="not proven exact: 2 pair"):
        est.fit(X)
    assert est.labels_certified_ is False and est.result_.n_undecided == 2
    assert est.labels_.tolist() == [0, 0, 1, 1]  # the exact partition, read off the centres
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnprovenLabelsWarning)
        exact = ConvexClustering(gamma=0.5, weights="uniform", method="exact1d").fit(X)
    assert exact.labels_certified_ is True and exact.labels_.tolist() == [0, 0, 1, 1]


# ----------------------------------------------------------------------------- bad parameters


BAD = [
    (dict(gamma=-1.0), r"gamma must be a finite number >= 0, got -1"),
    (dict(gamma=np.nan), r"gamma must be a finite number >= 0"),
    (dict(gamma="1"), r"gamma must be a finite number >= 0"),
    (dict(weights="gaussian"), r"unknown weights 'gaussian'; choose one of \('knn', 'complete', 'uniform'\)"),
    (dict(weights=3.0), r"weights must be one of .*got float"),
    (dict(k=0), r"k must be an integer >= 1, got 0"),
    (dict(k=2.5), r"k must be an integer >= 1, got 2.5"),
    (dict(k=30), r"k=30 neighbours need at least k \+ 1 = 31 samples, but the data has 30; set k <= 29"),
    (dict(k=31), r"k=31 neighbours need at least .* the data has 30"),
    (dict(phi=-0.5), r"phi must be a finite number >= 0"),
    (dict(method="newton"), r"unknown method 'newton'; choose 'auto' or one of \['admm', 'exact1d', 'ssnal'\]"),
    (dict(method=["ssnal"]), r"unknown method \['ssnal'\]"),
    (dict(p=3), r"p must be one of \(1, 2\), got 3"),
    (dict(p=True), r"p must be one of"),
    (dict(method="ssnal", p=1), r"method 'ssnal' supports p in \(2,\), not p=1; use method='admm'"),
    (dict(tol=0.0), r"tol must be a finite number > 0"),
    (dict(max_iter=0), r"max_iter must be an integer >= 1, got 0"),
    (dict(label_tol=-1e-5), r"label_tol must be a finite number > 0"),
    (dict(label_rule="nearest"), r"unknown label_rule 'nearest'"),
    (dict(method="exact1d"), r"method 'exact1d' needs a complete graph with equal weights"),
    (dict(weights=uniform_graph(7)), r"Graph given as weights has 7 nodes but the data has 30 samples"),
    (dict(weights=np.eye(7)), r"weight matrix given as weights has 7 nodes but the data has 30 samples"),
    (dict(weights=np.triu(np.ones((30, 30)))), r"W is not symmetric"),
    (dict(weights=-np.ones((30, 30))), r"W has negative entries"),
    (dict(weights=np.ones((30, 29))), r"W must be a square matrix"),
]


@pytest.mark.parametrize("params, match", BAD, ids=[f"{list(p)[0]}={p[list(p)[0]]!r}"[:40] for p, _ in BAD])
def test_bad_parameters_raise_value_error_naming_them(params, match):
    X = np.random.default_rng(0).normal(size=(30, 2))
    est = ConvexClustering(**params)
    with pytest.raises(ValueError, match=match):
        est.fit(X)
    assert not hasattr(est, "labels_")


@pytest.mark.parametrize("X, match", [
    (np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]]), "NaN"),
    (np.array([[1.0, 2.0]]), "1 sample"),
    (np.zeros((0, 2)), "0 sample"),
    (np.arange(5.0), "Expected 2D array"),
])
def test_bad_data(X, match):
    with pytest.raises(ValueError, match=match):
        ConvexClustering(k=1).fit(X)


# ----------------------------------------------------------------------------- properties


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(2, 12),
    d=st.integers(1, 3),
    gamma=st.floats(0, 2),
    shift=st.floats(-100, 100),
    seed=st.integers(0, 2**16),
)
def test_labels_numbered_by_first_appearance_and_translation_invariant(n, d, gamma, shift, seed):
    X = np.random.default_rng(seed).normal(size=(n, d))
    est = ConvexClustering(gamma=gamma, weights="complete").fit(X)
    labels = est.labels_
    first = [labels[i] for i in sorted(np.unique(labels, return_index=True)[1])]
    assert first == list(range(est.n_clusters_))
    moved = ConvexClustering(gamma=gamma, weights="complete").fit(X + shift)
    np.testing.assert_allclose(moved.centers_, est.centers_ + shift, atol=1e-4 * (1 + abs(shift)))


def _major(labels, n):
    sizes = np.bincount(labels)
    return int((sizes >= max(2, np.ceil(0.02 * n))).sum())


@pytest.mark.parametrize("name", ["wine", "iris", "seeds"])
def test_gamma_and_phi_auto_follow_the_clusterpath(name):
    """gamma='auto' is the middle of the longest run of equal major-cluster counts of a path that
    the test solves itself; phi='auto' is 0.5 / the median squared 10-NN distance by brute force."""
    from advcluster.datasets import load_dataset
    from advcluster.solvers.core import clusterpath

    X = load_dataset(name).data
    X = (X - X.mean(0)) / X.std(0)
    est = ConvexClustering(gamma="auto", phi="auto").fit(X)
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(D, np.inf)
    assert est.phi_ == pytest.approx(0.5 / np.median(np.sort(D, axis=1)[:, :10] ** 2), rel=1e-12)
    choice = est.gamma_choice_
    g = knn_graph(X, 10, est.phi_)
    path = clusterpath(X, g, choice.gammas, certify=False)
    majors = [_major(r.labels, len(X)) for r in path]
    assert majors == list(choice.majors)
    runs, i = [], 0
    while i < len(majors):
        j = i
        while j + 1 < len(majors) and majors[j + 1] == majors[i]:
            j += 1
        if majors[i] >= 2:
            runs.append((j - i, -i, i, j))
        i = j + 1
    _, _, lo, hi = max(runs)
    assert est.gamma_ == pytest.approx(np.sqrt(choice.gammas[lo] * choice.gammas[hi]), rel=1e-12)
    assert est.n_major_clusters_ == _major(est.labels_, len(X)) == majors[lo] >= 2
    assert "most stable" in choice.reason and est.result_.gamma == est.gamma_


def test_target_clusters_picks_a_gamma_with_that_many_major_clusters():
    from advcluster.datasets import load_dataset

    X = load_dataset("wine").data
    X = (X - X.mean(0)) / X.std(0)
    for k in (2, 3, 4):
        est = ConvexClustering(gamma="auto", phi="auto", target_clusters=k).fit(X)
        assert est.n_major_clusters_ == _major(est.labels_, len(X)) == k
    with pytest.raises(ValueError, match="no clustering with 40 major clusters"):
        ConvexClustering(gamma="auto", phi="auto", target_clusters=40).fit(X)
    with pytest.raises(ValueError, match="target_clusters=3 applies to gamma='auto'"):
        ConvexClustering(gamma=1.0, target_clusters=3).fit(X)
    with pytest.raises(ValueError, match="target_clusters must be an integer >= 1"):
        ConvexClustering(gamma="auto", target_clusters=0).fit(X)


@pytest.mark.parametrize("seed", [1, 7, 31])
def test_with_no_stable_count_gamma_is_where_the_partition_changes_least(seed, monkeypatch):
    """A path whose major-cluster count changes at every grid point (as on digits; here a grid of
    one point a decade makes it so): the choice is the interior point with at least 2 major
    clusters maximising min(ARI to previous, ARI to next), found by brute force over the path
    the test solves itself."""
    from sklearn.metrics import adjusted_rand_score

    from advcluster import choose
    from advcluster.solvers.core import clusterpath

    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, 1.0, size=(40, 3)) for c in rng.normal(0, 4, size=(6, 3))])
    g = knn_graph(X, 10, choose.scaled_phi(X))
    monkeypatch.setattr(choose, "PER_DECADE", 1)
    choice = choose.choose_gamma(X, g)
    path = [r.labels for r in clusterpath(X, g, choice.gammas, certify=False)]
    majors = np.array([_major(p, len(X)) for p in path])
    assert list(majors) == list(choice.majors)
    assert all(i == j for i, j in choose._runs(majors) if majors[i] >= 2)  # no count holds
    agree = [min(adjusted_rand_score(path[t - 1], path[t]), adjusted_rand_score(path[t], path[t + 1]))
             if majors[t] >= 2 else -1 for t in range(1, len(path) - 1)]
    best = 1 + int(np.argmax(agree))
    assert choice.gamma == choice.gammas[best] and choice.n_major == majors[best] >= 2
    assert "changes least" in choice.reason and f"{agree[best - 1]:.2f}" in choice.reason


def test_least_change_picks_the_most_agreeing_interior_point():
    """The rule on given partitions: agreement is the smaller ARI with the two neighbours."""
    from advcluster.choose import _least_change

    a = np.repeat([0, 1, 2, 3], 10)
    b = np.repeat([0, 1, 2, 2], 10)
    c = np.repeat([0, 0, 1, 1], 10)
    partitions = [np.arange(40), a, b, a, c, np.zeros(40, int)]
    majors = np.array([0, 4, 3, 4, 2, 1])
    choice = _least_change(np.geomspace(1, 32, 6), np.array([40, 4, 3, 4, 2, 1]), majors, partitions)
    # t = 1: min(ARI(singletons, a) = 0, ...) = 0; t = 2: ARI(a, b) both sides; t = 3: min(ARI(b, a), ARI(a, c))
    assert choice.gamma == 4.0 and choice.n_major == 3
