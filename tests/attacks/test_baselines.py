"""The literature's attacks (attacks/baselines.py): each paper's qualitative claim on small data,
and the bar every optimizer meets (feasible, recomputed, deterministic, independent of n_jobs).

Recomputations are fresh scikit-learn fits of the perturbed data, independent of the attack's
models and caches.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from advcluster import BL1, Additive, Injection, Multiplicative, Pointwise, SklearnClusterer, attack
from advcluster.attacks import OPTIMIZERS
from advcluster.attacks.baselines import closest_links

KMEANS = KMeans(2, n_init=3, random_state=0)


def _two_blobs(seed, n=100):
    return make_blobs(n, centers=[[0, 0], [2.5, 0]], cluster_std=0.8, random_state=seed)[0]


def _mismatches(a, b):
    """Points labelled differently by two 2-cluster partitions, under the better matching."""
    return min(np.count_nonzero(a != b), np.count_nonzero(a != 1 - b))


@pytest.mark.parametrize("seed", [1, 4])
def test_one_moved_point_spills_others_over(seed):
    """Chhabra, Roy & Mohapatra (2020): one perturbed point changes the K-means labels of others."""
    A = _two_blobs(seed)
    problem = BL1(SklearnClusterer(KMEANS), A, Pointwise(ord="inf"), budget=0.5, deviation="ari")
    res = attack(problem, "chhabra-spillover", max_evals=100)
    moved = np.flatnonzero(np.any(res.E != 0, axis=1))
    assert moved.size == 1 and np.abs(res.E).max() <= 0.5 * (1 + 1e-12)
    clean = KMEANS.fit_predict(A)
    after = KMEANS.fit_predict(A + res.E)
    others = np.setdiff1d(np.arange(len(A)), moved)
    assert _mismatches(clean[others], after[others]) >= 2  # spill-over: unperturbed points change cluster
    assert res.deviation == pytest.approx(1 - adjusted_rand_score(clean, after), abs=1e-12)


def test_spillover_keeps_the_point_an_inlier():
    A = _two_blobs(1)
    problem = BL1(SklearnClusterer(KMEANS), A, Pointwise(ord="inf"), budget=0.5, deviation="ari")
    res = attack(problem, "chhabra-spillover", max_evals=100)
    clean = KMEANS.fit_predict(A)
    for e in res.history:
        i = int(np.flatnonzero(np.any(problem.perturbation.matrix(e.theta) != 0, axis=1))[0])
        x = A[i] + problem.perturbation.matrix(e.theta)[i]
        dest = 1 - clean[i]  # two clusters: the other one
        X = A[clean == dest]
        prec = np.linalg.pinv(np.cov(X, rowvar=False))
        limit = max((r - X.mean(0)) @ prec @ (r - X.mean(0)) for r in X)
        assert (x - X.mean(0)) @ prec @ (x - X.mean(0)) <= limit * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_genetic_attack_lowers_ari_on_two_blobs(seed):
    """Cinà, Torcinovich & Pelillo (2022): l_inf-bounded moves of victim points towards the other
    cluster lower the ARI of K-means on two blobs."""
    A = _two_blobs(seed)
    problem = BL1(SklearnClusterer(KMEANS), A, Pointwise(ord="inf"), budget=0.5, deviation="ari")
    res = attack(problem, "cina-genetic", random_state=seed, max_evals=60)
    assert res.success and res.n_evals == 60 and np.abs(res.E).max() <= 0.5 * (1 + 1e-12)
    clean, after = KMEANS.fit_predict(A), KMEANS.fit_predict(A + res.E)
    assert res.deviation == pytest.approx(1 - adjusted_rand_score(clean, after), abs=1e-12) and res.deviation > 0.1
    # every entry moves towards the other cluster's mean (the paper's centroid link)
    means = np.stack([A[clean == c].mean(0) for c in (0, 1)])
    toward = np.sign(means[1 - clean] - means[clean])
    assert np.all(res.E * toward >= 0)


def test_genetic_share_moves_the_points_nearest_the_target():
    A = _two_blobs(0)
    problem = BL1(SklearnClusterer(KMEANS), A, Pointwise(ord="inf"), budget=0.5, deviation="ari")
    res = attack(problem, "cina-genetic", random_state=0, max_evals=20, share=0.1)
    clean = KMEANS.fit_predict(A)
    means = np.stack([A[clean == c].mean(0) for c in (0, 1)])
    dist = np.linalg.norm(A - means[1 - clean], axis=1)
    for e in res.history:
        moved = np.flatnonzero(np.any(problem.perturbation.matrix(e.theta) != 0, axis=1))
        for c in (0, 1):
            mine = np.flatnonzero(clean == c)
            nearest = mine[np.argsort(dist[mine], kind="stable")[:int(np.ceil(0.1 * mine.size))]]
            assert set(moved[clean[moved] == c]) <= set(nearest)


def test_closest_links_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(10):
        Y = rng.normal(size=(30, 2))
        labels = rng.integers(0, 4, 30)
        links = closest_links(Y, labels, 100)
        D = np.linalg.norm(Y[:, None] - Y[None], axis=2)
        present = np.unique(labels)
        expect = sorted(D[np.ix_(labels == a, labels == b)].min() for a in present for b in present if a < b)
        np.testing.assert_allclose([dist for dist, _, _ in links], expect, rtol=1e-12)
        for dist, i, j in links:
            assert labels[i] != labels[j] and D[i, j] == pytest.approx(dist)


CASES = {
    "chhabra-spillover": lambda A: Pointwise(ord="inf"),
    "cina-genetic": lambda A: Multiplicative(index=range(0, len(A), 2), ord="inf"),
    "biggio-bridge": lambda A: Injection(2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_baselines_are_feasible_recomputed_and_deterministic(name):
    A = make_blobs(60, centers=3, cluster_std=0.9, random_state=2)[0] + 5.0
    single = AgglomerativeClustering(3, linkage="single")

    def run(n_jobs):
        problem = BL1(SklearnClusterer(single), A, CASES[name](A), budget=0.4, deviation="delta")
        return problem, attack(problem, name, random_state=3, max_evals=25, n_jobs=n_jobs)

    (problem, one), (_, two) = run(1), run(2)
    np.testing.assert_array_equal(one.theta, two.theta)
    assert [e.value for e in one.history] == [e.value for e in two.history] and one.n_evals <= 25
    assert one.success and one.feasible and one.norm <= 0.4 * (1 + 1e-12)
    data = problem.perturbation.apply(A, one.theta)
    clean, after = single.fit_predict(A), single.fit_predict(data)[:len(A)]
    same_before = clean[:, None] == clean[None]
    same_after = after[:, None] == after[None]
    assert one.deviation == np.count_nonzero(same_before != same_after)  # delta: ordered pairs that changed
    for e in one.history:
        assert e.feasible


def test_baselines_refuse_what_they_cannot_attack():
    A = _two_blobs(0, 30)
    model = SklearnClusterer(KMEANS)
    for name in ("chhabra-spillover", "cina-genetic"):
        with pytest.raises(ValueError, match=f"optimizer '{name}' moves chosen points entry by entry: it needs one"):
            attack(BL1(model, A, Additive([0, 1], [0]), budget=1.0), name)
        with pytest.raises(ValueError, match=f"optimizer '{name}' moves the given points"):
            attack(BL1(model, A, Injection(1), budget=1.0), name)
    with pytest.raises(ValueError, match="share must be a number in"):
        attack(BL1(model, A, Pointwise(), budget=1.0), "cina-genetic", share=0.0)
    with pytest.raises(ValueError, match="crossover_rate must be a number in"):
        attack(BL1(model, A, Pointwise(), budget=1.0), "cina-genetic", crossover_rate=2)
    assert all(OPTIMIZERS[n].problems == ("BL1",) for n in CASES)
