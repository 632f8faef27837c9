"""SSNAL: semismooth Newton-CG augmented Lagrangian method for convex clustering, p = 2.

Sun, Toh & Yuan, *Convex clustering: model, theoretical guarantee and efficient
algorithm*, JMLR 22(9), 2021; docs/model.md, section 2.  With dual ``Z`` and penalty
``sigma``, each outer step minimises over ``X``::

    phi(X) = 1/2 ||X - A||^2 + sigma sum_e env_e(B(X)_e + Z_e / sigma) - ||Z||^2 / (2 sigma)
    grad phi(X) = X - A + B*( Pi_Omega(Z + sigma B(X)) )

by semismooth Newton: ``H dX = -grad`` with ``H(Y) = Y + sigma B*(M(B(Y)))``,
``M_e = I`` on edges the prox zeroes and ``alpha_e (I - u_e u_e^T)`` on the
others (``alpha_e = r_e / (sigma ||D_e||) < 1``).  Then
``Z <- Pi_Omega(Z + sigma B(X))`` and ``sigma`` grows while the primal
infeasibility lags.

Each Newton step goes to the minimiser of ``phi`` along ``dX`` on ``[0, 1]``
(Armijo's condition checked as a safeguard).  The model ``H`` gives a separated
edge no curvature along ``D_e``, so a full step can push a few edges through
their ball, where ``phi`` curves sharply; halving steps stop short of the ball
and the next step meets the same edges again, while the exact minimiser puts
them inside, where the next ``H`` sees them as fused (moons, n = 10,000: 22 -> 15
Newton steps; 10-D blobs 8 -> 4).

The Newton system is solved by conjugate gradients preconditioned with
``P = (I + sigma L_c) (x) I_d``, the graph Laplacian ``L_c`` with edge weights
``c_e = 1`` (fused) or ``alpha_e (d - 1) / d`` (separated): the isotropic part
of ``M``, applied by its diagonal (Jacobi) while that lets CG finish in a few
iterations, else by its sparse factor, built when ``sigma`` changes, from the
edges of that moment (:mod:`.linear`); for ``d = 1`` it equals ``H``, is
refactorised every step, and one solve is the step.  CG is deflated by the
vectors constant on the parts of a partition (:func:`_coarse_parts`): the fused
components, or in 2-D the components of the edges well inside their ball, which
also give the points of a group's edge layer parts of their own (docs/model.md).

The Newton phase starts from a short ADMM run (as in the reference code),
which ends once it meets ``admm_tol``; on low-dimensional data its penalty is
raised (``admm_sigma_factor``), which brings the Newton phase a start from
which its systems need a few CG iterations each; on higher-dimensional data
(Jacobi-CG, no factor to redo) it balances its residuals every 10 iterations
instead of 50 (8 blob problems, d = 5-20: ADMM iterations 60 -> 50 on 10-D
blobs at n = 10,000, Newton steps 15 -> 6 where d = 10 with 10 clusters).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import check_int, check_positive
from . import admm, problem
from .core import Iterate, converged_message, meets_tol, register, stopped_message
from .fused import group_sums, pair_blocks
from .linear import ShiftedLaplacian, spd_splu

# Outer iterations in a row whose Newton loop cannot meet its tolerance (it runs all max_newton
# steps, or its line search fails) with no 10 % gain towards the stopping test, after which the
# method stops as stalled: the residuals are at their rounding floor.
STALL_ITERS = 10
# From this many points, 3-D problems try Jacobi-CG (up to 200 iterations) before the factor.
JACOBI_3D_MIN_NODES = 5000
# Fractions f of the ball radius tried, finest first, for the parts that deflate CG: the
# components of the edges with ||D_e|| <= f c_e (:func:`_coarse_parts`).
COARSE_FRACTIONS = (0.2, 0.3, 0.5)
# The finer parts are used from the first Newton system that needs more than this many CG
# iterations on: where CG is cheap already, the larger coarse matrix costs more than it saves
# (moons, n = 10,000: 0.57 s against 0.67 s with finer parts throughout; BENCHMARKS.md).
REFINE_AFTER_CG = 20


def _envelope(norm, c, active):
    """The Moreau envelope of ``c ||.||`` at a point of norm ``norm`` (``active``: ``norm > c``)."""
    return np.where(active, c * norm - 0.5 * c**2, 0.5 * norm**2)


class _Subproblem:
    """``phi``'s changes, its gradient and generalized Hessian at fixed ``(Z, sigma)``.

    ``phi`` itself holds the constant ``-||Z||^2 / (2 sigma)``, which nearly cancels the
    fused edges' envelopes; for large ``gamma`` that leaves ``phi``'s value with rounding
    errors above the decrease a Newton step makes.  The line search therefore compares
    :meth:`_Line.change`, computed edge by edge without the constant.
    """

    def __init__(self, A, graph, radius, Z, sigma):
        self.A, self.graph, self.sigma = A, graph, sigma
        self.c = radius / sigma  # prox threshold on D
        self.shift = Z / sigma

    def edges(self, X):
        """``D = B(X) + Z / sigma``, its row norms, and the edges the prox does not zero."""
        D = problem.edge_diff(self.graph, X) + self.shift
        nD = problem.norms(D, 2)
        return X, D, nD, nD > self.c

    def along(self, point, dX):
        """``phi`` along ``X + t dX``: a :class:`_Line` (per-edge scalars, one pass over the edges)."""
        return _Line(self, point, dX)

    def gradient(self, X, D, nD, active):
        """Gradient and the pieces the Hessian needs, from :meth:`edges`."""
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = np.where(active, self.c / nD, 1.0)  # Pi(sigma D) = sigma * shrink * D
        Znew = self.sigma * D * shrink[:, None]
        grad = X - self.A + problem.edge_adjoint(self.graph, Znew)
        return grad, shrink, Znew


class _Line:
    """``phi(X + t dX) - phi(X)`` for the line search, from per-edge scalars.

    With ``b_e = <D_e, B(dX)_e>`` and ``a_e = ||B(dX)_e||^2``, an edge's distance at ``t``
    is ``sqrt(||D_e||^2 + 2 t b_e + t^2 a_e)``, convex in ``t``.  Edges inside their ball
    at ``t = 0`` and ``t = 1`` stay inside on the whole step and contribute
    ``sigma (t b_e + t^2 a_e / 2)`` exactly: their sums are formed once, and each trial
    step costs a few operations on the other edges alone.
    """

    def __init__(self, sub, point, dX):
        self.sub, self.point, self.dX = sub, point, dX
        X, D, nD, active = point
        self.BdX = problem.edge_diff(sub.graph, dX)
        b = problem.row_dots(D, self.BdX)
        a = problem.row_dots(self.BdX, self.BdX)
        nD2, c2 = nD**2, sub.c**2
        inside = (nD2 <= c2) & (nD2 + 2 * b + a <= c2)
        self.sum_b, self.sum_a = float(b[inside].sum()), float(a[inside].sum())
        rest = np.flatnonzero(~inside)
        self.b, self.a, self.nD2, self.c, self.active = b[rest], a[rest], nD2[rest], sub.c[rest], active[rest]
        self.env0 = _envelope(nD[rest], self.c, self.active)
        self.fit = (np.einsum("ij,ij->", X - sub.A, dX), np.einsum("ij,ij->", dX, dX))

    def _norm(self, t):
        return np.sqrt(np.maximum(self.nD2 + t * (2 * self.b + t * self.a), 0.0))

    def change(self, t):
        """``phi(X + t dX) - phi(X)``."""
        norm_t = self._norm(t)
        active_t = norm_t > self.c
        quadratic = t * (self.b + 0.5 * t * self.a)
        env = np.where(self.active | active_t, _envelope(norm_t, self.c, active_t) - self.env0, quadratic)
        fused = t * (self.sum_b + 0.5 * t * self.sum_a)
        return t * (self.fit[0] + 0.5 * t * self.fit[1]) + self.sub.sigma * (fused + env.sum())

    def slope(self, t):
        """``d/dt phi(X + t dX)`` and its derivative (phi is C^1, piecewise smooth in t)."""
        norm_t = self._norm(t)
        g = self.b + t * self.a
        inside = norm_t <= self.c
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = np.where(inside, g, self.c * g / norm_t)
            d2 = np.where(inside, self.a, self.c * (self.a * norm_t**2 - g**2) / norm_t**3)
        return (self.fit[0] + t * self.fit[1] + self.sub.sigma * (self.sum_b + t * self.sum_a + d1.sum()),
                self.fit[1] + self.sub.sigma * (self.sum_a + np.nansum(d2)))

    def minimizer(self, slope0, rtol=1e-6, max_iter=30):
        """The minimiser of phi on ``t in [0, 1]``: 1 while phi still decreases there, else
        the root of the slope by Newton's method safeguarded by bisection.

        phi is convex and C^1 in t; its curvature jumps where an edge enters or leaves its
        ball, which Armijo's halving steps stop short of.
        """
        s, h = self.slope(1.0)
        if s <= 0:
            return 1.0
        lo, hi, t = 0.0, 1.0, 1.0
        for _ in range(max_iter):
            if s > 0:
                hi = t
            else:
                lo = t
            if abs(s) <= rtol * abs(slope0) or hi - lo <= 1e-12 * hi:
                break
            t_newton = t - s / h if h > 0 else -1.0
            t = t_newton if lo < t_newton < hi else 0.5 * (lo + hi)
            s, h = self.slope(t)
        return t

    def point_at(self, t):
        """:meth:`_Subproblem.edges` at ``X + t dX`` (``D`` updated by ``t B(dX)``)."""
        X, D, _, _ = self.point
        Dn = D + t * self.BdX
        nDn = problem.norms(Dn, 2)
        return X + t * self.dX, Dn, nDn, nDn > self.sub.c


class _Coarse:
    """Deflation space: vectors constant on each part of a partition of the nodes.

    The troublesome modes of ``H`` are relative motions of groups of points held
    together by fused edges (weight ``sigma``) and coupled by separated edges
    whose ``M_e = alpha_e (I - u_e u_e^T)`` is strongly anisotropic.  With ``W``
    the part indicators (times ``I_d``), ``E = W^T H W`` is a small sparse
    matrix (blocks on the graph of parts) assembled from the edges that cross
    parts alone (fused or not), and factorised by sparse LU.
    """

    def __init__(self, graph, comp, K, d, sigma, alpha, u):
        self.comp, self.K, self.d, self.sigma = comp, K, d, sigma
        ci, cj = comp[graph.edges[:, 0]], comp[graph.edges[:, 1]]
        cross = np.flatnonzero(ci != cj)
        self.i, self.j = graph.edges[cross, 0], graph.edges[cross, 1]
        self.ci, self.cj = ci[cross], cj[cross]
        self.alpha, self.u = alpha[cross], u[cross]
        # E: sizes I_d on the diagonal blocks, and sigma M_e added at (a, a), (b, b) and
        # subtracted at (a, b), (b, a) for each crossing edge between parts a and b; the edges
        # between one pair of parts summed first.
        Me = pair_blocks(sigma * self.alpha, self.u)
        Me = Me.reshape(len(cross), d * d)
        lo, hi = np.minimum(self.ci, self.cj).astype(np.int64), np.maximum(self.ci, self.cj).astype(np.int64)
        pairs, pair_of = np.unique(lo * K + hi, return_inverse=True)  # int64: K^2 passes 2^31 from K = 46,341
        lo, hi = pairs // K, pairs % K
        blocks = group_sums(Me, pair_of, len(pairs))
        diag = group_sums(blocks, lo, K) + group_sums(blocks, hi, K)
        diag[:, :: d + 1] += np.bincount(comp, minlength=K)[:, None]
        offset_r, offset_c = np.divmod(np.arange(d * d), d)
        rows = np.concatenate([(np.arange(K) * d)[:, None] + offset_r, (lo * d)[:, None] + offset_r,
                               (hi * d)[:, None] + offset_r]).ravel()
        cols = np.concatenate([(np.arange(K) * d)[:, None] + offset_c, (hi * d)[:, None] + offset_c,
                               (lo * d)[:, None] + offset_c]).ravel()
        vals = np.concatenate([diag, -blocks, -blocks]).ravel()
        E = sp.csc_array((vals, (rows, cols)), shape=(K * d, K * d))
        self.factor = spd_splu(E)

    def restrict(self, Y):
        """``W^T Y``: part sums, shape (K, d)."""
        return group_sums(Y, self.comp, self.K)

    def restrict_hess(self, Y):
        """``(H W)^T Y = W^T H Y`` using only the crossing edges."""
        V = problem.rows(Y, self.i) - problem.rows(Y, self.j)
        V = self.alpha[:, None] * (V - self.u * problem.row_dots(self.u, V)[:, None])
        return self.restrict(Y) + self.sigma * (group_sums(V, self.ci, self.K) - group_sums(V, self.cj, self.K))

    def lift_solve(self, R):
        """``W E^{-1} R`` for R of shape (K, d)."""
        C = self.factor.solve(R.ravel()).reshape(self.K, self.d)
        return problem.rows(C, self.comp)


def _ended_in_admm(A, graph, gamma, pre, tol, stop_when, callback, sigma):
    """The ADMM phase's iterate ``pre`` as the answer, where it ends the run: it meets ``tol``, or
    ``stop_when`` held on it (at one of the phase's checks, or where it met its own tolerance);
    None otherwise.  Its evidence is then the run's one record (iteration 0)."""
    if not (pre.stopped or pre.converged):
        return None
    ev = problem.evidence(A, graph, gamma, pre.X, pre.U, pre.Z, 2)
    met = not pre.stopped and meets_tol(ev, tol)
    stopped = pre.stopped or (not met and stop_when is not None and stop_when(pre.X, pre.Z, ev))
    if not (met or stopped):
        return None
    record = dict(iteration=0, sigma=sigma, admm=pre.n_iter, newton=0, cg=0, line_search_failures=0, **ev)
    if callback is not None:
        callback(record)
    message = (f"{converged_message(ev, tol)} in the ADMM phase ({pre.n_iter} iterations)" if met else
               f"{stopped_message(ev, tol, pre.n_iter)} (ADMM phase)")
    return Iterate(pre.X, pre.U, pre.Z, 0, met, message, history=[record],
                   resume=dict(sigma=sigma, warm_sigma_factor=1.0), stopped=stopped)


def _coarse_parts(graph, nD, c, fused, d, max_coarse, refine=True):
    """The partition that deflates CG: ``(K, labels)``, or None.

    The fused components (``||D_e|| <= c_e``) when their space (parts times ``d``) fits in
    ``max_coarse``; with ``refine`` and ``d <= 2``, the components of the edges well inside
    their ball (``||D_e|| <= f c_e``) for the smallest ``f`` of :data:`COARSE_FRACTIONS`
    that fits.  The points of a group's edge layer, where edges sit near their ball's
    boundary and the step moves points against each other, then become parts of their
    own, resolved exactly by ``E``, while the group's interior moves as one: on moons
    (n = 30,000, 60 clusters) CG per Newton step 25 -> 5 (BENCHMARKS.md).
    """
    K, comp = graph.components_of(fused)
    if K * d > max_coarse or K == graph.n:
        return None
    for f in COARSE_FRACTIONS if refine and d <= 2 else ():  # above, the finer coarse matrices fill in
        finer = graph.components_of(nD <= f * c)
        if finer[0] * d <= max_coarse:
            return finer
    return K, comp


def _newton_direction(graph, grad, D, nD, c, active, shrink, sigma, system, cg_tol, cg_maxiter, max_coarse,
                      refine=True):
    """Solve ``H dX = -grad`` by deflated CG, preconditioned as ``system`` decides; returns ``dX``, CG count.

    While Jacobi is the system's choice, CG gets ``system.max_jacobi`` iterations
    with it; if they fall short, the system switches to its sparse factor for good
    (:meth:`~advcluster.solvers.linear.ShiftedLaplacian.pcg`).
    """
    d = grad.shape[1]
    alpha = np.where(active, shrink, 1.0)  # alpha_e on separated edges, 1 on fused ones
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(active[:, None], D / nD[:, None], 0.0)
    rhs = -grad
    # H = (I + sigma L_fused) + sigma B_act^T M_act B_act: one n x n product and two small ones.
    fused = ~active
    act = np.flatnonzero(active)
    H_fused = graph.laplacian(sigma * fused, shift=1.0)  # zeros on the separated edges
    B_act = graph.difference[act]
    J_act = B_act.T.tocsr()
    a_act, u_act = sigma * alpha[act, None], u[act]

    def hess(Y):
        V = B_act @ Y
        return H_fused @ Y + J_act @ (a_act * (V - u_act * problem.row_dots(u_act, V)[:, None]))

    parts = _coarse_parts(graph, nD, c, fused, d, max_coarse, refine)
    coarse = None if parts is None else _Coarse(graph, parts[1], parts[0], d, sigma, alpha, u)
    return system.pcg(hess, rhs, cg_tol, cg_maxiter, coarse=coarse)


@register("ssnal", norms=(2,), summary="semismooth Newton-CG augmented Lagrangian (Sun, Toh & Yuan 2021)")
def run(
    A,
    graph,
    gamma,
    *,
    p,
    tol,
    max_iter,
    x0,
    z0,
    verbose,
    sigma=None,
    sigma_factor=5.0,
    max_newton=50,
    cg_tol=1e-2,
    cg_maxiter=200,
    admm_iters=100,
    admm_tol=3e-4,
    admm_sigma_factor=None,
    warm_sigma_factor=100.0,
    max_coarse=None,
    inner_ratio=0.2,
    max_jacobi=None,
    callback=None,
    stop_when=None,
):
    """SSNAL for p = 2.

    Options
    -------
    sigma : float, optional
        Initial penalty (default: scaled to the data, ``gamma * mean(w) / spread``).
    sigma_factor : float
        Growth of ``sigma`` while the primal infeasibility lags (default 5).
    max_newton : int
        Newton steps per outer iteration.
    cg_tol, cg_maxiter
        Relative tolerance and iteration cap of the preconditioned CG.
    admm_iters : int
        Most ADMM iterations run first (as in the reference code), from the
        warm start when one is given (after a small change of the data it
        settles the changed region faster than Newton steps at the warm
        penalty: BENCHMARKS.md, warm re-solves); 0 turns the phase off.
    admm_tol : float
        The ADMM phase stops early once its KKT residual and duality gap are
        at most this (checked every 10 iterations): well-separated data
        (10-D blobs) get there in 30-60 iterations, and Newton takes over
        (default 3e-4, chosen on the solver benchmark: BENCHMARKS.md).
    admm_sigma_factor : float, optional
        The ADMM phase's penalty is ``sigma`` times this.  Default: 3 for
        ``d <= 3``, 1 above: kNN graphs of low-dimensional data are mesh-like
        and mix slowly, and the stronger coupling fuses their clusters sooner;
        on 10-D blobs it would slow the phase down (measured in BENCHMARKS.md).
    warm_sigma_factor : float
        Once started near the solution (after the ADMM phase, or from ``z0``),
        the Newton phase begins at ``sigma`` times this factor.
    max_coarse : int, optional
        Largest deflation space (parts times d) used in CG (:func:`_coarse_parts`).
        Default: the larger of 10,000 and ``0.4 n`` for ``d <= 2``, where the
        coarse matrix lives on a nearly planar graph of parts and its factor stays
        sparse (moons, n = 100,000: about 50 s with 10,000, 43 s with 40,000); 2,000
        above, where it fills in (3-D Gaussian data, n = 5,000, 2,476 clusters:
        5.2 s -> 11.1 s with 10,000; BENCHMARKS.md).
    verbose : bool or int
        1 prints each outer iteration, 2 also each Newton step.
    inner_ratio : float
        Newton steps stop when the gradient norm is below this fraction of the
        last KKT residual (relative to ``1 + ||A||``); in the first outer
        iteration, of the starting point's (the ADMM phase's last, or that of
        ``(x0, z0)``), so the first update of ``Z`` keeps the accuracy the
        start already has.
    max_jacobi : int, optional
        CG iterations tried with the Jacobi preconditioner (in the ADMM phase
        and in the Newton systems) before the sparse factor of ``P`` takes over
        for good (:class:`~advcluster.solvers.linear.ShiftedLaplacian`); 0
        always factorises.  Default: 0 for ``d <= 3`` (kNN graphs of such data
        have small separators, so the factor stays sparse), 20 above; but 200
        for ``d = 3`` from :data:`JACOBI_3D_MIN_NODES` points on, where the
        factor of a 3-D kNN graph fills in (measured 1.1-2.1x faster, n = 5,000
        to 20,000, few clusters and nearly all singletons: BENCHMARKS.md).
    callback : callable, optional
        Called with each outer iteration's ``history`` record (the ADMM phase's are not
        reported, but for the one record of a run that ends there; :func:`advcluster.solve`
        adds the method and the seconds since it began).
    stop_when : callable, optional
        ``stop_when(X, Z, ev)`` where the ADMM phase ends short of ``tol`` and after each
        outer iteration short of it (``ev`` the evidence); True ends the run there.
        :func:`advcluster.solve` passes one that tries one proof of the partition, whose
        polished exact solution needs no more iterations.
    """
    max_iter = 200 if max_iter is None else max_iter
    n, d = A.shape
    low_dimensional = d <= 3  # kNN graphs with small separators: cheap factor, slow mixing
    if max_jacobi is None:
        max_jacobi = 200 if d == 3 and n >= JACOBI_3D_MIN_NODES else 0 if low_dimensional else 20
    max_jacobi = check_int(max_jacobi, "max_jacobi", low=0)
    if max_coarse is None:
        max_coarse = max(10000, int(0.4 * n)) if d <= 2 else 2000
    max_coarse = check_int(max_coarse, "max_coarse", low=0)
    admm_sigma_factor = ((3.0 if low_dimensional else 1.0) if admm_sigma_factor is None
                         else check_positive(admm_sigma_factor, "admm_sigma_factor"))
    admm_tol = check_positive(admm_tol, "admm_tol")
    admm_iters = check_int(admm_iters, "admm_iters", low=0)
    radius = gamma * graph.weights
    X = A.copy() if x0 is None else x0.copy()
    Z = np.zeros((graph.n_edges, d)) if z0 is None else problem.project_dual(z0, radius, 2)
    if graph.n_edges == 0 or gamma == 0 or not np.any(radius > 0):
        X, Z = A.copy(), np.zeros((graph.n_edges, d))
        U = problem.edge_diff(graph, X)
        return Iterate(X, U, Z, 0, True, "trivial problem: X = A (no edge carries a penalty)")

    normA = problem.fro(A)
    if sigma is None:
        sigma = float(np.mean(radius)) / problem.spread(A)
        sigma = min(max(sigma, 1e-4), 1e4)
    history = []
    n_admm = 0
    warm_kkt = 1.0  # KKT residual of the starting point, which sets the first inner tolerance
    if x0 is not None and z0 is not None:
        U = problem.edge_diff(graph, X)
        ev = problem.evidence(A, graph, gamma, X, U, Z, 2)
        if meets_tol(ev, tol):
            return Iterate(X, U, Z, 0, True, "warm start already meets tol", history=[dict(iteration=0, **ev)])
        warm_kkt = ev["kkt_residual"]
    if admm_iters:
        pre = admm.run(A, graph, gamma, p=2, tol=max(tol, admm_tol), max_iter=admm_iters, x0=x0, z0=z0,
                       verbose=False, sigma=sigma * admm_sigma_factor, check_every=min(10, admm_iters),
                       balance_every=50 if low_dimensional else 10,
                       max_jacobi=max_jacobi, cg_tol=1e-4, stop_when=stop_when)
        X, Z, n_admm = pre.X, pre.Z, pre.n_iter
        ended = _ended_in_admm(A, graph, gamma, pre, tol, stop_when, callback, sigma * warm_sigma_factor)
        if ended is not None:
            return ended
        warm_kkt = pre.history[-1]["kkt_residual"] if pre.history else warm_kkt
        if verbose:
            print(f"ssnal: {n_admm} ADMM iterations first, KKT residual {warm_kkt:.2e}")
    if admm_iters or z0 is not None:
        sigma *= warm_sigma_factor
    system = ShiftedLaplacian(graph, max_jacobi)
    n_newton = 0
    n_cg = 0
    refine = False
    stalled = 0
    distance, stuck_run = [], 0
    converged = proven = False
    message = f"reached max_iter={max_iter} outer iterations"
    for it in range(1, max_iter + 1):
        sub = _Subproblem(A, graph, radius, Z, sigma)
        point = sub.edges(X)
        _, D, nD, active = point
        grad, shrink, Znew = sub.gradient(*point)
        # Inner accuracy: a fraction of the current infeasibility, never looser than 1e-1 (relative).
        last = history[-1]["kkt_residual"] if history else warm_kkt
        inner_tol = max(0.1 * tol, min(0.1, inner_ratio * last)) * (1 + normA)
        stuck = True  # unless Newton meets inner_tol
        for _ in range(max_newton):
            gnorm = problem.fro(grad)
            if gnorm <= inner_tol:
                stuck = False
                break
            if sigma != system.sigma or d == 1:  # P once per value of sigma; for d = 1 it is the exact Hessian
                system.update(sigma, np.where(active, shrink * (d - 1) / d, 1.0))
            if d == 1:
                dX, k = system.factor_solve(-grad), 0
            else:
                dX, k = _newton_direction(graph, grad, D, nD, sub.c, active, shrink, sigma, system, cg_tol,
                                          cg_maxiter, max_coarse, refine)
                refine = refine or k > REFINE_AFTER_CG
            n_cg += k
            n_newton += 1
            slope = np.sum(grad * dX)
            line = sub.along(point, dX)
            step = line.minimizer(slope)
            for _ls in range(30):  # Armijo on phi (a safeguard); the point and gradient only at the accepted step
                if line.change(step) <= 1e-4 * step * slope:
                    break
                step *= 0.5
            else:  # no descent along dX (inexact CG): leave the inner loop, the outer update still helps
                stalled += 1
                break
            if verbose > 1:
                print(f"    newton gnorm {gnorm:.2e} tol {inner_tol:.1e} step {step:.3g} cg {k} active {active.sum()}")
            point = line.point_at(step)
            X, D, nD, active = point
            grad, shrink, Znew = sub.gradient(*point)
        U = D - Znew / sigma  # = Prox(D), exact zeros on fused edges
        Z = Znew
        ev = problem.evidence(A, graph, gamma, X, U, Z, 2)
        history.append(dict(iteration=it, sigma=sigma, admm=n_admm, newton=n_newton, cg=n_cg,
                            line_search_failures=stalled, **ev))
        if callback is not None:
            callback(history[-1])
        if verbose:
            print(
                f"ssnal {it:3d}  sigma {sigma:9.3e}  kkt {ev['kkt_residual']:.2e}  "
                f"primal {ev['primal_infeasibility']:.1e}  stat {ev['stationarity']:.1e}  newton {n_newton}  cg {n_cg}"
            )
        if ev["primal_infeasibility"] > ev["stationarity"]:  # the penalty of the next iteration
            sigma = min(sigma * sigma_factor, 1e10)
        if meets_tol(ev, tol):
            converged = True
            message = converged_message(ev, tol)
            break
        if stop_when is not None and stop_when(X, Z, ev):
            message, proven = stopped_message(ev, tol), True
            break
        # Stalled: Newton stuck, and the distance to the stopping test (KKT residual, and the gap
        # beyond its rounding error) not 10 % shorter, for STALL_ITERS outer iterations; the
        # caller's proof may still settle the answer (docs/partitions.md), more iterations would not.
        distance.append(max(ev["kkt_residual"], ev["duality_gap"] - ev["gap_roundoff"]))
        stuck_run = stuck_run + 1 if stuck else 0
        if stuck_run >= STALL_ITERS and min(distance[-STALL_ITERS:]) > 0.9 * min(distance[:-STALL_ITERS], default=np.inf):
            message = (f"stalled: Newton stuck and no progress in {STALL_ITERS} outer iterations, KKT residual "
                       f"{ev['kkt_residual']:.2e} and duality gap {ev['duality_gap']:.2e} (rounding error "
                       f"{ev['gap_roundoff']:.1e}) against tol {tol:.0e}")
            break
    return Iterate(X, U, Z, it, converged, message, n_inner=n_newton, history=history,
                   resume=dict(sigma=sigma, warm_sigma_factor=1.0), stopped=proven)
