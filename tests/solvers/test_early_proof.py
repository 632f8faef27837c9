"""Solves that stop where the partition is proven (``core.EARLY_PROOF_FACTOR``; docs/partitions.md,
section 8): once ssnal's KKT residual is within that factor of ``tol``, one proof is tried, and
where it holds the run ends with the exact fused solution.

Every solve stopped that way is checked against the independent reference (cvxpy + Clarabel,
:func:`reference.reference_partition`); the hook itself changes nothing where it declines.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference
from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

from advcluster.graph import complete_graph, first_appearance, knn_graph, uniform_graph
from advcluster.solvers import certificate, core, solve
from advcluster.solvers.fused import FusedProblem
from advcluster.solvers.ssnal import run as ssnal_run

EARLY = "where the partition was proven"
N_INSTANCES = 60  # blobs and moons at any scale; then as many half-moons near fusion thresholds
N_NEAR = 40


def instance(seed):
    """``(A, graph, gamma, where)``: blobs or half-moons, a weight graph, a gamma between the
    first fusions and a handful of clusters; from ``N_INSTANCES`` on, half-moons near their
    fusion thresholds (where early proofs often fail: two clusters closer than the iterate's
    accuracy)."""
    from sklearn.datasets import make_moons

    if seed >= N_INSTANCES:
        rng = np.random.default_rng(seed - N_INSTANCES)
        n = int(rng.integers(130, 180))
        A = make_moons(n, noise=0.1, random_state=seed - N_INSTANCES)[0]
        gamma = 10 ** rng.uniform(-1.4, -1)
        return A, knn_graph(A, k=6, phi=0.5), gamma, f"near-threshold moons {seed} (n={n}, gamma={gamma:.4g})"
    rng = np.random.default_rng(7000 + seed)
    kind = ("knn", "complete", "uniform")[seed % 3]
    n = int(rng.integers(30, 90))
    if seed % 4 == 3:
        A, d = make_moons(n, noise=0.1, random_state=seed)[0], 2
    else:
        d = (2, 3, 5, 10)[seed % 4]
        centres = rng.normal(size=(int(rng.integers(2, 6)), d)) * 4
        A = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, d))
    A = A * 10 ** rng.uniform(-3, 3) + rng.normal(size=d) * 10 ** rng.uniform(0, 4)  # any scale and offset
    sq = float(np.median(((A[:, None] - A[None]) ** 2).sum(-1)))
    graph = (uniform_graph(n) if kind == "uniform" else complete_graph(A, phi=1 / sq) if kind == "complete"
             else knn_graph(A, k=6, phi=1 / sq))
    top = 2 * float(np.sqrt(np.sum((A - A.mean(0)) ** 2))) / float(graph.weights.sum())
    gamma = top * 10 ** rng.uniform(-2.5, -0.5)
    return A, graph, gamma, f"instance {seed} ({kind}, n={n}, d={d}, gamma={gamma:.4g})"


_SOLVED = {}
_REFUTED = {}  # seed: (partitions refuted in the solve, partitions certified after each refutation)


def solved(seed):
    """``(A, graph, gamma, where, result, tried)``: ``tried`` the outcome of the early proof
    (None where the solve met tol before one was tried)."""
    if seed not in _SOLVED:
        A, graph, gamma, where = instance(seed)
        tried, prove, certify = [], core._prove, certificate._certify
        refuted, later = [], []

        def watched(*args, **kwargs):
            proof = prove(*args, **kwargs)
            if kwargs.get("early"):
                tried.append(proof.certified)
            refuted[:] = [first_appearance(r) for r in kwargs["refuted"]]
            return proof

        def certifying(A_, graph_, gamma_, labels, *args, **kwargs):  # what is tried once refuted
            later.append((len(kwargs.get("refuted") or []), first_appearance(labels)))
            return certify(A_, graph_, gamma_, labels, *args, **kwargs)

        core._prove, certificate._certify = watched, certifying
        try:
            res = solve(A, graph, gamma, "ssnal")
        finally:
            core._prove, certificate._certify = prove, certify
        _SOLVED[seed] = (A, graph, gamma, where, res, tried[0] if tried else None)
        _REFUTED[seed] = (refuted, later)
    return _SOLVED[seed]


@pytest.mark.parametrize("seed", range(N_INSTANCES + N_NEAR))
def test_solves_with_an_early_proof_tried_are_the_reference(seed):
    """Where the early proof holds, the run stops there with the exact solution; where it fails,
    the solve goes on as without it.  Either way the answer is the reference's."""
    A, graph, gamma, where, res, tried = solved(seed)
    if tried is None:
        pytest.skip("this solve met tol before an early proof was tried")
    where = f"{where}: {res.message}"
    assert (EARLY in res.message) == tried, where
    if tried:
        assert res.success and res.kkt_residual <= 1e-10, where  # the polished exact solution
    if res.labels_certified:
        reference.assert_reference(A, graph, gamma, res, where)


