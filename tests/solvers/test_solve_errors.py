"""Bad input to :func:`advcluster.solvers.solve` raises ``ValueError`` naming the problem and the fix;
a method that runs out of iterations says so (``success=False``) and never raises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

from advcluster.graph import complete_graph, uniform_graph
from advcluster.solvers import METHODS, solve

EXACT_METHODS = {"exact1d"}  # no iterations to run out of
ITERATIVE = sorted(set(METHODS) - EXACT_METHODS)


@pytest.fixture
def data():
    A = np.random.default_rng(0).normal(size=(6, 2))
    return A, complete_graph(A)


# --------------------------------------------------------------------------- the data A
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), d=st.integers(1, 4), bad=st.sampled_from([np.nan, np.inf, -np.inf]), data=st.data())
def test_non_finite_data_named_by_position(n, d, bad, data):
    r = data.draw(st.integers(0, n - 1), label="row")
    c = data.draw(st.integers(0, d - 1), label="column")
    A = np.zeros((n, d))
    A[r, c] = bad
    with pytest.raises(ValueError, match=rf"NaN or inf \(first at row {r}, column {c}\); remove or impute"):
        solve(A, uniform_graph(n), 1.0, "admm")


def test_one_dimensional_data_suggests_reshape():
    with pytest.raises(ValueError, match=r"2-D .*1-D.*reshape\(-1, 1\)"):
        solve(np.arange(5.0), uniform_graph(5), 1.0)


def test_three_dimensional_data():
    with pytest.raises(ValueError, match=r"must be 2-D \(n_samples, n_features\), got 3-D"):
        solve(np.zeros((4, 2, 2)), uniform_graph(4), 1.0)


@pytest.mark.parametrize("shape", [(0, 2), (3, 0), (0, 0)])
def test_empty_data(shape):
    with pytest.raises(ValueError, match="is empty.*at least one sample and one feature"):
        solve(np.zeros(shape), uniform_graph(1), 1.0)


def test_non_numeric_data():
    with pytest.raises(ValueError, match="numeric array"):
        solve([["a", "b"]], uniform_graph(1), 1.0)


# --------------------------------------------------------------------------- gamma, graph, method, p
@pytest.mark.parametrize("gamma", [-1.0, -1e-300, np.nan, np.inf, -np.inf, "1", None, [1.0], np.ones(2), True])
def test_bad_gamma(data, gamma):
    A, G = data
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        solve(A, G, gamma, "admm")


@pytest.mark.parametrize("gamma", [0, 2, 0.5, np.float32(0.5), np.int64(3)])
def test_good_gamma_types(data, gamma):
    A, G = data
    assert solve(A, G, gamma, "admm").success


def test_graph_size_mismatch(data):
    A, _ = data
    with pytest.raises(ValueError, match="graph has 7 nodes but A has 6 rows; build the graph from the same data"):
        solve(A, uniform_graph(7), 1.0)


@pytest.mark.parametrize("graph", [np.ones((6, 6)), None, "knn"])
def test_not_a_graph(data, graph):
    A, _ = data
    with pytest.raises(ValueError, match="graph must be an advcluster Graph .*Graph.from_matrix"):
        solve(A, graph, 1.0)


@pytest.mark.parametrize("method", ["SSNAL", "newton", "", None])
def test_unknown_method_lists_the_choices(data, method):
    A, G = data
    with pytest.raises(ValueError, match=r"unknown method .*choose 'auto' or one of \['admm'"):
        solve(A, G, 1.0, method)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("p", [0, 3, np.inf, "2", None])
def test_p_outside_the_norms(data, method, p):
    A, G = data
    with pytest.raises(ValueError, match=r"p must be one of \(1, 2\)"):
        solve(A, G, 1.0, method, p=p)


@pytest.mark.parametrize("method", [m for m in sorted(METHODS) if set(METHODS[m].norms) != {1, 2}])
def test_p_unsupported_by_the_method(data, method):
    A, G = data
    p = ({1, 2} - set(METHODS[method].norms)).pop()
    with pytest.raises(ValueError, match=rf"method '{method}' supports p in .*not p={p}.*use method="):
        solve(A, G, 1.0, method, p=p)


def test_exact1d_outside_its_scope(data):
    if "exact1d" not in METHODS:
        pytest.skip("exact1d not registered")
    A, G = data
    with pytest.raises(ValueError, match="exact1d.*complete graph with equal weights.*use method="):
        solve(A, G, 1.0, "exact1d")
    with pytest.raises(ValueError, match="exact1d.*p=2.*use method='ssnal', or p=1"):
        solve(A, uniform_graph(6), 1.0, "exact1d", p=2)


# --------------------------------------------------------------------------- warm starts and options
@pytest.mark.parametrize("method", sorted(METHODS))
def test_bad_warm_start_shapes(method, data):
    A, G = data
    m = G.n_edges
    with pytest.raises(ValueError, match=r"x0 must have shape \(6, 2\), got \(6, 3\)"):
        solve(A, G, 1.0, method, x0=np.zeros((6, 3)))
    with pytest.raises(ValueError, match=rf"z0 must have shape \({m}, 2\), got \({m - 1}, 2\)"):
        solve(A, G, 1.0, method, z0=np.zeros((m - 1, 2)))
    with pytest.raises(ValueError, match="x0 contains NaN or inf; pass a finite warm start or None"):
        solve(A, G, 1.0, method, x0=np.full((6, 2), np.nan))
    with pytest.raises(ValueError, match="z0 contains NaN or inf"):
        solve(A, G, 1.0, method, z0=np.full((m, 2), np.inf))


@pytest.mark.parametrize("tol", [0, 0.0, -1e-6, np.nan, np.inf, "1e-6", None])
def test_bad_tol(data, tol):
    A, G = data
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        solve(A, G, 1.0, "admm", tol=tol)


@pytest.mark.parametrize("max_iter", [0, -3, 2.5, "10", True])
def test_bad_max_iter(data, max_iter):
    A, G = data
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        solve(A, G, 1.0, "admm", max_iter=max_iter)


def test_bad_label_options(data):
    A, G = data
    with pytest.raises(ValueError, match="unknown label_rule 'nearest'; choose one of"):
        solve(A, G, 1.0, "admm", label_rule="nearest")
    with pytest.raises(ValueError, match="label_tol must be a finite number > 0"):
        solve(A, G, 1.0, "admm", label_tol=-1.0)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_unknown_option_is_a_value_error(method):
    """A misspelt option must not be silently ignored, and the error names it."""
    A = np.random.default_rng(1).normal(size=(5, 1))
    with pytest.raises(ValueError, match="bogus_option"):
        solve(A, uniform_graph(5), 0.1, method, bogus_option=3)


@pytest.mark.parametrize(
    "method, option, value, message",
    [("admm", "max_jacobi", -1, "max_jacobi must be an integer >= 0"), ("admm", "max_jacobi", 2.5, "max_jacobi must be an integer"),
     ("admm", "cg_tol", 0.0, "cg_tol must be a finite number > 0"), ("admm", "cg_tol", np.nan, "cg_tol must be"),
     ("ssnal", "max_jacobi", -3, "max_jacobi must be an integer >= 0"),
     ("ssnal", "max_jacobi", "20", "max_jacobi must be an integer"),
     ("ssnal", "admm_tol", 0.0, "admm_tol must be a finite number > 0"), ("ssnal", "admm_tol", np.inf, "admm_tol must be"),
     ("ssnal", "admm_sigma_factor", -1.0, "admm_sigma_factor must be a finite number > 0"),
     ("ssnal", "admm_iters", -1, "admm_iters must be an integer >= 0"), ("ssnal", "admm_iters", 1.5, "admm_iters must be"),
     ("ssnal", "max_coarse", -1, "max_coarse must be an integer >= 0"), ("ssnal", "max_coarse", 2.5, "max_coarse must be"),
     ("admm", "balance_every", 0, "balance_every must be an integer >= 1")],
)
def test_bad_linear_solver_options(data, method, option, value, message):
    A, G = data
    with pytest.raises(ValueError, match=message):
        solve(A, G, 1.0, method, **{option: value})


@pytest.mark.parametrize("sigma", [0.0, -1.0, np.nan, np.inf])
def test_admm_bad_sigma(data, sigma):
    A, G = data
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        solve(A, G, 1.0, "admm", sigma=sigma)


# --------------------------------------------------------------------------- valid edge cases
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("d", [1, 3])
def test_single_point_is_valid(method, d):
    A = np.array([[1.5, -2.0, 0.25][:d]])
    G = uniform_graph(1)
    for p in METHODS[method].norms:
        if not reference.method_applies(method, A, G, p):
            continue
        res = solve(A, G, 10.0, method, p=p)
        assert res.success, res.message
        np.testing.assert_array_equal(res.centers, A)
        assert res.labels.tolist() == [0] and res.n_clusters == 1
        assert res.primal_objective == 0.0 and res.kkt_residual == 0.0


# --------------------------------------------------------------------------- running out of iterations
@pytest.mark.parametrize("method", ITERATIVE)
@pytest.mark.parametrize("seed", range(4))
def test_iteration_limit_reports_failure(method, seed):
    """Stopped by max_iter with nothing proven: success is False and the message says why; where
    the partition of the last iterate is proven instead, success means the polished answer meets tol."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(30, 2)) * 3
    G = complete_graph(A, phi=0.1)
    p = max(METHODS[method].norms)
    res = solve(A, G, 0.05, method, p=p, max_iter=2, tol=1e-14, certify=False)
    assert res.success is False
    assert res.n_iter <= 2
    assert res.message and "max_iter" in res.message, res.message
    assert res.kkt_residual > 1e-14
    assert np.all(np.isfinite(res.centers)) and np.all(np.isfinite(res.dual))
    assert "NOT CONVERGED" in res.summary()
    proven = solve(A, G, 0.05, method, p=p, max_iter=2, tol=1e-14)
    assert "max_iter" in proven.message
    assert proven.success == (proven.labels_certified and proven.kkt_residual <= 1e-14
                              and proven.duality_gap <= 1e-14), proven.message
