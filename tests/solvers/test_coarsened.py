"""The groups' fused problem with coinciding centres allowed, and warm starts proven through it
(docs/partitions.md, section 7).

:meth:`FusedProblem.coarsened` is checked against cvxpy + Clarabel: on groups that refine the
reference partition its centres are the full problem's solution, and on any groups they are
those of the restricted problem modelled independently.  Warm starts along increasing gammas
(clusters merge) are proven through it without iterations on some instances, and every
partition so proven is the independent reference's (:func:`reference.reference_partition`).
"""

from __future__ import annotations

import numpy as np
import pytest

import reference
from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

from advcluster.graph import carry_edges, complete_graph, knn_graph, uniform_graph
from advcluster.solvers import clusterpath, solve
from advcluster.solvers.fused import FusedProblem

N_INSTANCES = 24


def instance(seed):
    """``(A, graph, gammas, kind)``: blobs, a weight graph and an increasing grid of gammas."""
    rng = np.random.default_rng(4000 + seed)
    kind = ("uniform", "complete", "knn")[seed % 3]
    d = (1, 2, 3, 5)[(seed // 3) % 4]
    n = int(rng.integers(12, 30))
    centres = rng.normal(size=(int(rng.integers(2, 5)), d)) * 3
    A = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, d))
    sq = float(np.median(((A[:, None] - A[None]) ** 2).sum(-1)))
    graph = (uniform_graph(n) if kind == "uniform" else complete_graph(A, phi=1 / sq) if kind == "complete"
             else knn_graph(A, k=4, phi=1 / sq))
    top = 2 * float(np.sqrt(np.sum((A - A.mean(0)) ** 2))) / float(graph.weights.sum())
    return A, graph, top * np.geomspace(10**-2.5, 10**-0.3, 8), kind


@pytest.mark.parametrize("seed", range(16))
def test_coarsened_centres_on_a_refinement_are_the_exact_solution(seed):
    A, graph, gammas, kind = instance(seed)
    gamma = gammas[seed % len(gammas)]
    labels, X_ref = reference.reference_partition(A, graph, gamma)
    if labels is None:
        pytest.skip("the reference cannot decide this instance's partition")
    rng = np.random.default_rng(seed)
    finer = labels * 3 + rng.integers(0, 3, labels.size)  # each cluster cut into up to three groups, any way
    finer = np.unique(finer, return_inverse=True)[1].ravel()
    c, ok = FusedProblem(A, graph, gamma, finer).coarsened()
    assert ok
    spread = reference.unit_spread(A)[1]
    where = f"instance {seed} ({kind}, d={A.shape[1]}, gamma={gamma:.4g})"
    assert np.abs(c[finer] - X_ref).max() <= 1e-6 * spread, where


