"""The structure-aware attack (merge-split) and optimizer='auto'.

The margins are checked against loops over the definitions; every flip the attack claims is
re-checked by a fresh cold solve (partition proven); and no flip may be smaller than the
certified radius, a lower bound proven independently (Theorem 2): a smaller one would expose
an unsound certificate or a wrong attack.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from advcluster import (
    BL1,
    BL2,
    Additive,
    ConvexClusteringModel,
    FeatureShift,
    Injection,
    Pointwise,
    SklearnClusterer,
    attack,
    certified_radius,
    complete_graph,
    knn_graph,
    recovery_bounds,
    solve,
    uniform_graph,
)
from advcluster.attacks.core import choose_optimizer
from advcluster.attacks.structure import merge_margins, split_margins
from advcluster.deviation import deviation


def _graph_weight(graph, inside_a, inside_b):
    """Total weight of the edges with one end in each mask, by a loop over the edges."""
    total = 0.0
    for (i, j), w in zip(graph.edges, graph.weights):
        if (inside_a[i] and inside_b[j]) or (inside_a[j] and inside_b[i]):
            total += w
    return total


@pytest.mark.parametrize("seed", range(6))
def test_margins_follow_their_definitions(seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(25, 3))
    labels = rng.integers(0, 4, 25)
    labels = np.unique(labels, return_inverse=True)[1]
    graph, gamma = knn_graph(A, 5), rng.uniform(0.1, 2)
    got = {(a, b): m for a, b, m in merge_margins(A, labels, graph, gamma)}
    k = labels.max() + 1
    assert len(got) == k * (k - 1) // 2
    for a in range(k):
        for b in range(a + 1, k):
            na, nb = np.sum(labels == a), np.sum(labels == b)
            expect = (np.linalg.norm(A[labels == a].mean(0) - A[labels == b].mean(0))
                      - gamma * _graph_weight(graph, labels == a, labels == b) * (1 / na + 1 / nb))
            assert got[(a, b)] == pytest.approx(expect, rel=1e-12, abs=1e-12)
    assert [m for _, _, m in merge_margins(A, labels, graph, gamma)] == sorted(got.values())
    # No graph: one cut per cluster, at the median of its principal axis.
    for c, half, axis, m in split_margins(A, labels):
        idx = np.flatnonzero(labels == c)
        X = A[idx] - A[idx].mean(0)
        top = np.linalg.eigh(X.T @ X)[1][:, -1]  # the principal axis, by the eigenvectors
        assert abs(abs(axis @ top) - 1) < 1e-8
        proj = X @ axis
        np.testing.assert_array_equal(half, proj > np.median(proj))
        assert m == pytest.approx(-np.linalg.norm(A[idx[half]].mean(0) - A[idx[~half]].mean(0)), rel=1e-12)
    # A graph: the sweeps' cuts, each margin as defined, and no prefix along the principal axis
    # (the median cut among them) with a smaller one.
    cuts = split_margins(A, labels, graph, gamma)
    assert [m for *_, m in cuts] == sorted(m for *_, m in cuts)
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        mine = [(half, step, m) for cc, half, step, m in cuts if cc == c]
        assert bool(mine) == (idx.size >= 2)
        if idx.size < 2:
            continue
        for half, step, m in mine:
            one, two = np.zeros(25, bool), np.zeros(25, bool)
            one[idx[half]], two[idx[~half]] = True, True
            apart = A[one].mean(0) - A[two].mean(0)
            expect = gamma * _graph_weight(graph, one, two) * (1 / one.sum() + 1 / two.sum()) - np.linalg.norm(apart)
            assert m == pytest.approx(expect, rel=1e-9, abs=1e-12)
            np.testing.assert_allclose(step, apart / np.linalg.norm(apart), atol=1e-12)
        X = A[idx] - A[idx].mean(0)
        order = np.argsort(X @ np.linalg.eigh(X.T @ X)[1][:, -1])
        for t in range(1, idx.size):
            one, two = np.zeros(25, bool), np.zeros(25, bool)
            one[idx[order[:t]]], two[idx[order[t:]]] = True, True
            prefix = gamma * _graph_weight(graph, one, two) * (1 / t + 1 / (idx.size - t)) - np.linalg.norm(
                A[one].mean(0) - A[two].mean(0))
            assert min(m for *_, m in mine) <= prefix + 1e-9


def _certified_instances(count, weights):
    """Blob data whose clean partition has a positive certified radius at a gamma inside the
    recovery range: ``(A, gamma, labels, radius, graph builder for fresh solves)``."""
    out = []
    for seed in range(200):
        n = 15 + seed % 10
        A, y = make_blobs(n, centers=3, cluster_std=0.3, random_state=seed, center_box=(-10, 10))
        graph = uniform_graph(n) if weights == "uniform" else complete_graph(A, 0.05)
        rb = recovery_bounds(A, y, graph)
        if not 0 < rb.gamma_min < rb.gamma_max:
            continue
        gamma = float(np.sqrt(rb.gamma_min * rb.gamma_max))
        labels = solve(A, graph, gamma).labels
        cr = certified_radius(A, labels, uniform_graph(n) if weights == "uniform" else complete_graph, gamma,
                              method="best")
        if cr.radius > 0:
            out.append((A, gamma, labels, cr.radius))
        if len(out) == count:
            return out
    raise AssertionError(f"only {len(out)} certified instances")


@pytest.mark.parametrize("weights", ["uniform", "complete"])
def test_claimed_flips_are_real_and_never_below_the_certified_radius(weights):
    found = 0
    for seed, (A, gamma, labels, radius) in enumerate(_certified_instances(8, weights)):
        n = len(A)
        model = ConvexClusteringModel(gamma, weights=weights, phi=0.05)
        problem = BL2(model, A, Pointwise(ord="point"), target=1, deviation="delta", max_norm=3.0)
        np.testing.assert_array_equal(problem.reference.labels, labels)
        res = attack(problem, "merge-split", max_evals=60, random_state=seed)
        if not (res.feasible and res.success):  # no claim: no flip found, or its partition not proven
            continue
        found += 1
        # A fresh cold solve; the answer ends a bisection within 1e-3 of a breakpoint, where a cold
        # solve may lack the rounding room to prove its partition: then a step past the bracket.
        for factor in (1.0, 1 + 1e-4, 1 + 1e-3):
            B = A + factor * res.E
            graph = uniform_graph(n) if weights == "uniform" else complete_graph(B, 0.05)
            fresh = solve(B, graph, gamma)
            if fresh.labels_certified:
                break
        assert fresh.labels_certified
        assert deviation(labels, fresh.labels, "delta") >= 1  # the flip is real
        assert res.norm == pytest.approx(np.linalg.norm(res.E, axis=1).max(), rel=1e-12)
        assert res.norm >= radius * (1 - 1e-9)  # the certificate is a lower bound
    assert found >= 6


@pytest.mark.parametrize("name", ["kmeans", "convex"])
def test_merge_split_bl1_is_feasible_recomputed_and_deterministic(name):
    A = make_blobs(40, centers=3, cluster_std=1.0, random_state=1)[0]

    def model():
        return SklearnClusterer(KMeans(3, n_init=3, random_state=0)) if name == "kmeans" else \
            ConvexClusteringModel(2.0, k=6)

    def run(n_jobs):
        problem = BL1(model(), A, Pointwise(index=range(0, 40, 2), ord="inf"), budget=0.5, deviation="ari")
        return problem, attack(problem, "merge-split", random_state=0, max_evals=40, n_jobs=n_jobs)

    (_, one), (_, two) = run(1), run(2)
    np.testing.assert_array_equal(one.theta, two.theta)
    assert [e.value for e in one.history] == [e.value for e in two.history]
    assert one.success and one.n_evals == 40 and np.abs(one.E).max() <= 0.5 * (1 + 1e-12)
    assert np.all(one.E[1::2] == 0)  # only the allowed rows move
    fresh = model()
    clean = fresh.reference(A).labels
    after = fresh.respond(A + one.E).labels
    assert one.deviation == pytest.approx(1 - deviation(clean, after, "ari"), abs=1e-12)
    assert one.deviation == max(e.value for e in one.history)


def test_merge_split_beats_its_own_first_phase_never_loses_it():
    """The combination, the random corners and the local search only ever keep improvements:
    the answer is at least that of the screen and line searches on the same evaluations, and
    at least every screened direction's."""
    A = make_blobs(40, centers=4, cluster_std=1.2, random_state=3)[0]
    model = ConvexClusteringModel(1.5, k=6)
    problem = BL1(model, A, Pointwise(ord="point"), budget=0.4, deviation="ari")
    short = attack(problem, "merge-split", max_evals=80, refine=False)
    full = attack(problem, "merge-split", random_state=0, max_evals=80)
    assert full.n_evals == 80 and short.n_evals < 80
    assert full.deviation >= max(e.value for e in short.history) == short.deviation


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda m, A: BL1(m, A, Additive([0, 1], [0]), 1.0), "staircase"),
        (lambda m, A: BL2(m, A, Additive([0, 1], [0]), 1, max_norm=2.0), "staircase"),
        (lambda m, A: BL1(m, A, Pointwise([0, 1], [0, 1]), 1.0), "merge-split"),
        (lambda m, A: BL2(m, A, Pointwise([0, 1]), 1, max_norm=2.0), "merge-split"),
        (lambda m, A: BL1(m, A, Injection(2), 1.0), "capture-bridge"),
        (lambda m, A: BL2(m, A, Injection(2), 1, max_norm=2.0), "random"),
        (lambda m, A: BL1(m, A, FeatureShift(ord="inf", bounds=(-1, 1)), 1.0), "random"),
    ],
)
def test_auto_picks_by_the_threat_model_and_says_so(make, expect):
    A = make_blobs(30, centers=3, random_state=0)[0]
    problem = make(SklearnClusterer(KMeans(3, n_init=2, random_state=0)), A)
    assert choose_optimizer(problem)[0] == expect
    res = attack(problem, random_state=0, max_evals=12)
    assert res.optimizer == expect and res.message.startswith(f"optimizer 'auto' chose {expect} (")
    same = attack(problem, expect, random_state=0, max_evals=12)
    np.testing.assert_array_equal(res.theta, same.theta)
    assert res.deviation == same.deviation