def test_early_proofs_are_exercised():
    """The early stop is not a rarity: it ends many of these solves, on every kind of data, and
    the near-threshold half-moons exercise its failures."""
    tried = {s: solved(s)[5] for s in range(N_INSTANCES + N_NEAR)}
    early = [s for s, t in tried.items() if t]
    assert len(early) >= (N_INSTANCES + N_NEAR) // 3, early
    assert {s % 4 for s in early if s < N_INSTANCES} == {0, 1, 2, 3}, early  # each dimension, moons included
    assert {s % 3 for s in early if s < N_INSTANCES} == {0, 1, 2}, early  # each kind of graph
    failed = [s for s, t in tried.items() if t is False]
    assert len(failed) >= 5, failed
    assert sum(solved(s)[4].labels_certified for s in failed) >= 5, failed  # proven later, as before


def test_refuted_partitions_are_never_the_reference_nor_tried_again():
    """A candidate with a group that has no flow in its balls is refuted for the solve: no
    refuted partition is the reference's (or the proven one), and none is tried again after it
    is refuted.  Refutations happen (the near-threshold half-moons)."""
    count = 0
    for seed in range(N_INSTANCES + N_NEAR):
        A, graph, gamma, where, res, _ = solved(seed)
        refuted, later = _REFUTED[seed]
        if not refuted:
            continue
        count += len(refuted)
        expected, _ = reference.reference_partition(A, graph, gamma)
        for r in refuted:
            assert expected is None or not np.array_equal(r, expected), where
            assert not (res.labels_certified and np.array_equal(r, first_appearance(res.labels))), where
        for k, r in enumerate(refuted):  # tried after its refutation: never
            after = [labels for known, labels in later if known > k]
            assert not any(np.array_equal(r, labels) for labels in after), where
    assert count >= 3, count


def test_a_partition_that_fails_early_for_want_of_accuracy_is_not_refuted(monkeypatch):
    """Half-moons (n = 5,000, gamma = 2.5) with the early try's fused solutions left at their
    start (no Newton steps: a candidate then fails for want of accuracy, its backward error too
    large).  The early try refutes a wrong partition (a group with no flow) but not the right
    one, which the proof at ``tol`` then proves.  Every refuted partition differs from it."""
    from sklearn.datasets import make_moons

    monkeypatch.setattr(core, "LOCAL_MIN_NODES", 10**9)  # labels in the caller's numbering throughout
    minimise = FusedProblem.minimise
    monkeypatch.setattr(FusedProblem, "minimise",
                        lambda self, c, max_steps=30, quick=False: (np.array(c, dtype=float), True) if quick
                        else minimise(self, c, max_steps, quick))
    A = make_moons(5000, noise=0.1, random_state=0)[0]
    graph = knn_graph(A, k=10, phi=0.5)
    calls, prove = [], core._prove

    def watched(*args, **kwargs):
        proof = prove(*args, **kwargs)
        calls.append((kwargs.get("early", False), proof.certified, [first_appearance(r) for r in kwargs["refuted"]]))
        return proof

    monkeypatch.setattr(core, "_prove", watched)
    res = solve(A, graph, 2.5, "ssnal")
    assert res.labels_certified and EARLY not in res.message
    assert calls[0][:2] == (True, False) and calls[-1][1]  # failed early, proven at tol
    refuted = calls[-1][2]
    assert refuted and not any(np.array_equal(r, first_appearance(res.labels)) for r in refuted)


