"""advcluster's own injection attack, captures then bridges (attacks/injection.py).

The claim: a clusterer asked for ``k`` clusters spends one on a far group of injected points, so
two clean clusters merge.  Checked against fresh scikit-learn fits of the data with such a group
appended, computed here independently of the attack.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from advcluster import BL1, Injection, SklearnClusterer, attack
from advcluster.attacks.injection import captures, scattered

VICTIMS = {
    "kmeans": lambda k: KMeans(k, n_init=3, random_state=0),
    "ward": lambda k: AgglomerativeClustering(k, linkage="ward"),
}


def _blobs(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 5))
    A, _ = make_blobs(int(rng.integers(60, 120)), centers=k, cluster_std=0.6, center_box=(-8, 8), random_state=seed)
    return A, k


def test_a_far_group_captures_a_cluster():
    """The points at the box corner farthest from the data's mean (written out here) make a
    fresh fit merge clean clusters on most blob data sets (not where a cluster sits at that
    corner); the attack's answer does at least as much damage everywhere, and its reported
    deviation is that of a fresh fit of its answer."""
    merged = 0
    for victim in sorted(VICTIMS):
        for seed in range(6):
            A, k = _blobs(seed)
            n = max(2, round(0.05 * len(A)))
            clean = VICTIMS[victim](k).fit_predict(A)
            lo, hi = A.min(axis=0), A.max(axis=0)
            mean = A.mean(axis=0)
            corner = np.where(np.abs(hi - mean) >= np.abs(lo - mean), hi, lo)
            after = VICTIMS[victim](k).fit_predict(np.vstack([A, np.tile(corner, (n, 1))]))[:len(A)]
            captured = 1 - adjusted_rand_score(clean, after)
            if len(np.unique(after)) < k:  # one cluster went to the far group: two clean ones merged
                merged += 1
                assert captured >= 0.2, (victim, seed)
            problem = BL1(SklearnClusterer(VICTIMS[victim](k)), A, Injection(n, ord="count"), float(n),
                          deviation="ari")
            res = attack(problem, "capture-bridge", random_state=0, max_evals=12)
            assert res.feasible and res.deviation >= captured - 1e-12, (victim, seed)
            points = problem.perturbation.matrix(res.theta)
            recomputed = VICTIMS[victim](k).fit_predict(np.vstack([A, points]))[:len(A)]
            assert res.deviation == pytest.approx(1 - adjusted_rand_score(clean, recomputed), abs=1e-12)
    assert merged >= 6


def test_points_at_random_corners_take_several_clusters_in_many_features():
    """Digits 0-3 (58 features, standardised): 36 points (5 %) each at its own random corner of the
    box, drawn here, make a fresh K-means fit merge clean clusters (1 - ARI >= 0.5); the attack,
    which tries such injections, does at least 0.5, confirmed by a fresh fit of its answer."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[y < 4][:, X[y < 4].std(axis=0) > 0]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    fit = lambda B: KMeans(4, n_init=3, random_state=0).fit_predict(B)[:len(X)]  # noqa: E731
    clean = fit(X)
    points = np.where(np.random.default_rng(5).random((36, X.shape[1])) < 0.5, X.min(axis=0), X.max(axis=0))
    assert 1 - adjusted_rand_score(clean, fit(np.vstack([X, points]))) >= 0.5
    problem = BL1(SklearnClusterer(KMeans(4, n_init=3, random_state=0)), X, Injection(36, ord="count"), 36.0,
                  deviation="ari")
    res = attack(problem, "capture-bridge", random_state=0, max_evals=8)
    assert res.deviation >= 0.5
    after = fit(np.vstack([X, problem.perturbation.matrix(res.theta)]))
    assert res.deviation == pytest.approx(1 - adjusted_rand_score(clean, after), abs=1e-12)


@pytest.mark.parametrize("ord, budget", [("count", 3.0), ("distance", 0.5)])
def test_captures_stay_in_the_threat_model(ord, budget):
    """Corners of the box for ``"count"`` (m distinct points for the m-th capture); within the
    distance budget of the data for ``"distance"``; never more groups than clusters less one;
    the scattered injections the same, drawn from the generator given."""
    A, k = _blobs(1)
    problem = BL1(SklearnClusterer(KMeans(k, n_init=2, random_state=0)), A, Injection(3, ord=ord), budget)
    tried = captures(problem)
    assert 1 <= len(tried) <= min(k - 1, 3)
    spread = scattered(problem, np.random.default_rng(0), 4)
    again = scattered(problem, np.random.default_rng(0), 4)
    assert len(spread) == 4 and all(np.array_equal(a, b) for a, b in zip(spread, again))
    lo, hi = A.min(axis=0), A.max(axis=0)
    for m, theta in enumerate(tried + spread, 1):
        points = problem.perturbation.matrix(theta)
        assert problem.is_feasible(problem.perturbation.norm(theta), 0.0)
        assert np.all(points >= lo - 1e-12) and np.all(points <= hi + 1e-12)
        if ord == "count":
            assert np.all((points == lo) | (points == hi))  # corners
            if m <= len(tried):
                assert len(np.unique(points, axis=0)) == m
        else:
            assert problem.perturbation.distances(theta)[0].max() <= budget * (1 + 1e-12)


def test_bad_options_and_threat_models_are_refused_with_their_reason():
    A, k = _blobs(0)
    model = SklearnClusterer(KMeans(k, n_init=2, random_state=0))
    problem = BL1(model, A, Injection(2, ord="count"), 2.0)
    for bad in (-1, 1.5, "3"):
        with pytest.raises(ValueError, match="scatter"):
            attack(problem, "capture-bridge", scatter=bad, max_evals=4)
    from advcluster import Pointwise

    with pytest.raises(ValueError, match="capture-bridge.*Injection"):
        attack(BL1(model, A, Pointwise([0]), 1.0), "capture-bridge", max_evals=4)
