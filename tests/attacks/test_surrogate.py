"""The surrogate-gradient attack: implicit derivatives against finite differences, and the optimizer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from advcluster import complete_graph, solve
from advcluster.attacks import BL1, BL2, OPTIMIZERS, attack
from advcluster.attacks.surrogate import center_derivative, default_tau, surrogate_gradient, surrogate_point
from advcluster.deviation import deviation
from advcluster.models import ConvexClusteringModel, SklearnClusterer
from advcluster.perturbation import Additive, FeatureShift, Multiplicative, Pointwise

FD_TOL = 1e-11  # lower-level accuracy of the finite-difference reference


def _blobs(seed, n):
    A, _ = make_blobs(n, 2, centers=3, cluster_std=0.5, random_state=seed, center_box=(-4, 4))
    return A


def _instance(seed):
    """2-D blobs of 20-40 points, kNN or complete Gaussian weights, reweighted or not, gamma giving a
    few clusters, and a perturbation on a few random rows."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 41))
    A = _blobs(seed, n)
    weights = ("knn", "complete")[seed % 2]
    reweight = bool((seed // 2) % 2)
    gamma = float(rng.uniform(0.5, 2.0)) if weights == "knn" else float(rng.uniform(0.2, 1.0))
    model = ConvexClusteringModel(gamma, weights=weights, k=5, reweight=reweight)
    index = rng.choice(n, size=3, replace=False)
    pert = [Pointwise(index=index), Additive(index=index, features=[0, 1]),
            Pointwise(index=index, features=[1]), Multiplicative(index=index)][(seed // 4) % 4]
    return BL1(model, A, pert, 1.0), rng


def _fresh(problem, theta, tol=FD_TOL):
    """Centres and labels from an independent accurate solve at ``theta``."""
    model = problem.model
    A = problem.A + problem.perturbation.matrix(theta)
    res = solve(A, model.graph_for(A), model.gamma, "ssnal", tol=tol, label_tol=model.label_tol)
    return res.centers, res.labels


def _naive_S(X, ref, tau, edges=None):
    """The surrogate straight from its definition, over point pairs (n x n)."""
    D2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    s = np.exp(-D2 / tau ** 2)
    C0 = (ref[:, None] == ref[None, :]).astype(float)
    i, j = np.triu_indices(len(X), k=1) if edges is None else edges.T
    return float(np.sum((s[i, j] - C0[i, j]) ** 2))


def _fd_check(problem, theta, tau, h=1e-5, edges=None, pairs="auto"):
    """Relative error of the implicit gradient against central differences, or None when the fusion
    pattern changes within +-h."""
    ref = problem.reference.labels
    S, grad = surrogate_gradient(problem, theta, tau, pairs=pairs, split=0.0)
    X0, lab0 = _fresh(problem, theta)
    assert S == pytest.approx(_naive_S(X0, ref, tau, edges), rel=1e-8)
    point = surrogate_point(problem, theta, tau, pairs=pairs, split=0.0)
    assert np.array_equal(point.labels, lab0) and point.solver_ok
    np.testing.assert_allclose(point.centers, X0, atol=1e-9 * np.abs(X0).max())
    fd = np.empty_like(grad)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        Xp, lp = _fresh(problem, theta + e)
        Xm, lm = _fresh(problem, theta - e)
        if not (np.array_equal(lp, lab0) and np.array_equal(lm, lab0)):
            return None
        fd[j] = (_naive_S(Xp, ref, tau, edges) - _naive_S(Xm, ref, tau, edges)) / (2 * h)
    assert np.linalg.norm(fd) > 0
    return float(np.linalg.norm(grad - fd) / np.linalg.norm(fd))


def test_implicit_gradient_matches_finite_differences():
    checked, worst, kinds = 0, 0.0, set()
    for seed in range(16):
        problem, rng = _instance(seed)
        theta = 0.1 * rng.standard_normal(problem.n_params)
        tau = None if seed % 3 else float(rng.uniform(0.5, 2.0))
        err = _fd_check(problem, theta, default_tau(problem) if tau is None else tau)
        if err is None:
            continue
        checked += 1
        worst = max(worst, err)
        kinds.add((problem.model.weights, problem.model.reweight, type(problem.perturbation).__name__))
        assert err <= 1e-5, (seed, err)
    assert checked >= 12, checked
    assert {(w, r) for w, r, _ in kinds} == {("knn", False), ("knn", True), ("complete", False), ("complete", True)}


def _naive_T(A, X, labels, graph, gamma):
    """The split term from its definition: per group, the least ``sum ||z_e||^2 / r_e^2`` over
    flows on the group's edges whose divergence balances ``a_i - x_i`` less the cross edges'
    duals ``r_e (x_i - x_j) / ||x_i - x_j||``, by a dense pseudo-inverse."""
    r = gamma * graph.weights
    t = A - X
    for (i, j), re in zip(graph.edges, r):
        if labels[i] != labels[j] and re > 0:
            z = re * (X[i] - X[j]) / np.linalg.norm(X[i] - X[j])
            t[i] -= z
            t[j] += z
    total = 0.0
    for g in np.unique(labels):
        nodes = np.flatnonzero(labels == g)
        inner = [(e, i, j) for e, (i, j) in enumerate(graph.edges)
                 if labels[i] == g and labels[j] == g and r[e] > 0]
        if not inner:
            continue
        pos = {v: k for k, v in enumerate(nodes)}
        B = np.zeros((len(inner), len(nodes)))
        R2 = np.array([r[e] ** 2 for e, _, _ in inner])
        for row, (e, i, j) in enumerate(inner):
            B[row, pos[i]], B[row, pos[j]] = 1.0, -1.0
        Z = (R2[:, None] * B) @ np.linalg.pinv(B.T @ (R2[:, None] * B)) @ t[nodes]
        total += float(np.sum(Z ** 2 / R2[:, None]))
    return total


def test_split_term_matches_its_definition_and_finite_differences():
    """The split term T (and S + T) against a dense definition and central differences on 16
    instances, every kind of weights and reweighting, one-cluster (split-only) cases included."""
    checked, kinds = 0, set()
    for seed in range(16):
        problem, rng = _instance(seed)
        if seed % 4 == 3:  # one cluster: the co-membership term is flat, the split term is not
            model = problem.model
            problem = BL1(ConvexClusteringModel(40.0, weights=model.weights, k=5, reweight=model.reweight),
                          problem.A, problem.perturbation, 1.0)
        theta = 0.1 * rng.standard_normal(problem.n_params)
        tau = default_tau(problem)
        model = problem.model

        def total(t):
            A = problem.A + problem.perturbation.matrix(t)
            X, lab = _fresh(problem, t)
            return _naive_S(X, problem.reference.labels, tau) + _naive_T(A, X, lab, model.graph_for(A), model.gamma), lab

        S, grad = surrogate_gradient(problem, theta, tau, split=1.0)
        S0, lab0 = total(theta)
        assert S == pytest.approx(S0, rel=1e-7)
        h, fd, stable = 1e-5, np.empty_like(grad), True
        for j in range(theta.size):
            e = np.zeros_like(theta)
            e[j] = h
            (sp_, lp), (sm, lm) = total(theta + e), total(theta - e)
            stable &= np.array_equal(lp, lab0) and np.array_equal(lm, lab0)
            fd[j] = (sp_ - sm) / (2 * h)
        if not stable or not np.linalg.norm(fd) > 0:
            continue
        checked += 1
        kinds.add((model.weights, model.reweight, int(lab0.max()) + 1 == 1))
        assert np.linalg.norm(grad - fd) <= 1e-5 * np.linalg.norm(fd), (seed, grad, fd)
        if lab0.max() == 0:  # one cluster: only the split term moves
            assert surrogate_gradient(problem, theta, tau, split=0.0)[0] == 0.0
    assert checked >= 12, checked
    assert {(w, r) for w, r, _ in kinds} == {("knn", False), ("knn", True), ("complete", False), ("complete", True)}
    assert any(one for _, _, one in kinds)


def test_split_term_climbs_towards_a_split():
    """Ascending T alone splits a single cluster within the budget."""
    A = _blobs(5, 30)
    graph = complete_graph(A, 0.5)
    gammas = np.geomspace(0.1, 20, 60)
    fused = next(g for g in gammas if solve(A, graph, g).n_clusters == 1)  # just past the last merge
    model = ConvexClusteringModel(1.1 * fused, weights="complete", reweight=False)
    outcome = {}
    for split in (0.0, 1.0):
        problem = BL1(model, A, Pointwise(), 3.0)
        assert problem.reference.labels.max() == 0
        outcome[split] = attack(problem, "surrogate-gradient", max_evals=40, max_iter=30, split=split,
                                random_state=0)
    assert outcome[0.0].deviation == 0 and "zero gradient" in outcome[0.0].message  # flat on one cluster
    res = outcome[1.0]
    assert res.deviation > 0
    assert attack(problem, "random", max_evals=40, random_state=0).deviation == 0  # not found by chance
    fresh = solve(A + res.E, model.graph_for(A + res.E), model.gamma)
    assert fresh.labels_certified and fresh.labels.max() >= 1


def test_gradient_over_graph_pairs_matches_finite_differences():
    for seed in (1, 2):
        problem, rng = _instance(seed)
        theta = 0.1 * rng.standard_normal(problem.n_params)
        tau = default_tau(problem)
        err = _fd_check(problem, theta, tau, edges=problem.model.graph.edges, pairs="graph")
        assert err is not None and err <= 1e-4


def test_one_dimensional_uniform_weights_exact_path():
    rng = np.random.default_rng(0)
    A = np.concatenate([rng.normal(0, 0.3, 12), rng.normal(2, 0.3, 12)])[:, None]
    model = ConvexClusteringModel(0.02, weights="uniform")
    problem = BL1(model, A, Pointwise(index=[0, 5, 13]), 1.0)
    tau = default_tau(problem)
    theta = np.array([0.05, -0.03, 0.02])
    S, grad = surrogate_gradient(problem, theta, split=0.0)
    h = 1e-6

    def S_at(t):
        Ad = A + problem.perturbation.matrix(t)
        res = solve(Ad, model.graph, model.gamma, "exact1d")
        return _naive_S(res.centers, problem.reference.labels, tau), res.labels

    S0, lab0 = S_at(theta)
    assert S == pytest.approx(S0, rel=1e-10)
    fd = []
    for j in range(3):
        e = np.eye(3)[j] * h
        (sp_, lp), (sm, lm) = S_at(theta + e), S_at(theta - e)
        assert np.array_equal(lp, lab0) and np.array_equal(lm, lab0)
        fd.append((sp_ - sm) / (2 * h))
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8 * np.abs(fd).max())


def test_feature_shift_is_a_translation_so_the_gradient_vanishes():
    """X*(A + 1 c^T) = X*(A) + 1 c^T and Gaussian weights depend on differences only: S is constant."""
    for weights, reweight in [("knn", True), ("complete", False)]:
        A = _blobs(3, 30)
        model = ConvexClusteringModel(0.8 if weights == "knn" else 0.4, weights=weights, k=5, reweight=reweight)
        problem = BL1(model, A, FeatureShift(), 1.0)
        S0, g0 = surrogate_gradient(problem, [0.0, 0.0])
        S1, g1 = surrogate_gradient(problem, [0.3, -0.7])
        assert S1 == pytest.approx(S0, rel=1e-7)
        scale = np.abs(surrogate_gradient(BL1(model, A, Pointwise(index=[0, 1]), 1.0), np.zeros(4))[1]).max()
        assert np.abs(g0).max() <= 1e-8 * scale and np.abs(g1).max() <= 1e-8 * scale


def test_reduced_system_derivative_matches_finite_differences():
    checked = 0
    for seed in range(4):
        problem, rng = _instance(seed)
        A = problem.A
        dA = rng.standard_normal(A.shape)
        X, dX = center_derivative(problem, np.zeros(problem.n_params), dA)
        h = 1e-6
        model = problem.model

        def centres(D):
            res = solve(D, model.graph_for(D), model.gamma, "ssnal", tol=FD_TOL, label_tol=model.label_tol)
            return res.centers, res.labels

        (X0, l0), (Xp, lp), (Xm, lm) = centres(A), centres(A + h * dA), centres(A - h * dA)
        np.testing.assert_allclose(X, X0, atol=1e-8 * np.abs(A).max())
        if not (np.array_equal(lp, l0) and np.array_equal(lm, l0)):
            continue
        fd = (Xp - Xm) / (2 * h)
        assert np.linalg.norm(dX - fd) <= 1e-5 * np.linalg.norm(fd)
        # fused groups move rigidly
        for g in np.unique(l0):
            np.testing.assert_allclose(dX[l0 == g], dX[l0 == g][:1].repeat((l0 == g).sum(), 0), atol=1e-12)
        checked += 1
    assert checked >= 3


def _attack_instance():
    A = _blobs(2, 30)
    rng = np.random.default_rng(2)
    model = ConvexClusteringModel(1.0, weights="knn", k=5, reweight=True)
    return BL1(model, A, Pointwise(index=rng.choice(30, 5, replace=False)), 1.5)


def test_optimizer_answer_is_feasible_consistent_and_finds_damage():
    problem = _attack_instance()
    res = attack(problem, "surrogate-gradient", random_state=0, max_iter=10)
    assert res.feasible and res.success and res.norm <= problem.budget * (1 + 1e-12)
    assert res.deviation > 0
    fresh = ConvexClusteringModel(1.0, weights="knn", k=5, reweight=True)
    ref = fresh.reference(problem.A).labels
    assert deviation(ref, fresh.respond(problem.A + res.E).labels, "delta") == res.deviation
    traj = res.extra["trajectory"]
    assert len(traj) == res.n_evals == res.extra["gradient_solves"]
    assert res.deviation == max(t["value"] for t in traj)
    assert res.extra["pairs"] == "all" and res.extra["tau"] == pytest.approx(default_tau(problem))
    # every iterate is feasible; accepted steps never lower the surrogate
    assert all(t["norm"] <= problem.budget * (1 + 1e-12) for t in traj)
    kept = [t["surrogate"] for t in traj if t["accepted"] and t["start"] == 0]
    assert all(b >= a for a, b in zip(kept, kept[1:]))


def test_optimizer_options_and_limits():
    A = _blobs(0, 24)
    model = ConvexClusteringModel(1.0, weights="knn", k=5, reweight=False)
    problem = BL1(model, A, Additive(index=[0, 1, 2], features=[0, 1]), 0.5)
    x0 = 2.0  # outside the budget: projected
    res = attack(problem, "surrogate-gradient", x0=x0, max_iter=3, restarts=1, random_state=1)
    first = res.extra["trajectory"][0]
    np.testing.assert_allclose(first["theta"], problem.perturbation.project(x0, 0.5))
    assert {t["start"] for t in res.extra["trajectory"]} == {0, 1}
    # max_evals stops the search (StopSearch propagates through the optimizer)
    res = attack(problem, "surrogate-gradient", max_evals=3, random_state=1)
    assert res.n_evals == 3 and not res.success and "max_evals=3" in res.message
    # budget 0: only the clean data
    res = attack(BL1(model, A, Additive(index=[0], features=[0]), 0.0), "surrogate-gradient")
    assert res.n_evals == 1 and res.deviation == 0 and res.norm == 0
    with pytest.raises(ValueError, match="step"):
        attack(problem, "surrogate-gradient", step=2.0)
    with pytest.raises(ValueError, match="pairs"):
        attack(problem, "surrogate-gradient", pairs="some")
    with pytest.raises(ValueError, match="tau"):
        surrogate_gradient(problem, 0.1, tau=-1.0)


def test_bad_inputs():
    A = _blobs(0, 24)
    pert = Pointwise(index=[0, 1])
    km = BL1(SklearnClusterer(KMeans(3, n_init=3, random_state=0)), A, pert, 1.0)
    with pytest.raises(ValueError, match="black-box"):
        attack(km, "surrogate-gradient")
    with pytest.raises(ValueError, match="SklearnClusterer"):
        surrogate_gradient(km, np.zeros(4))
    p1 = BL1(ConvexClusteringModel(1.0, k=5, p=1, method="admm"), A, pert, 1.0)
    with pytest.raises(ValueError, match="p = 2"):
        attack(p1, "surrogate-gradient")
    with pytest.raises(ValueError, match="p = 2"):
        surrogate_gradient(p1, np.zeros(4))
    assert OPTIMIZERS["surrogate-gradient"].problems == ("BL1",)
    bl2 = BL2(ConvexClusteringModel(1.0, k=5), A, pert, target=10, max_norm=1.0)
    with pytest.raises(ValueError, match="does not solve BL2"):
        attack(bl2, "surrogate-gradient")
    # surrogate_gradient itself works for BL2 problems (only the model matters)
    S, g = surrogate_gradient(bl2, np.full(4, 0.05))
    assert np.isfinite(S) and g.shape == (4,)
    with pytest.raises(ValueError, match="shape"):
        center_derivative(bl2, np.zeros(4), np.zeros((3, 2)))