def test_newton_backtracks_where_its_full_step_raises_the_gradient(monkeypatch):
    """Half-moons (n = 5,000, gamma = 2.5): from the early iterate, the right partition's fused
    problem has two groups 2e-4 apart, where a full Newton step raises the gradient.  Halving it
    reaches the minimiser (the gradient, written out here, at rounding level), and the early
    proof holds; stopping at the first step that raises it (the old rule) had left the gradient
    at 0.19 and the early try failing."""
    from sklearn.datasets import make_moons

    A = make_moons(5000, noise=0.1, random_state=0)[0]
    graph = knn_graph(A, k=10, phi=0.5)
    ends, minimise = [], FusedProblem.minimise

    def watched(self, c, max_steps=30, quick=False):
        out = minimise(self, c, max_steps, quick)
        g = self.sizes[:, None] * (out[0] - self.abar)
        diff = out[0][self.pa] - out[0][self.pb]
        f = (self.gamma * self.W / np.linalg.norm(diff, axis=1))[:, None] * diff
        np.add.at(g, self.pa, f)
        np.add.at(g, self.pb, -f)
        scale = np.abs(self.sizes[:, None] * self.abar).max() + self.gamma * self.W.sum()
        ends.append((self.K, quick, out[1], np.abs(g).max() / scale))
        return out

    monkeypatch.setattr(FusedProblem, "minimise", watched)
    res = solve(A, graph, 2.5, "ssnal")
    assert res.labels_certified and EARLY in res.message, res.message
    early = [e for e in ends if e[1] and e[0] == res.n_clusters]
    assert early and all(ok and gradient <= 1e-12 for _, _, ok, gradient in early), early


@pytest.mark.parametrize("seed", list(range(0, N_INSTANCES, 4)) + list(range(N_INSTANCES, N_INSTANCES + N_NEAR, 5)))
def test_the_early_stop_saves_iterations_and_keeps_the_answer(seed, monkeypatch):
    """Against the same solve with the early proof turned off: the same proven partition, the
    same centres (both exact fused solutions), and never more outer iterations."""
    A, graph, gamma, where, res, _ = solved(seed)
    monkeypatch.setattr(core, "EARLY_PROOF_FACTOR", 0.0)
    late = solve(A, graph, gamma, "ssnal")
    assert EARLY not in late.message
    if late.labels_certified and res.labels_certified:
        np.testing.assert_array_equal(res.labels, late.labels, err_msg=where)
        assert np.abs(res.centers - late.centers).max() <= 1e-9 * reference.unit_spread(A)[1], where
    assert res.n_iter <= late.n_iter or EARLY not in res.message, where


def test_a_declining_hook_changes_nothing_and_an_accepting_one_stops_at_once():
    A, graph, gamma, _ = instance(1)
    spread = reference.unit_spread(A)[1]
    A, gamma = (A - A.mean(0)) / spread, gamma / spread
    common = dict(p=2, tol=1e-9, max_iter=None, x0=None, z0=None, verbose=False)
    plain = ssnal_run(A, graph, gamma, **common)
    seen = []
    declined = ssnal_run(A, graph, gamma, stop_when=lambda X, Z, ev: seen.append(ev["kkt_residual"]) and False,
                         **common)
    assert seen and declined.n_iter == plain.n_iter and np.array_equal(declined.X, plain.X)
    # The hook is first asked where the ADMM phase meets its tolerance, then after each outer iteration.
    stopped = ssnal_run(A, graph, gamma, stop_when=lambda X, Z, ev: True, **common)
    assert stopped.n_iter == 0 and stopped.stopped and not stopped.converged
    assert EARLY in stopped.message and "ADMM phase" in stopped.message
    stopped = ssnal_run(A, graph, gamma, stop_when=lambda X, Z, ev: True, admm_iters=0, **common)
    assert stopped.n_iter == 1 and stopped.stopped and not stopped.converged and EARLY in stopped.message


