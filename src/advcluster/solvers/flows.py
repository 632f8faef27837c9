"""In-group dual flows with room: the part of a partition's certificate that a solver leaves open
(docs/partitions.md, section 3).

Given the divergence ``T`` (n, d) that the edges inside the groups must carry, find ``z`` on
those edges with ``J_in z = T`` and ``||z_e|| <= r_e``, with as much room ``r_e - ||z_e||`` as the
proof needs.  Two ways, cheap first (:meth:`Flows.candidates`):

1. *From the solver's dual* ``z0``: alternating projections onto the balls shrunk by the room
   wanted and onto ``{J_in z = T}`` in the norm weighted by ``1 / s``, ``s_e`` the room ``z0``
   leaves (floored), so corrections go where there is room: one factorised Laplacian.
2. *The most room there is*: ``max 1 - t`` subject to ``J_in z = T`` and
   ``||z_e|| <= t r_e``, by a barrier method (Boyd & Vandenberghe 2004, section 11.3) on the
   loads ``v_e = z_e / r_e``: minimise ``tau t - sum_e log(t^2 - ||v_e||^2)`` on the affine set
   for growing ``tau``, from an electrical flow with ``t`` above its largest load, so no phase I
   is needed.  Each Newton step eliminates ``v`` and solves with the vector Laplacian
   ``sum_e r_e^2 (e_i - e_j)(e_i - e_j)^T (x) H_e^{-1}`` (``H_e`` the barrier's Hessian block).
   The solver's dual can saturate edges that a flow need not saturate; this finds one that does
   not whenever one exists.

Each group's Laplacian is singular (constants): one point of each group is grounded.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import problem
from ..graph import Graph
from .fused import block_laplacian, group_means
from .linear import LDL_MAX_COLUMNS, LDL, LU, cg, spd_splu

MAX_ROUNDS = 8  # rounds of alternating projections
REWEIGHTED_ROUNDS = 8  # then rounds with the conductances refreshed from the flow
FACTOR_MAX_NODES = 2000  # grounded Laplacians of wide data up to this size are factorised
BARRIER_MAX_UNKNOWNS = 20_000  # the barrier method on every group: at most this many unknowns (nodes x d)
REGION_MAX_UNKNOWNS = 4_000  # the barrier method around the edges short of room: at most this many
BARRIER_MAX_FILL = 2_000_000  # entries of a barrier step's LU factor, beyond which the method gives up
_GROUNDED_LDL = weakref.WeakKeyDictionary()  # one LDL^T analysis of each graph's pattern


class Flows:
    """The in-group flow problem of one candidate partition.

    Parameters
    ----------
    graph : Graph
    labels : ndarray (n,)
        The candidate's groups.
    inner : ndarray of int
        The edges inside groups (positive weight).
    r : ndarray
        Their radii ``gamma w_e``.
    T : ndarray (n, d)
        The divergence the flows must carry.
    z0 : ndarray
        The solver's dual on those edges (inside the balls).
    atol : float
        Residual to which the iterative Laplacian solves run (the proof's rounding scale).
    """

    def __init__(self, graph, labels, inner, r, T, z0, atol):
        n, d = T.shape
        self.root = np.full(int(labels.max()) + 1, n)
        np.minimum.at(self.root, labels, np.arange(n))
        self.ground = np.zeros(n)
        self.ground[self.root] = 1.0
        self.graph, self.labels, self.inner, self.atol = graph, labels, inner, atol
        self.i, self.j = graph.edges[inner].T
        self.J = graph.incidence[:, inner]
        self.r, self.z0 = r, z0
        # What a flow can carry: T less its group means (which are the fused solution's
        # rounding; no flow inside a group changes a group's sum, the proof's beta counts them).
        self.T = T - group_means(T, labels, int(labels.max()) + 1)[labels]

    def candidates(self, margin, quick=False):
        """Flows in the balls, cheapest first: projections from the solver's dual, aiming for
        ``margin`` (relative room per edge); then (unless ``quick``) the flow with the most room,
        first on the groups the projections left short of room only (groups are independent
        problems), then on all."""
        best = -np.inf
        for z in self._proposals(margin, quick):
            if z is None:
                continue
            z = self._refined(z)
            room = 1 - float(np.max(problem.norms(z, 2) / self.r))
            if room > best and room >= 0:
                best = room
                yield z

    def _proposals(self, margin, quick):
        z, inside = self._projected(margin)
        if z is None:
            if not quick:
                yield self._most_room(margin)
            return
        if np.all(inside):
            yield z
        if quick:
            return
        short = problem.norms(z, 2) > (1 - margin / 2) * self.r
        if np.any(short):
            edges = self._region(short)
            if 0 < edges.size < self.r.size:
                sub = self._restricted(edges, z)
                part = sub._most_room(margin[edges], start=z[edges])
                if part is not None:
                    z = z.copy()
                    z[edges] = part
                    yield z
        yield self._most_room(margin, start=z if np.all(inside) else None)

    def _region(self, short):
        """Edges whose flow the barrier method re-routes: those of the groups holding an edge
        short of room, or, when that is more than :data:`REGION_MAX_UNKNOWNS` allows, those
        within as many steps of the short edges as fit."""
        d = self.T.shape[1]
        groups = np.zeros(int(self.labels.max()) + 1, dtype=bool)
        groups[self.labels[self.i[short]]] = True
        if np.count_nonzero(groups[self.labels]) * d <= REGION_MAX_UNKNOWNS:
            return np.flatnonzero(groups[self.labels[self.i]])
        mask = np.zeros(self.graph.n_edges, dtype=bool)
        mask[self.inner] = True
        depth = self.graph.hops_from(np.unique(np.r_[self.i[short], self.j[short]]), mask)
        reach = np.sort(depth[np.isfinite(depth)])
        limit = reach[max(REGION_MAX_UNKNOWNS // d, 1) - 1] if reach.size * d > REGION_MAX_UNKNOWNS else np.inf
        near = depth < limit  # whole layers of the search only
        return np.flatnonzero(near[self.i] & near[self.j])

    def _restricted(self, edges, z):
        """The flow problem on some of the edges: they must carry what ``z`` on the other edges
        leaves of ``T`` at their end points."""
        nodes = np.unique(np.r_[self.i[edges], self.j[edges]])
        local = np.full(self.graph.n, -1)
        local[nodes] = np.arange(nodes.size)
        pairs = np.column_stack([local[self.i[edges]], local[self.j[edges]]])
        graph = Graph(int(nodes.size), pairs, np.ones(edges.size))
        labels = graph.components_of(np.ones(edges.size, dtype=bool))[1]
        others = z.copy()
        others[edges] = 0.0
        T = (self.T - self.J @ others)[nodes]
        return Flows(graph, labels, np.arange(edges.size), self.r[edges], T, self.z0[edges], self.atol)

    def _solver(self, conductance):
        """The grounded Laplacian's solve with these conductances (None when it cannot be factorised)."""
        # Normalised to a largest conductance of 1, so the grounding (1 at one point per group)
        # is on the Laplacian's scale; the potentials are scaled back.
        top = float(conductance.max())
        c = np.zeros(self.graph.n_edges)
        c[self.inner] = conductance / top
        try:
            solve = grounded_solver(self.graph, self.graph.laplacian(c, shift=self.ground), self.T.shape[1],
                                    self.atol)
        except RuntimeError:  # not quasi-definite in floating point: conductances too far apart
            return None
        return lambda R: solve(R) / top

    def _refined(self, z, rounds=3):
        """Iterative refinement of ``J_in z = T``: corrections weighted by each edge's room, kept
        while they stay in the balls and shrink the residual (the barrier method's last Newton
        steps solve ill-conditioned systems when the radii span many orders of magnitude)."""
        T = self.T
        residual = T - self.J @ z
        size = problem.fro(residual)
        if size <= 10 * self.atol:  # at the proof's rounding level already
            return z
        room = self.r - problem.norms(z, 2)
        if not np.all(room > 0):
            return z
        solve = self._solver(_floored(room))
        if solve is None:
            return z
        for _ in range(rounds):
            step = z + room[:, None] * self._edge_diff(solve(residual))
            after = T - self.J @ step
            if not (np.all(problem.norms(step, 2) < self.r) and problem.fro(after) < size):
                break
            z, residual, size = step, after, problem.fro(after)
            if size <= self.atol:
                break
        return z

    def _edge_diff(self, y):
        return y[self.i] - y[self.j]

    def _projected(self, margin):
        """``(z, inside)``: the flow after the last round, and whether it is in the balls."""
        r = self.r
        z, inside = self.z0, None
        for k in range(MAX_ROUNDS + REWEIGHTED_ROUNDS):
            if k == 0 or k >= MAX_ROUNDS:  # conductances: the room the flow leaves, refreshed late
                room = _floored(np.maximum(r - problem.norms(z, 2), 1e-9 * r))
                solve = self._solver(room)
                if solve is None:
                    return (None, None) if k == 0 else (z, inside)
            z = problem.project_dual(z, (1 - margin) * r, 2)
            z = z + room[:, None] * self._edge_diff(solve(self.T - self.J @ z))
            inside = problem.norms(z, 2) <= r
            if np.all(inside):
                break
        return z, inside

    def _most_room(self, margin, start=None, max_outer=12, max_newton=40):
        """The barrier method; stops once every edge has three quarters of the room ``margin``
        wants for it (the proof needs half), or the most room there is.

        ``start``: a flow carrying ``T`` (the projections' last one, nearly in the balls), else
        the electrical flow."""
        n, d = self.T.shape
        r, m = self.r, self.r.size
        if n * d > BARRIER_MAX_UNKNOWNS:
            return None
        T = self.T
        if start is None:
            c = _floored(r)
            solve = self._solver(c)
            if solve is None:
                return None
            z = c[:, None] * self._edge_diff(solve(T))
            z += c[:, None] * self._edge_diff(solve(T - self.J @ z))
        else:
            z = start
        v = z / r[:, None]
        t = 1.05 * float(np.max(problem.norms(v, 2))) + 1e-12
        tau = float(np.sum(2 * t / (t * t - problem.row_dots(v, v))))  # t stationary at the start
        want = 1 - 0.75 * margin
        scale = problem.fro(T) + 1e-300
        for _ in range(max_outer):
            before = t
            for _ in range(max_newton):
                step = self._newton(v, t, tau, T)
                if step is None:
                    return None
                dv, dt, decrement = step
                if decrement <= 1e-3:
                    break
                v, t = self._line_search(v, t, dv, dt, tau)
                if np.all(problem.norms(v, 2) <= want) and problem.fro(T - self.J @ (r[:, None] * v)) <= 1e-6 * scale:
                    return r[:, None] * v  # room enough; refinement removes the residual
            if np.all(problem.norms(v, 2) <= want):
                break
            if m / tau < 1e-13 or before - t < 1e-2 * abs(1 - t):  # converged, or no longer gaining room
                break
            tau *= 30
        return r[:, None] * v

    def _barrier(self, v, t, tau):
        q = t * t - problem.row_dots(v, v)
        return np.inf if t <= 0 or np.any(q <= 0) else tau * t - float(np.sum(np.log(q)))

    def _line_search(self, v, t, dv, dt, tau):
        phi0 = self._barrier(v, t, tau)
        step = 1.0
        for _ in range(60):
            if self._barrier(v + step * dv, t + step * dt, tau) <= phi0:
                return v + step * dv, t + step * dt
            step *= 0.5
        return v, t

    def _newton(self, v, t, tau, T):
        """The Newton step of the barrier problem on ``{J_in diag(r) v = T}``:
        ``(dv, dt, decrement)``, or None when the vector Laplacian cannot be factorised.  Where
        ``t`` is within rounding of a load, the step keeps ``t`` and re-centres ``v``."""
        n, d = T.shape
        r = self.r
        vv = problem.row_dots(v, v)
        q = t * t - vv
        g_v = 2 * v / q[:, None]
        g_t = tau - float(np.sum(2 * t / q))
        h = -4 * t * v / (q * q)[:, None]  # d^2 / dv dt
        h_tt = float(np.sum(-2 / q + 4 * t * t / (q * q)))
        cv = 2 / (q + 2 * vv)

        def hinv(x):  # H_e^{-1} x = (q/2) (x - c <v, x> v) per edge
            return 0.5 * q[:, None] * (x - (cv * problem.row_dots(v, x))[:, None] * v)

        def scatter(x):  # J_in diag(r) x
            return self.J @ (r[:, None] * x)

        blocks = (0.5 * q * r * r)[:, None, None] * (np.eye(d)[None] - (cv[:, None, None] * v[:, :, None] * v[:, None, :]))
        ground = np.repeat(self.ground, d) * float(np.max(0.5 * q * r * r))  # on the blocks' scale
        S = block_laplacian(n, d, self.i, self.j, blocks, ground).tocsc()
        try:
            lu = spd_splu(S)
        except RuntimeError:
            return None
        if lu.L.nnz + lu.U.nnz > BARRIER_MAX_FILL:  # groups of wide data fill in: each step would cost seconds
            return None
        residual = T - scatter(v)
        nu1 = lu.solve(np.ravel(scatter(hinv(-g_v)) - residual)).reshape(n, d)
        nu2 = lu.solve(np.ravel(-scatter(hinv(h)))).reshape(n, d)
        w1 = hinv(-g_v - r[:, None] * self._edge_diff(nu1))
        w2 = hinv(-h - r[:, None] * self._edge_diff(nu2))
        denominator = h_tt + float(np.sum(h * w2))
        if denominator > 1e-9 * h_tt:
            dt = (-g_t - float(np.sum(h * w1))) / denominator
            dv = w1 + dt * w2
        else:  # the Schur complement of t lost to cancellation (t next to a load): step in v alone
            dt, dv = 0.0, w1
        return dv, dt, -(float(np.sum(g_v * dv)) + g_t * dt)


def _floored(conductance):
    """Conductances at least 1e-12 of the largest, so the grounded Laplacian stays definite."""
    return np.maximum(conductance, 1e-12 * conductance.max())


def grounded_solver(graph, M, d, atol):
    """``M^{-1}`` for a grounded Laplacian on the graph's pattern: its LDL^T factor (up to three
    columns, or up to :data:`FACTOR_MAX_NODES` nodes), else Jacobi-CG to a residual of ``atol``,
    with SuperLU's LU when CG does not converge (kNN graphs of high-dimensional data fill their
    factors in).  A RuntimeError when the factorisation fails."""
    if d <= LDL_MAX_COLUMNS or graph.n <= FACTOR_MAX_NODES:
        factor = _GROUNDED_LDL.get(graph)
        if factor is None:
            factor = _GROUNDED_LDL[graph] = LDL()
        factor.factorise(M)  # on the graph's Laplacian pattern: after the first, numeric only
        return factor.solve
    diag = M.diagonal()[:, None]
    lu = []

    def solve(R):
        scale = problem.fro(R)
        if scale == 0:
            return np.zeros_like(R)
        if not lu:
            x, _, ok = cg(M.__matmul__, lambda V: V / diag, R, R / diag, max(1e-13, atol / scale), 500)
            if ok:
                return x
            lu.append(LU(graph))
            lu[0].factorise(M)
        return lu[0].solve(R)

    return solve
