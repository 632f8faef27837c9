"""Every solver method against independent references, on many random instances.

The references do not use :mod:`advcluster.solvers`:

* cvxpy + Clarabel at tight tolerances (``reference.cvxpy_solve``) for every
  method: relative objective difference <= 1e-6 and centres within 1e-4;
* for ``exact1d``, centres within 1e-9 of a *certified* exact solution
  (``reference.certified_1d``).  Clarabel alone does not get there: on these
  instances its centres are off by up to ~5e-8, so its answer only supplies the
  fusion pattern, from which the exact group values follow in closed form and a
  dual certificate bounds the remaining error (asserted <= 1e-11);
* whenever a method reports success, the relative KKT residual of docs/model.md
  section 2 is recomputed here with a dense incidence matrix
  (``reference.kkt``) and must be <= tol, with a small duality gap.

The test grid is built from :data:`advcluster.solvers.METHODS`, so a newly
registered method meets the same bar automatically.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import reference
from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

from advcluster.graph import Graph, complete_graph, knn_graph, uniform_graph
from advcluster.solvers import METHODS, solve

TOL = 1e-8  # tight enough that a method meeting it also meets the 1e-6 objective bar
OBJ_RTOL = 1e-6
CENTRE_ATOL = 1e-4
EXACT_ATOL = 1e-9
GAMMA_MULTIPLES = (0.1, 1.0, 10.0)  # many clusters, some, few (see gamma_scale)

KINDS = ("knn", "complete", "uniform", "random", "disconnected", "duplicates")
DIMS = (1, 2, 5)
N_INSTANCES = 36


# --------------------------------------------------------------------------- instances
def _blobs(rng, n, d):
    k = int(rng.integers(2, 5))
    centres = rng.normal(size=(k, d)) * 4
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))


def _random_weights(rng, n, density):
    """Random symmetric sparse weight matrix, weights in [0.1, 2)."""
    W = sp.random(n, n, density=density, random_state=rng, data_rvs=lambda s: rng.uniform(0.1, 2.0, s))
    W = sp.triu(W, k=1)
    return (W + W.T).tocsr()


def _sq_scale(A):
    """Median positive squared pairwise distance: sets phi so Gaussian weights are not all ~0."""
    sq = ((A[:, None, :] - A[None, :, :]) ** 2).sum(-1)[np.triu_indices(len(A), 1)]
    return float(np.median(sq[sq > 0])) if np.any(sq > 0) else 1.0


def make_instance(seed):
    """Instance ``seed``: kind and dimension cycle with the seed, sizes are random (n <= 60)."""
    rng = np.random.default_rng(seed)
    kind = KINDS[seed % len(KINDS)]
    d = DIMS[(seed // len(KINDS)) % len(DIMS)]
    n = int(rng.integers(6, (40 if d == 5 else 60) + 1))
    A = _blobs(rng, n, d)
    if kind == "knn":
        G = knn_graph(A, k=int(rng.integers(2, 8)), phi=1.0 / _sq_scale(A))
    elif kind == "complete":
        G = complete_graph(A, phi=1.0 / _sq_scale(A))
    elif kind == "uniform":
        G = uniform_graph(n)
    elif kind == "random":
        G = Graph.from_matrix(_random_weights(rng, n, 0.3))
    elif kind == "disconnected":  # three random blocks, the last with an isolated point
        cuts = np.sort(rng.choice(np.arange(2, n - 1), size=2, replace=False))
        blocks = [_random_weights(rng, int(s), 0.6) for s in np.diff(np.r_[0, cuts, n])]
        if n > 8:
            blocks[-1] = sp.block_diag([blocks[-1][:-1, :-1], sp.csr_matrix((1, 1))])
        G = Graph.from_matrix(sp.block_diag(blocks).tocsr())
    else:  # few distinct rows, many exact duplicates, on one of four graphs
        rows = A[: max(2, n // 3)]
        A = rows[rng.integers(0, len(rows), n)]
        sub = ("uniform", "knn", "complete", "random")[(seed // len(KINDS)) % 4]
        if sub == "uniform":
            G = uniform_graph(n)
        elif sub == "knn":
            G = knn_graph(A, k=min(4, n - 1), phi=1.0 / _sq_scale(A))
        elif sub == "complete":
            G = complete_graph(A, phi=1.0 / _sq_scale(A))
        else:
            G = Graph.from_matrix(_random_weights(rng, n, 0.3))
        kind = f"duplicates/{sub}"
    return kind, A, G


def gamma_scale(A, G):
    """Median over points of ``||a_i - mean of its component|| / weighted degree``.

    A point leaves the rest roughly when ``gamma * degree`` drops below its
    distance to the others, so multiples 0.1, 1, 10 of this scale give many,
    some and few clusters.
    """
    W = G.to_matrix()
    deg = np.asarray(W.sum(axis=1)).ravel()
    _, comp = sp.csgraph.connected_components(W, directed=False)
    means = np.array([A[comp == c].mean(axis=0) for c in range(comp.max() + 1)])
    dist = np.linalg.norm(A - means[comp], axis=1)
    ok = (deg > 0) & (dist > 0)
    return float(np.median(dist[ok] / deg[ok])) if ok.any() else 1.0


INSTANCES = [make_instance(seed) for seed in range(N_INSTANCES)]


def applies(method, seed, p):
    _, A, G = INSTANCES[seed]
    return reference.method_applies(method, A, G, p)


GRID = [
    pytest.param(m, s, p, id=f"{m}-{s}-{INSTANCES[s][0]}-d{INSTANCES[s][1].shape[1]}-p{p}")
    for m in sorted(METHODS)
    for s in range(N_INSTANCES)
    for p in (2, 1)
    if applies(m, s, p)
]

_REFERENCES: dict = {}


def references(seed, p):
    """``[(gamma, X_ref, f_ref), ...]`` for instance ``seed``, cached across methods."""
    key = (seed, p)
    if key not in _REFERENCES:
        _, A, G = INSTANCES[seed]
        scale = gamma_scale(A, G)
        _REFERENCES[key] = [(m * scale, *reference.cvxpy_solve(A, G, m * scale, p)) for m in GAMMA_MULTIPLES]
    return _REFERENCES[key]


# --------------------------------------------------------------------------- tests
def test_instances_cover_the_brief():
    kinds = {k.split("/")[0] for k, _, _ in INSTANCES}
    assert kinds == set(KINDS)
    assert {A.shape[1] for _, A, _ in INSTANCES} == set(DIMS)
    assert max(A.shape[0] for _, A, _ in INSTANCES) <= 60
    assert any(G.n_components > 1 for _, _, G in INSTANCES)
    assert len(INSTANCES) >= 30


def _check_against_cvxpy(where, res, A, G, gamma, X_ref, f_ref, p):
    assert res.success, f"{where}: {res.message}"
    f = reference.objective(A, G, gamma, res.centers, p)
    rel = abs(f - f_ref) / max(1.0, abs(f_ref))
    assert rel <= OBJ_RTOL, f"{where}: objective {f!r} vs cvxpy {f_ref!r} (relative {rel:.2e})"
    err = np.abs(res.centers - X_ref).max()
    assert err <= CENTRE_ATOL, f"{where}: centres differ from cvxpy by {err:.2e}"
    assert res.primal_objective == pytest.approx(f, rel=1e-10, abs=1e-12), where

    # The relative measures are those of the data centred and scaled to unit RMS spread.
    mean, spread = reference.unit_spread(A)
    As, gs = (A - mean) / spread, gamma / spread
    Xs, Us, Zs = (res.centers - mean) / spread, res.splitting / spread, res.dual / spread
    kkt, gap = reference.kkt(As, G, gs, Xs, Us, Zs, p)
    assert kkt <= TOL * (1 + 1e-6), f"{where}: recomputed KKT residual {kkt:.2e} > tol {TOL:.0e}"
    assert kkt == pytest.approx(res.kkt_residual, rel=1e-6, abs=1e-14), f"{where}: reported KKT residual"
    assert gap <= 100 * TOL, f"{where}: relative duality gap {gap:.2e}"
    assert gap == pytest.approx(res.duality_gap, rel=1e-6, abs=1e-14), f"{where}: reported duality gap"
    size = np.linalg.norm(Xs, ord=p, axis=1)
    roundoff = 4 * np.finfo(float).eps * gs * sum(w * (size[i] + size[j]) for (i, j), w in zip(G.edges, G.weights))
    scale = 1 + (abs(res.primal_objective) + abs(res.dual_objective)) / spread**2
    assert res.gap_roundoff == pytest.approx(roundoff / scale, rel=1e-6, abs=1e-20), f"{where}: reported gap roundoff"


@pytest.mark.parametrize("method, seed, p", GRID)
def test_matches_cvxpy(method, seed, p):
    kind, A, G = INSTANCES[seed]
    for gamma, X_ref, f_ref in references(seed, p):
        where = f"{method} on instance {seed} ({kind}, n={A.shape[0]}, d={A.shape[1]}), p={p}, gamma={gamma:.6g}"
        _check_against_cvxpy(where, solve(A, G, gamma, method, p=p, tol=TOL), A, G, gamma, X_ref, f_ref, p)


# Both ways of applying (I + sigma L)^{-1} (solvers/linear.py): always the LU, Jacobi-CG
# with a switch to the LU after one iteration (the switch is taken), and Jacobi-CG with room;
# and SSNAL's ADMM phase: stopped at once (loose admm_tol), run in full, skipped, with other penalties.
LINEAR_CHOICES = [("ssnal", dict(max_jacobi=0)), ("ssnal", dict(max_jacobi=1)), ("ssnal", dict(max_jacobi=100)),
                  ("admm", dict(max_jacobi=1)), ("admm", dict(max_jacobi=100)), ("admm", dict(max_jacobi=100, balance_every=10)),
                  ("ssnal", dict(admm_tol=0.5)), ("ssnal", dict(admm_tol=1e-14)), ("ssnal", dict(admm_iters=0)),
                  ("ssnal", dict(admm_sigma_factor=1.0)), ("ssnal", dict(admm_sigma_factor=30.0))]


@pytest.mark.parametrize(
    "method, options, seed",
    [pytest.param(m, o, s, id=f"{m}-{'-'.join(f'{k}{v}' for k, v in o.items())}-{s}-d{INSTANCES[s][1].shape[1]}")
     for m, o in LINEAR_CHOICES for s in range(0, N_INSTANCES, 3) if INSTANCES[s][1].shape[1] > 1],
)
def test_linear_solver_choices_match_cvxpy(method, options, seed):
    kind, A, G = INSTANCES[seed]
    for gamma, X_ref, f_ref in references(seed, 2):
        where = f"{method} {options} on instance {seed} ({kind}, n={A.shape[0]}, d={A.shape[1]}), gamma={gamma:.6g}"
        res = solve(A, G, gamma, method, tol=TOL, **options)
        _check_against_cvxpy(where, res, A, G, gamma, X_ref, f_ref, 2)


@pytest.mark.parametrize(
    "seed, p",
    [pytest.param(s, p, id=f"{s}-{INSTANCES[s][0]}-d{INSTANCES[s][1].shape[1]}-p{p}")
     for s in range(N_INSTANCES) for p in (2, 1) if "exact1d" in METHODS and applies("exact1d", s, p)],
)
def test_exact1d_matches_certified_solution(seed, p):
    """exact1d is exact: within 1e-9 of a certified solution (see module docstring)."""
    kind, A, G = INSTANCES[seed]
    for gamma, X_ref, _ in references(seed, p):
        where = f"exact1d on instance {seed} ({kind}, n={A.shape[0]}, d={A.shape[1]}), p={p}, gamma={gamma:.6g}"
        res = solve(A, G, gamma, "exact1d", p=p, tol=TOL)
        for c in range(A.shape[1]):  # p = 1 separates by coordinate
            x, bound = reference.certified_1d(A[:, c], G, gamma, X_ref[:, c])
            assert bound <= 1e-11, f"{where}, column {c}: reference certified only to {bound:.1e}"
            err = np.abs(res.centers[:, c] - x).max()
            assert err <= EXACT_ATOL, f"{where}, column {c}: {err:.2e} from the certified solution"


def test_grid_covers_every_method():
    """Every registered method is exercised by the reference grid."""
    assert {m for m, _, _ in (g.values for g in GRID)} == set(METHODS)
