"""Warm re-solves after small perturbations (docs/partitions.md, section 6).

A solve given ``x0`` first tries to prove the partition ``x0`` shows for the new data; where
that proof holds it returns the exact solution with no iteration, else it iterates from the
warm start as before.  Checked against the independent reference (cvxpy + Clarabel and a
second conic program for the partition, :func:`reference.reference_partition`) on random
perturbations of random instances: a partition proven from a warm start is the reference's,
and some warm starts are proven (the path is exercised); wrong warm starts are never proven.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference
from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

from advcluster.graph import carry_edges, complete_graph, knn_graph, uniform_graph
from advcluster.solvers import solve

N_INSTANCES = 40


def perturbed_instance(seed):
    """``(A0, A1, graph0, graph1, gamma, kind)``: clean data, a few rows moved, their graphs."""
    rng = np.random.default_rng(1000 + seed)
    kind = ("uniform", "complete", "knn", "knn-kept")[seed % 4]
    d = (1, 2, 3, 5)[(seed // 4) % 4]
    n = int(rng.integers(10, 30))
    centres = rng.normal(size=(int(rng.integers(2, 5)), d)) * 3
    A0 = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, d))
    A1 = A0.copy()
    rows = rng.choice(n, int(rng.integers(1, 3)), replace=False)
    A1[rows] += rng.normal(size=(rows.size, d)) * 10 ** (rng.uniform(-4, -1) if seed % 3 else rng.uniform(0, 1))
    sq = float(np.median(((A0[:, None] - A0[None]) ** 2).sum(-1)))

    def graph(A):
        if kind == "uniform":
            return uniform_graph(n)
        if kind == "complete":
            return complete_graph(A, phi=1 / sq)
        return knn_graph(A, k=4, phi=1 / sq)

    G0 = graph(A0)
    G1 = G0 if kind == "knn-kept" else graph(A1)
    top = 2 * float(np.sqrt(np.sum((A0 - A0.mean(0)) ** 2))) / float(G0.weights.sum())
    gamma = top * 10 ** rng.uniform(-2.5, -0.3)
    return A0, A1, G0, G1, gamma, kind


_CASES: dict = {}


def case(seed):
    if seed not in _CASES:
        A0, A1, G0, G1, gamma, kind = perturbed_instance(seed)
        clean = solve(A0, G0, gamma)
        warm = solve(A1, G1, gamma, x0=clean.centers, z0=carry_edges(clean.dual, G0.edges, G1))
        labels, X_ref = reference.reference_partition(A1, G1, gamma)
        _CASES[seed] = (A1, G1, gamma, kind, clean, warm, labels, X_ref)
    return _CASES[seed]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_warm_answers_equal_the_reference(seed):
    A, G, gamma, kind, clean, warm, labels, X_ref = case(seed)
    where = f"instance {seed} ({kind}, d={A.shape[1]}, gamma={gamma:.4g}): {warm.message}"
    if not warm.labels_certified:
        assert warm.n_undecided > 0, where
        return
    assert warm.success and warm.kkt_residual <= warm.tol and warm.duality_gap <= warm.tol, where
    if labels is not None:
        np.testing.assert_array_equal(warm.labels, labels, err_msg=where)
    if X_ref is not None:
        spread = reference.unit_spread(A)[1]
        assert np.abs(warm.centers - X_ref).max() <= 1e-5 * spread, where
        f, f_ref = (reference.objective(A, G, gamma, X, 2) for X in (warm.centers, X_ref))
        assert f <= f_ref + 1e-12 * (spread**2 + abs(f_ref)), where


@pytest.mark.slow
def test_warm_starts_are_proven_where_the_partition_holds_and_iterate_where_it_changes():
    proven = [s for s in range(N_INSTANCES) if case(s)[5].n_iter == 0]
    changed = [s for s in range(N_INSTANCES)
               if case(s)[6] is not None and not np.array_equal(case(s)[4].labels, case(s)[6])]
    assert len(proven) >= N_INSTANCES // 4, proven  # the path is exercised on every kind of graph
    assert {case(s)[3] for s in proven} == {"uniform", "complete", "knn", "knn-kept"}
    assert changed, "no instance changes its partition: the fallback is not exercised"
    for s in changed:  # the clean partition is wrong there: never proven, always iterated
        assert case(s)[5].n_iter > 0
    for s in proven:
        assert "warm start's partition is proven" in case(s)[5].message


@pytest.mark.parametrize("seed", range(12))
def test_a_wrong_warm_start_is_not_proven(seed):
    """A warm start from another gamma (another partition) iterates, and ends where a cold
    solve does."""
    rng = np.random.default_rng(seed)
    A = np.concatenate([rng.normal(size=(8, 2)), rng.normal(size=(8, 2)) + 6])
    G = knn_graph(A, k=5, phi=0.1)
    cold = solve(A, G, 0.05)
    other = solve(A, G, 5.0)  # far fewer clusters
    assert other.n_clusters < cold.n_clusters
    warm = solve(A, G, 0.05, x0=other.centers, z0=other.dual * 0.01)
    assert warm.n_iter > 0 and warm.labels_certified
    np.testing.assert_array_equal(warm.labels, cold.labels)


def test_the_exact_warm_start_is_proven_without_iterations():
    rng = np.random.default_rng(3)
    A = np.concatenate([rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + 5])
    G = knn_graph(A, k=6)
    cold = solve(A, G, 2.0)
    again = solve(A, G, 2.0, x0=cold.centers, z0=cold.dual)
    assert again.n_iter == 0 and again.labels_certified and again.success
    np.testing.assert_array_equal(again.labels, cold.labels)
    np.testing.assert_allclose(again.centers, cold.centers, rtol=0, atol=1e-12 * np.abs(A).max())
    # without a proof asked for, nothing is proven and the start is iterated from
    plain = solve(A, G, 2.0, x0=cold.centers, z0=cold.dual, certify=False)
    assert not plain.labels_certified


def test_a_run_continued_from_where_it_stopped_needs_fewer_outer_iterations():
    """ssnal hands back its next penalty (``Iterate.resume``), which the partition proof's
    tighter re-solves continue from.  Continued, a run reaches the tighter tol in no more outer
    iterations than one restarted at the default penalty from the same point (fewer in all),
    at the reference's objective (cvxpy + Clarabel)."""
    from advcluster.solvers import ssnal

    continued_total = restarted_total = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        d, n = (2, 5)[seed % 2], int(rng.integers(60, 120))
        A = rng.normal(size=(4, d))[rng.integers(0, 4, n)] * 3 + rng.normal(size=(n, d))
        A = (A - A.mean(0)) / np.sqrt((A**2).sum() / n)
        G = knn_graph(A, k=6, phi=0.5)
        gamma = 10 ** rng.uniform(-2, -0.5)
        run = dict(p=2, max_iter=None, verbose=False)
        first = ssnal.run(A, G, gamma, tol=1e-5, x0=None, z0=None, **run)
        assert first.converged and first.resume["sigma"] >= first.history[-1]["sigma"]
        continued = ssnal.run(A, G, gamma, tol=1e-9, x0=first.X, z0=first.Z, **run, **first.resume)
        restarted = ssnal.run(A, G, gamma, tol=1e-9, x0=first.X, z0=first.Z, **run)
        assert continued.converged and restarted.converged
        assert continued.n_iter <= restarted.n_iter, seed
        continued_total, restarted_total = continued_total + continued.n_iter, restarted_total + restarted.n_iter
        X_ref, f_ref = reference.cvxpy_solve(A, G, gamma, 2)
        f = reference.objective(A, G, gamma, continued.X, 2)
        assert abs(f - f_ref) <= 1e-7 * (1 + abs(f_ref)), (seed, f, f_ref)
    assert continued_total < restarted_total