def test_auto_names_its_choice_when_options_do_not_fit():
    A = make_blobs(30, centers=3, random_state=0)[0]
    problem = BL1(SklearnClusterer(KMeans(3, n_init=2, random_state=0)), A, Pointwise([0, 1]), 1.0)
    with pytest.raises(ValueError, match=r"optimizer 'auto' chose 'merge-split' \(one parameter per entry"):
        attack(problem, num=5)
    with pytest.raises(ValueError, match="pairs must be an integer >= 0"):
        attack(problem, "merge-split", pairs=-1)
    with pytest.raises(ValueError, match="rtol must be a number in"):
        attack(problem, "merge-split", rtol=2.0)


def test_auto_answers_where_its_choice_finds_nothing_to_do():
    """One clean cluster: no link to bridge, no pair to merge or cluster to move towards; the
    search still spends the evaluations, ending with the local search, within the threat model."""
    from sklearn.cluster import DBSCAN

    A = make_blobs(40, centers=1, random_state=0)[0]
    model = SklearnClusterer(DBSCAN(eps=5.0))
    for pert in (Injection(2, ord="count"), Pointwise(index=[0, 1], ord="inf")):
        res = attack(BL1(model, A, pert, 2.0), max_evals=10, random_state=0)
        assert res.n_evals == 10 and res.feasible and res.success
        assert "local search" in res.message