def plain_ssnal(seed, tol=1e-6):
    """``(A, graph, gamma, where, run)``: the instance on the unit-spread scale and ssnal's run there."""
    A, graph, gamma, where = instance(seed)
    spread = reference.unit_spread(A)[1]
    A, gamma = (A - A.mean(0)) / spread, gamma / spread
    return A, graph, gamma, where, ssnal_run(A, graph, gamma, p=2, tol=tol, max_iter=None, x0=None, z0=None,
                                              verbose=False)


@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_a_run_that_ends_in_the_admm_phase_meets_tol(seed):
    """Where ssnal's ADMM phase meets ``tol`` it returns that iterate: converged, no outer
    iteration, its KKT residual and gap recomputed with dense matrices within ``tol`` and its
    objective within the gap of cvxpy/Clarabel's; elsewhere it runs its outer iterations."""
    tol = 1e-6
    A, graph, gamma, where, res = plain_ssnal(seed, tol)
    if "in the ADMM phase" not in res.message:
        assert res.n_iter >= 1, where
        return
    assert res.converged and res.n_iter == 0 and len(res.history) == 1, where
    kkt, gap = reference.kkt(A, graph, gamma, res.X, res.U, res.Z, 2)
    assert kkt <= tol * (1 + 1e-6) and gap <= 2 * tol, where
    _, best = reference.cvxpy_solve(A, graph, gamma, 2)
    value = reference.objective(A, graph, gamma, res.X, 2)
    assert best - 1e-9 * (1 + abs(best)) <= value <= best + 2 * tol * (1 + abs(best)), where


def test_runs_end_in_the_admm_phase_on_some_instances():
    """Both exits of the ADMM phase happen: meeting tol (no certify) and a proof (certify)."""
    assert sum("in the ADMM phase" in plain_ssnal(s)[4].message for s in range(N_INSTANCES)) >= 5
    assert sum("(ADMM phase)" in solved(s)[4].message for s in range(N_INSTANCES)) >= 10


@pytest.mark.parametrize("method", ["ssnal", "admm"])
def test_the_hook_is_not_a_user_option(method):
    A, graph, gamma, _ = instance(0)
    with pytest.raises(ValueError, match=f"unknown option.*'stop_when'.*method '{method}'"):
        solve(A, graph, gamma, method, stop_when=lambda X, Z, ev: True)


@pytest.mark.parametrize("seed", range(8))
def test_quick_fused_minimisation_is_exact_where_it_succeeds(seed):
    """``minimise(quick=True)`` (CG only, a few iterations per Newton step) either fails or gives
    the restricted problem's minimiser, modelled apart in cvxpy."""
    A, graph, gamma, where = instance(4 * seed + 2)  # 5-D blobs: block Hessians solved by CG
    rng = np.random.default_rng(seed)
    labels = np.unique(rng.integers(0, max(2, A.shape[0] // 4), A.shape[0]), return_inverse=True)[1].ravel()
    spread = reference.unit_spread(A)[1]
    A, gamma = (A - A.mean(0)) / spread, gamma / spread
    fp = FusedProblem(A, graph, gamma, labels)
    c, ok = fp.minimise(np.array([A[labels == k].mean(0) for k in range(fp.K)]), quick=True)
    if not ok:
        pytest.skip("the quick minimisation declined this grouping")
    c_ref = reference.restricted_reference(A, graph, gamma, labels)
    f, f_ref = (reference.objective(A, graph, gamma, x[labels], 2) for x in (c, c_ref))
    assert f <= f_ref + 1e-12 * (1 + abs(f_ref)), where  # no worse than the interior-point optimum
    assert np.abs(c - c_ref).max() <= 1e-5, where