@pytest.mark.parametrize("seed", range(8))
def test_coarsened_centres_on_any_groups_solve_the_restricted_problem(seed):
    A, graph, gammas, kind = instance(seed)
    gamma = gammas[(3 * seed) % len(gammas)]
    rng = np.random.default_rng(100 + seed)
    labels = np.unique(rng.integers(0, max(2, A.shape[0] // 3), A.shape[0]), return_inverse=True)[1].ravel()
    c, ok = FusedProblem(A, graph, gamma, labels).coarsened()
    assert ok
    c_ref = reference.restricted_reference(A, graph, gamma, labels)
    assert np.abs(c - c_ref).max() <= 1e-6 * reference.unit_spread(A)[1], f"instance {seed} ({kind})"


_PATHS: dict = {}


def path(seed):
    """Each gamma of the instance's grid solved warm from the one before: by ``clusterpath`` (the
    full flow search) on even seeds, by ``solve`` in a loop (projections only) on odd ones."""
    if seed not in _PATHS:
        A, graph, gammas, kind = instance(seed)
        if seed % 2 == 0:
            results = clusterpath(A, graph, gammas)
        else:
            results, x0, z0 = [], None, None
            for g, g_next in zip(gammas, list(gammas[1:]) + [None]):
                res = solve(A, graph, g, x0=x0, z0=z0)
                results.append(res)
                x0, z0 = res.centers, (res.dual * (g_next / g) if g_next else None)
        _PATHS[seed] = (A, graph, gammas, kind, results)
    return _PATHS[seed]


MERGED = "partition the warm start's groups merge into"
NO_ITERATIONS = "is proven for these data: no iterations"


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_partitions_proven_by_merging_the_warm_start_are_the_reference(seed):
    """Every warm start proven with no iteration, merged or as it was (along a clusterpath the
    merged candidate comes first, and keeps the old groups where none merge), is the reference."""
    A, graph, gammas, kind, results = path(seed)
    for g, res in zip(gammas, results):
        if NO_ITERATIONS not in res.message:
            continue
        where = f"instance {seed} ({kind}, d={A.shape[1]}, gamma={g:.4g}): {res.message}"
        assert res.n_iter == 0, where
        reference.assert_reference(A, graph, g, res, where)


@pytest.mark.slow
def test_clusterpaths_prove_the_old_partition_through_the_cone_program(monkeypatch):
    """Along a clusterpath the warm start's groups go to their cone program first; where none
    merge, the old partition is that route's candidate.  The old partition's own quick proof
    runs only after the route fails, and unchanged partitions are proven without iterations."""
    from advcluster.solvers import certificate

    calls = []
    coarsened, prove = certificate.prove_coarsened, certificate.prove

    def logged_coarsened(*args, **kwargs):
        out = coarsened(*args, **kwargs)
        calls.append(("coarsened", out[0] is not None))
        return out

    def logged_prove(*args, **kwargs):
        if kwargs.get("shown_only"):
            calls.append(("shown", None))
        return prove(*args, **kwargs)

    monkeypatch.setattr(certificate, "prove_coarsened", logged_coarsened)
    monkeypatch.setattr(certificate, "prove", logged_prove)
    kept = 0
    for seed in range(0, 8, 2):
        A, graph, gammas, kind = instance(seed)
        results = clusterpath(A, graph, gammas)
        shown = [k for k, c in enumerate(calls) if c[0] == "shown"]
        assert all(k > 0 and calls[k - 1] == ("coarsened", False) for k in shown), (seed, calls)
        kept += sum(r.n_iter == 0 and r.n_clusters == q.n_clusters for q, r in zip(results, results[1:]))
        calls.clear()
    assert kept >= 3, kept


@pytest.mark.slow
def test_merging_the_warm_start_is_exercised_on_every_kind_of_graph():
    merged = {(s, k) for s in range(N_INSTANCES) for k, r in enumerate(path(s)[4]) if MERGED in r.message}
    assert len(merged) >= 10, merged
    assert {path(s)[3] for s, _ in merged} == {"uniform", "complete", "knn"}
    assert {s % 2 for s, _ in merged} == {0, 1}  # with the full search and with projections only
    for s, k in merged:  # the partition changed: the previous gamma's was not proven again
        assert path(s)[4][k].n_clusters < path(s)[4][k - 1].n_clusters


def test_two_clusters_that_meet_at_the_next_gamma_are_proven_merged():
    rng = np.random.default_rng(7)
    A = np.concatenate([rng.normal(size=(10, 2)) * 0.1 + [0, 0], rng.normal(size=(10, 2)) * 0.1 + [1, 0],
                        rng.normal(size=(10, 2)) * 0.1 + [9, 0]])
    graph = uniform_graph(30)
    low = solve(A, graph, 0.04)
    assert low.n_clusters == 3
    high = solve(A, graph, 0.06, x0=low.centers, z0=low.dual * 1.5)  # the first two blobs fuse near 0.045
    cold = solve(A, graph, 0.06)
    assert cold.n_clusters == 2 and cold.labels_certified
    assert MERGED in high.message and high.n_iter == 0
    np.testing.assert_array_equal(high.labels, cold.labels)
    np.testing.assert_allclose(high.centers, cold.centers, rtol=0, atol=1e-9)


SPLIT = "once split around the edges their flows overloaded"
N_MOVES = 40


def moved(seed):
    """``(A, graph, gamma, warm)``: standardised half-moons (n = 100, kNN k = 6) with 5 rows moved,
    solved warm from the clean data's answer at the same gamma, the graph rebuilt."""
    from sklearn.datasets import make_moons

    rng = np.random.default_rng(5000 + seed)
    A0 = make_moons(100, noise=0.1, random_state=seed)[0]
    A0 = (A0 - A0.mean(0)) / A0.std(0)
    A1 = A0.copy()
    rows = rng.choice(100, 5, replace=False)
    A1[rows] += rng.normal(size=(5, 2)) * 0.1
    G0, G1 = knn_graph(A0, k=6, phi=0.5), knn_graph(A1, k=6, phi=0.5)
    gamma = 10 ** rng.uniform(-0.5, 0.5)
    clean = solve(A0, G0, gamma)
    warm = solve(A1, G1, gamma, x0=clean.centers, z0=carry_edges(clean.dual, G0.edges, G1))
    return A1, G1, gamma, warm


@pytest.mark.slow
def test_moved_rows_proven_by_splitting_and_merging_the_warm_start_are_the_reference():
    split = merged = 0
    for seed in range(N_MOVES):
        A, G, gamma, warm = moved(seed)
        if MERGED not in warm.message:
            continue
        split += SPLIT in warm.message
        merged += SPLIT not in warm.message
        where = f"instance {seed} (gamma={gamma:.4g}): {warm.message}"
        assert warm.n_iter == 0, where
        reference.assert_reference(A, G, gamma, warm, where)
    assert split >= 3 and merged >= 3, (split, merged)  # both ways are exercised


MOVED = "whose balance the new data break split off first"


def shifted(seed):
    """``(A, graph, gamma, warm)``: standardised half-moons (n = 300, kNN k = 6) with one feature of
    three rows shifted (the paper's attack pattern), solved warm from the clean data's answer at
    the same gamma, the graph rebuilt."""
    from sklearn.datasets import make_moons

    rng = np.random.default_rng(9000 + seed)
    A0 = make_moons(300, noise=0.1, random_state=seed)[0]
    A0 = (A0 - A0.mean(0)) / A0.std(0)
    A1 = A0.copy()
    A1[rng.choice(300, 3, replace=False), int(rng.integers(2))] += rng.uniform(-0.5, 0.5)
    G0, G1 = knn_graph(A0, k=6, phi=0.5), knn_graph(A1, k=6, phi=0.5)
    gamma = 10 ** rng.uniform(-0.5, 0.5)
    clean = solve(A0, G0, gamma)
    return A1, G1, gamma, solve(A1, G1, gamma, x0=clean.centers, z0=carry_edges(clean.dual, G0.edges, G1))


@pytest.mark.slow
def test_warm_starts_with_their_few_moved_points_split_off_are_the_reference():
    """A few shifted rows break the warm start's balance at a few points: those start single in
    the cone program, and every partition proven that way is the reference's."""
    proven = 0
    for seed in range(60):
        A, G, gamma, warm = shifted(seed)
        if MOVED not in warm.message:
            continue
        proven += 1
        where = f"instance {seed} (gamma={gamma:.4g}): {warm.message}"
        assert warm.n_iter == 0, where
        reference.assert_reference(A, G, gamma, warm, where)
    assert proven >= 6, proven  # 9 of the 60


@pytest.mark.parametrize("seed", range(12))
def test_unbalanced_points_are_where_the_data_or_the_graph_changed(seed):
    """The points :func:`certificate.unbalanced` finds, for a clean solution carried to moved
    data and their rebuilt graph, are moved rows or ends of edges added or dropped (the rest
    balance to the solve's accuracy), and include every row moved by more than twice the cut
    whose edges did not change."""
    from advcluster.solvers import certificate
    from advcluster.solvers.core import CHANGED_CUT

    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 120))
    A0 = rng.normal(size=(n, 2)) + 4 * rng.integers(0, 3, (n, 1))
    A0 = (A0 - A0.mean(0)) / reference.unit_spread(A0)[1]
    rows = rng.choice(n, 4, replace=False)
    A1 = A0.copy()
    A1[rows] += rng.normal(size=(4, 2)) * 10 ** rng.uniform(-3, -1)
    G0, G1 = knn_graph(A0, k=6, phi=0.5), knn_graph(A1, k=6, phi=0.5)
    gamma = float(10 ** rng.uniform(-2, -0.5))
    clean = solve(A0, G0, gamma, tol=1e-9)
    assert clean.labels_certified
    found = certificate.unbalanced(A1, G1, clean.centers, carry_edges(clean.dual, G0.edges, G1), CHANGED_CUT)
    old, new = {tuple(e) for e in G0.edges}, {tuple(e) for e in G1.edges}
    edge_changed = np.zeros(n, dtype=bool)
    edge_changed[[v for e in old ^ new for v in e]] = True
    moved = np.zeros(n, dtype=bool)
    moved[rows] = True
    assert not np.any(found & ~moved & ~edge_changed), np.flatnonzero(found & ~moved & ~edge_changed)
    far = moved & ~edge_changed
    far[rows[np.linalg.norm(A1[rows] - A0[rows], axis=1) <= 2 * CHANGED_CUT]] = False
    assert np.all(found[far]), np.flatnonzero(far & ~found)


FINE = "partition found by merging the groups of the closest centres"


@pytest.mark.slow
def test_cold_solves_proven_by_merging_their_finest_groups_are_the_reference():
    """Half-moons near their fusion thresholds, where a solve at tol 1e-6 shows no gap in its edge
    lengths: before re-solving, the finest groups are merged by their cone program (and split
    once); every partition proven that way is the independent reference's."""
    from sklearn.datasets import make_moons

    proven = 0
    for seed in range(120):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(130, 180))
        A = make_moons(n, noise=0.1, random_state=seed)[0]
        G = knn_graph(A, k=6, phi=0.5)
        gamma = 10 ** rng.uniform(-1.4, -1)
        res = solve(A, G, gamma)
        if FINE not in res.message:
            continue
        proven += 1
        where = f"seed {seed} (n={n}, gamma={gamma:.4g}): {res.message}"
        assert "re-solved" not in res.message, where
        reference.assert_reference(A, G, gamma, res, where)
    assert proven >= 5, proven


def test_programs_too_large_to_factorise_are_declined_and_the_solve_still_proves():
    """Wide data with many pairs of groups (30-D, every pair joined) fill the cone program's
    factorisation in: ``coarsened`` declines it (``ok`` False) instead of running for minutes,
    and a solve falls back on its other routes to a proof."""
    from advcluster.solvers import certificate
    from advcluster.solvers.fused import COARSE_MAX_WORK

    rng = np.random.default_rng(3)
    A = rng.normal(size=(30, 30))
    graph = complete_graph(A, phi=1 / 60.0)
    labels = np.arange(30)
    fp = FusedProblem(A, graph, 0.01, labels)
    assert fp.pa.size * 31**2 > COARSE_MAX_WORK
    c, ok = fp.coarsened()
    assert not ok
    proof, split = certificate.prove_coarsened(A, graph, 0.01, labels, np.zeros((graph.n_edges, 30)), 0.0)
    assert proof is None and not split
    res = solve(A, graph, 0.01)
    reference.assert_reference(A, graph, 0.01, res, res.message)