def _sign_rows(V, rows):
    E = np.zeros_like(V)
    E[rows] = np.sign(V[rows])
    return E


def test_merge_split_bl1_screens_the_documented_moves_at_the_budget_edge():
    """BL1's first evaluations are the general moves at the l_inf budget's edge, each recomputed
    here from the clean K-means labels: towards the nearest other mean (largest entry at the
    budget, then by signs), along the link between cluster means, away from the nearest point
    and away from the own mean (by signs)."""
    A = make_blobs(45, centers=3, cluster_std=1.5, random_state=4)[0]
    rows = np.arange(0, 45, 3)
    budget = 0.3
    model = SklearnClusterer(KMeans(3, n_init=3, random_state=0))
    problem = BL1(model, A, Pointwise(index=rows, ord="inf"), budget, deviation="ari")
    res = attack(problem, "merge-split", random_state=0, max_evals=40)
    labels = KMeans(3, n_init=3, random_state=0).fit(A).labels_
    means = np.stack([A[labels == c].mean(axis=0) for c in range(3)])
    to_means = np.linalg.norm(A[:, None] - means[None], axis=2)
    to_means[np.arange(45), labels] = np.inf
    target = to_means.argmin(axis=1)
    towards = means[target] - A
    dist = np.linalg.norm(A[:, None] - A[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    scaled = np.zeros_like(A)
    scaled[rows] = towards[rows] / np.abs(towards[rows]).max(axis=1, keepdims=True)
    expected = [scaled, _sign_rows(towards, rows), _sign_rows(means[target] - means[labels], rows),
                _sign_rows(A - A[dist.argmin(axis=1)], rows), _sign_rows(A - means[labels], rows)]
    for evaluation, E in zip(res.history, expected):
        np.testing.assert_allclose(problem.perturbation.matrix(evaluation.theta), budget * E, atol=1e-12)
    assert res.n_evals == 40 and res.deviation == max(e.value for e in res.history)


@pytest.mark.parametrize("evals", [1, 2, 3, 5, 8, 13, 21, 40])
def test_merge_split_bl1_ends_its_steps_within_any_evaluation_budget(evals):
    """The screen, the line searches, the combination, the corners and the local search share
    ``max_evals``: the search spends all of them and ends on its own (success), never cut off."""
    A = make_blobs(40, centers=4, cluster_std=1.0, random_state=2)[0]
    for model, pert in ((SklearnClusterer(KMeans(4, n_init=2, random_state=0)), Pointwise(index=range(10), ord="inf")),
                        (ConvexClusteringModel(1.0, k=6), Pointwise(ord="point"))):
        res = attack(BL1(model, A, pert, 0.4, deviation="ari"), "merge-split", random_state=1, max_evals=evals)
        assert res.n_evals == evals and res.success and res.feasible, res.message


def test_merge_split_corners_option():
    A = make_blobs(30, centers=3, random_state=0)[0]
    problem = BL1(SklearnClusterer(KMeans(3, n_init=2, random_state=0)), A, Pointwise([0, 1], ord="inf"), 0.5)
    with pytest.raises(ValueError, match=r"corners must be a number in \[0, 1\]"):
        attack(problem, "merge-split", corners=1.5)
    without = attack(problem, "merge-split", corners=0.0, max_evals=20, random_state=0)
    assert "random corners" not in without.message and without.n_evals == 20
    # Without max_evals nothing is left to spend on refinements: the steps before them run.
    unbounded = attack(problem, "merge-split", random_state=0)
    assert unbounded.success and "local search" not in unbounded.message
