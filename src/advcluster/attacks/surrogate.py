"""Gradient attacks through a smooth surrogate of the deviation (BL1, convex clustering, p = 2).

The deviation ``f(theta)`` (``delta``, ``N_c``, ...) is piecewise constant in ``theta``, so its
gradient is zero almost everywhere (docs/model.md, section 5). This module replaces it by a smooth function
of the lower-level *centres*, differentiates that through the lower level by implicit
differentiation, and climbs it by projected gradient ascent, evaluating the true ``f`` at every
iterate (the search keeps the best true ``f``; the surrogate only steers).

Surrogate
---------
With ``X*(theta)`` the convex clustering centres of ``A + E(theta)``, soft co-membership
``s_ij = exp(-||x_i - x_j||^2 / tau^2)`` and the clean co-membership ``C0_ij = 1`` iff points
``i`` and ``j`` share a clean (reference) label::

    S(theta) = sum_{(i, j) in P, i < j} ( s_ij(X*(theta)) - C0_ij )^2.

``S`` is large when the centres disagree with the clean partition: clusters with different
clean labels pulled together (``s -> 1`` where ``C0 = 0``) or clean clusters pulled apart.
The pair set ``P`` (option ``pairs``): ``"all"`` pairs (the default up to
:data:`PAIR_LIMIT` points; computed exactly from the ``K x K`` group structure and the
contingency table, so the cost is ``O(n + K^2 d)``, never ``n^2``), or ``"graph"``: the edges of
the clean weight graph (the default above :data:`PAIR_LIMIT` points; a fixed set, so ``S``
stays continuous in ``theta``). Fused points share a centre, so pairs inside a group contribute
a constant.

``tau`` (default :func:`default_tau`): the median, over the clean clusters, of the distance from
a cluster's centre to the nearest other clean centre: the scale at which clusters separate. With
a single clean cluster, the RMS distance of the data from its mean.

Implicit derivative (p = 2)
---------------------------
Let the current solution fuse the points into groups ``G_a`` (its labels), sizes ``n_a``, group
means ``abar_a`` of the (perturbed) data, and let ``x_i = c_a`` for ``i`` in ``G_a``. Restricted
to that fusion pattern, the objective is, up to a constant,

    F(c) = sum_a n_a / 2 ||c_a - abar_a||^2 + gamma sum_{a < b} W_ab ||c_a - c_b||,

``W_ab = sum of w_ij`` over the edges between ``G_a`` and ``G_b`` (intra-group edges contribute
``||c_a - c_a|| = 0``). Where the pattern is stable (the same pattern holds nearby), ``X*`` is the
minimiser of ``F``, which is smooth there (all connected centres distinct), with stationarity

    n_a (c_a - abar_a) + gamma sum_b W_ab u_ab = 0,     u_ab = (c_a - c_b) / ||c_a - c_b||.

Differentiating in the data ``A`` (``d(n_a abar_a) = sum_{i in G_a} da_i``)::

    n_a dc_a + gamma sum_b W_ab P_ab (dc_a - dc_b) = sum_{i in G_a} da_i - gamma sum_b dW_ab u_ab,
    P_ab = (I - u_ab u_ab^T) / ||c_a - c_b||,

i.e. ``H dc = r(dA)`` with ``H`` the Hessian of ``F``: ``diag(n_a) (x) I`` plus a weighted
graph Laplacian with PSD blocks ``gamma W_ab P_ab``, so ``H`` is symmetric positive definite.
Fused groups move rigidly (``dx_i = dc_a``). The ``dW`` term is present only when the weights
are rebuilt from the perturbed data (``reweight=True``, Gaussian ``w_ij = exp(-phi
||a_i - a_j||^2)``, so ``dw_ij = -2 phi w_ij <a_i - a_j, da_i - da_j>``; the kNN edge set is
locally constant). Adjoint: with ``g_a = sum_{i in G_a} dS/dx_i``, solve ``H lambda = g`` once;
then ``dS = <lambda, r(dA)>``, so

    dS/da_i = lambda_a(i) + 2 phi gamma sum_{cross edges e = (i, j)} w_e <lambda_a - lambda_b, u_ab> (a_i - a_j)

(``a``, ``b`` the groups of ``i``, ``j``; the sum only when the weights are rebuilt),
and ``dS/dtheta = M^T vec(dS/dA)`` for the linear perturbation ``E(theta) = (M theta).reshape``.
The groups are read off an accurate solve (``tol = 1e-8`` by default, at most
:data:`SOLVE_MAX_ITER` outer iterations, warm-started along the search), and the group centres
are then polished by a few Newton steps on ``F`` so that ``c`` solves the reduced problem to
rounding error (the solver's tolerance only has to get the fusion pattern right; SSNAL can
stall just above ``1e-9`` on some problems with a few thousand points). At a point where the
pattern changes (a merge or split), ``S`` is continuous but not differentiable and the formula
gives one one-sided derivative. ``S`` alone cannot see a split (a group moves rigidly until it
breaks); the split term below does. With kNN weights rebuilt from the perturbed data, the edge set (hence ``X*`` and ``S``)
jumps where a neighbour list changes; the gradient is that of the current piece.

Splits
------
A group stays fused while flows ``z_e`` on its edges, ``||z_e|| <= r_e = gamma w_e``, balance
every point: ``sum_e (J)_ie z_e = t_i``, with ``t_i = a_i - c_a - sum over the cross edges at i
of r_e u_e`` (``u_e`` the unit vector from the other group's centre to ``c_a``). The flow of
least ``sum_e ||z_e||^2 / r_e^2`` is ``z = R^2 J^T y``, ``y = L^+ t``, with ``L`` the group's
graph Laplacian on the weights ``r_e^2``; its normalised loads ``rho_e = ||z_e|| / r_e`` stay
below 1 while that flow proves the fusion, and grow as the group nears a split. The split term

    T = sum_e rho_e^2 = <t, L^+ t>

is smooth where the fusion pattern holds, with ``dT = 2 <y, dt> - <y, dL y>``:
``dT/da_i = 2 y_i`` directly, the centres enter through ``t`` (``-dc_a``, and ``u_e`` through
``P_ab (dc_a - dc_b)``, adjoint as above), and rebuilt weights through ``r_e`` on cross edges
(in ``t``) and inner ones (``dL``: ``-2 r_e ||y_i - y_j||^2 dr_e``). The attack climbs
``S + split T`` (``split = 1`` by default).

Translations: ``X*(A + 1 c^T) = X*(A) + 1 c^T`` and Gaussian weights depend on differences only,
so ``S``, ``T`` (and ``f``) are constant under :class:`~advcluster.perturbation.FeatureShift`, whose
gradient is zero.

p = 1 (and p = inf) fuse coordinate by coordinate, so groups do not move rigidly as above;
they are not covered and raise ``ValueError``; use a black-box optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .._validation import check_data, check_int, check_positive
from ..models import ConvexClusteringModel
from ..perturbation import matrix_norm
from ..solvers import METHODS, solve
from ..solvers.exact1d import exact_solution
from ..solvers.fused import FusedProblem, group_means
from ..solvers.problem import spread
from .core import OPTIMIZERS, Outcome, register
from .problems import BL1, BL2

__all__ = ["PAIR_LIMIT", "SOLVE_MAX_ITER", "NAME", "surrogate_gradient", "surrogate_point", "center_derivative",
           "default_tau", "SurrogatePoint"]

NAME = "surrogate-gradient"

PAIR_LIMIT = 2000
"""Up to this many points the surrogate sums over all pairs; above, over the clean graph's edges."""

PAIR_MODES = ("auto", "all", "graph")

SOLVE_MAX_ITER = 50
"""Outer-iteration cap of the accurate lower-level solve behind each gradient."""


# ------------------------------------------------------------------ checks
def _check_problem(problem):
    if not isinstance(problem, (BL1, BL2)):
        raise ValueError(f"problem must be a BL1 or BL2 instance, got {type(problem).__name__}.")
    model = problem.model
    others = ", ".join(repr(k) for k, o in sorted(OPTIMIZERS.items())
                       if k != NAME and problem.kind in o.problems and o.dims == "any")
    if not isinstance(model, ConvexClusteringModel):
        raise ValueError(
            f"the surrogate gradient differentiates convex clustering centres, but the model is "
            f"{type(model).__name__}, which has none; use a black-box optimizer instead ({others}; "
            "'grid' or 'staircase' for one or two parameters)."
        )
    if model.p != 2:
        raise ValueError(
            f"the surrogate gradient needs p = 2 (fused groups moving rigidly); the model has p={model.p!r}, "
            f"whose fusion works coordinate by coordinate and is not covered. Use a black-box optimizer "
            f"({others}; 'grid' or 'staircase' for one or two parameters)."
        )
    return model


def default_tau(problem) -> float:
    """The default surrogate bandwidth: median distance from a clean cluster centre to its nearest
    other clean centre; with one clean cluster, the RMS distance of the data from its mean."""
    ref = problem.reference
    labels = np.asarray(ref.labels)
    A = problem.A
    X = A if ref.centers is None else ref.centers
    K = int(labels.max()) + 1
    if K >= 2:
        C = group_means(X, labels, K)
        dist = cKDTree(C).query(C, k=2)[0][:, 1]
        dist = dist[dist > 0]
        if dist.size:
            return float(np.median(dist))
    return spread(A)


# ------------------------------------------------------------------ the reduced problem
class _Reduced:
    """The lower level at data ``A`` restricted to its proven fusion pattern
    (:class:`~advcluster.solvers.fused.FusedProblem`): groups, centres, Hessian."""

    def __init__(self, model, A, warm=None, tol=1e-8):
        n, d = A.shape
        self.A, self.gamma = A, model.gamma
        graph = model.graph_for(A)
        self.warm = None
        if not METHODS["exact1d"].why_not(graph, d, 2):  # the reduced problem below is the p = 2 one
            exact = exact_solution(A, model.gamma, graph, p=2)
            X, labels, ok, proven = exact.centers, exact.labels, True, True
        else:
            x0 = z0 = None
            options = {}
            if warm is not None:  # (X, Z, edges) of a nearby solve: skip the ADMM phase
                x0, z0, edges = warm
                if np.array_equal(edges, graph.edges):
                    options["admm_iters"] = 0
                else:
                    z0 = None
            res = solve(A, graph, model.gamma, "ssnal", p=2, tol=tol, x0=x0, z0=z0, label_tol=model.label_tol,
                        max_iter=SOLVE_MAX_ITER, **options)
            X, labels, ok, proven = res.centers, res.labels, res.success, res.labels_certified
            self.warm = (res.centers, res.dual, graph.edges)
        self.solver_ok = bool(ok)
        self.labels = labels
        fp = self.fused = FusedProblem(A, graph, model.gamma, labels)
        self.fused_graph = graph
        self.K, self.sizes = fp.K, fp.sizes
        # Cross edges (positive weight, endpoints in different groups) and their group pairs.
        self.ei, self.ej = graph.edges[fp.cross, 0], graph.edges[fp.cross, 1]
        self.we = graph.weights[fp.cross]
        self.pa, self.pb = fp.pa, fp.pb
        self.phi = float(model.phi) if model.rebuilds_graph else None
        # A proven partition comes with the exact fused centres; otherwise Newton polishes the
        # solver's (the solver's tolerance then only has to get the fusion pattern right).
        self.c = group_means(X, labels, fp.K)
        if self.pa.size and not proven:
            c, ok = fp.minimise(self.c, max_steps=8)
            self.c = c if ok else self.c
        self.H = fp.hessian(self.c)

    def _pair_geometry(self, c):
        return self.fused.pair_geometry(c)

    def _solve_H(self, H, rhs):
        return self.fused.solve_hessian(H, rhs)

    # derivatives
    def _dW_u(self, dA):
        """``sum_b dW_ab u_ab`` per group (K, d) for a data direction ``dA`` (reweight only)."""
        out = np.zeros_like(self.c)
        if self.phi is None or not self.pa.size:
            return out
        A, i, j = self.A, self.ei, self.ej
        dw = -2.0 * self.phi * self.we * np.einsum("ij,ij->i", A[i] - A[j], dA[i] - dA[j])
        diff, r = self._pair_geometry(self.c)
        u = diff / r[:, None]
        f = dw[:, None] * u[self.fused.edge_pair]  # u_ab of the edge's group pair (a = pa < b = pb)
        np.add.at(out, self.pa[self.fused.edge_pair], f)
        np.add.at(out, self.pb[self.fused.edge_pair], -f)
        return out

    def forward(self, dA):
        """``dX`` (n, d) for a data direction ``dA`` (n, d)."""
        rhs = np.zeros_like(self.c)
        np.add.at(rhs, self.labels, dA)
        rhs -= self.gamma * self._dW_u(dA)
        dc = self._solve_H(self.H, rhs)
        return dc[self.labels]

    def stress(self):
        """The split term ``T``, its direct gradient in the data (n, d) and its gradient in the
        centres (K, d) (module docstring, "Splits")."""
        A, c, labels, gamma, graph = self.A, self.c, self.labels, self.gamma, self.fused_graph
        i, j = graph.edges.T
        r = gamma * graph.weights
        inner = (labels[i] == labels[j]) & (r > 0)
        # Cross edge e in pair p = (pa, pb), u_p = unit(c_pa - c_pb), s = +1 where the edge's first
        # end lies in pa: its dual r_e s u_p leaves the first end and enters the second, so
        # t = a - c - J Z_cross holds -r_e s u_p at the first end and +r_e s u_p at the second.
        p = self.fused.edge_pair
        diff, length = self._pair_geometry(c)
        ue, le = (diff / length[:, None])[p], length[p]
        s = np.where(labels[self.ei] == self.pa[p], 1.0, -1.0)
        rs = gamma * self.we * s
        z = rs[:, None] * ue
        t = A - c[labels]
        np.add.at(t, self.ei, -z)
        np.add.at(t, self.ej, z)
        y = _laplacian_pinv(graph, inner, np.where(inner, r, 0.0) ** 2, t)
        T = float(np.einsum("ij,ij->", t, y))
        direct = 2.0 * y
        gc = -2.0 * group_means(y, labels, self.K) * self.sizes[:, None]  # dt_i = -dc_a: sums of y
        # Through u_p: dT = 2 r_e s (y_second - y_first)^T P_p (dc_pa - dc_pb), P_p = (I - u u^T) / |c_pa - c_pb|.
        dy_cross = y[self.ej] - y[self.ei]
        w = rs[:, None] * dy_cross
        proj = (w - ue * np.einsum("ij,ij->i", ue, w)[:, None]) / le[:, None]
        np.add.at(gc, self.pa[p], 2.0 * proj)
        np.add.at(gc, self.pb[p], -2.0 * proj)
        if self.phi is not None:  # weights rebuilt from the data: dr_e = gamma dw_e
            kappa = np.zeros(graph.n_edges)  # dT/dr_e
            kappa[self.fused.cross] = 2.0 * s * np.einsum("ij,ij->i", ue, dy_cross)  # through t
            dy = y[i[inner]] - y[j[inner]]
            kappa[inner] = -2.0 * r[inner] * np.einsum("ij,ij->i", dy, dy)  # through L (weights r_e^2)
            g = (kappa * gamma * (-2.0 * self.phi * graph.weights))[:, None] * (A[i] - A[j])
            np.add.at(direct, i, g)
            np.add.at(direct, j, -g)
        return T, direct, gc

    def adjoint(self, gc):
        """``dS/dA`` (n, d) for ``gc = dS/dc`` (K, d)."""
        lam = self._solve_H(self.H, gc)
        G = lam[self.labels].copy()
        if self.phi is not None and self.pa.size:
            diff, r = self._pair_geometry(self.c)
            u = diff / r[:, None]
            p = self.fused.edge_pair
            coef = -self.gamma * np.einsum("ij,ij->i", lam[self.pa[p]] - lam[self.pb[p]], u[p])
            # dw_e = -2 phi w_e <a_i - a_j, da_i - da_j>
            g = (coef * (-2.0 * self.phi * self.we))[:, None] * (self.A[self.ei] - self.A[self.ej])
            np.add.at(G, self.ei, g)
            np.add.at(G, self.ej, -g)
        return G


def _laplacian_pinv(graph, mask, weights, T):
    """``L^+ T`` for the Laplacian ``L`` of ``graph`` with edge ``weights`` (0 off ``mask``),
    column by column: on each component of the ``mask`` edges, ``T`` centred, one node
    grounded, the rest solved, the result centred."""
    from ..solvers.linear import spd_splu

    ncomp, comp = graph.components_of(mask)

    def centred(V):
        return V - group_means(V, comp, ncomp)[comp]

    root = np.zeros(graph.n, dtype=bool)
    root[np.unique(comp, return_index=True)[1]] = True
    free = np.flatnonzero(~root)
    Y = np.zeros_like(T)
    if free.size:
        L = graph.laplacian(weights)[free][:, free].tocsc()
        Y[free] = spd_splu(L).solve(np.ascontiguousarray(centred(T)[free])).reshape(free.size, -1)
    return centred(Y)


# ------------------------------------------------------------------ the surrogate
class _Pairs:
    """Group-pair counts of the surrogate's pairs with equal / different clean labels."""

    def __init__(self, problem, mode):
        if mode not in PAIR_MODES:
            raise ValueError(f"unknown pairs {mode!r}; choose one of {PAIR_MODES}.")
        n = problem.A.shape[0]
        self.mode = ("all" if n <= PAIR_LIMIT else "graph") if mode == "auto" else mode
        self.ref = np.asarray(problem.reference.labels)
        if self.mode == "graph":
            self.edges = problem.model.graph.edges

    def counts(self, labels, K):
        """``(a, b, same, diff, const)``: group pairs a < b, their pair counts, the constant part."""
        ref = self.ref
        if self.mode == "all":
            R = int(ref.max()) + 1
            N = sp.coo_array((np.ones(labels.size), (labels, ref)), shape=(K, R)).tocsr()  # contingency
            sizes = np.asarray(N.sum(axis=1)).ravel()
            a, b = np.triu_indices(K, k=1)
            same = np.asarray((N @ N.T).todense())[a, b]  # pairs across groups a, b with equal clean labels
            diff = sizes[a] * sizes[b] - same
            const = 0.5 * float(np.sum(sizes ** 2) - N.multiply(N).sum())
            return a, b, same, diff, const
        i, j = self.edges.T
        ga, gb = labels[i], labels[j]
        c0 = ref[i] == ref[j]
        within = ga == gb
        const = float(np.sum(within & ~c0))
        lo, hi = np.minimum(ga, gb)[~within], np.maximum(ga, gb)[~within]
        key, inv = np.unique(lo * K + hi, return_inverse=True)
        inv = inv.ravel()
        same = np.bincount(inv, weights=c0[~within].astype(float), minlength=key.size)
        total = np.bincount(inv, minlength=key.size).astype(float)
        return key // K, key % K, same, total - same, const


def _surrogate(c, counts, tau):
    """``S`` and ``dS/dc`` (K, d) from group centres."""
    a, b, same, diff, const = counts
    dc = c[a] - c[b]
    s = np.exp(-np.einsum("ij,ij->i", dc, dc) / tau ** 2)
    S = const + float(np.sum(same * (s - 1.0) ** 2 + diff * s ** 2))
    dS_ds = 2.0 * same * (s - 1.0) + 2.0 * diff * s
    f = (dS_ds * s * (-2.0 / tau ** 2))[:, None] * dc
    g = np.zeros_like(c)
    np.add.at(g, a, f)
    np.add.at(g, b, -f)
    return S, g


@dataclass(frozen=True, eq=False)
class SurrogatePoint:
    """The surrogate at one ``theta``.

    Attributes
    ----------
    theta : ndarray (n_params,)
    value : float
        ``S(theta)``.
    gradient : ndarray (n_params,)
        ``dS/dtheta`` by implicit differentiation.
    labels : ndarray (n,)
        The fusion pattern of the accurate solve used for the derivative.
    centers : ndarray (n, d)
        The polished centres ``X*(theta)``.
    solver_ok : bool
        The accurate lower-level solve met its tolerance.
    """

    theta: np.ndarray
    value: float
    gradient: np.ndarray
    labels: np.ndarray
    centers: np.ndarray
    solver_ok: bool


def _check_tau(tau, problem):
    return default_tau(problem) if tau is None else check_positive(tau, "tau")


def _point(problem, theta, tau, pairs, tol, warm=None, split=0.0):
    model = problem.model
    pert = problem.perturbation
    theta = pert.check_theta(theta)
    A = problem.A + pert.matrix(theta)
    red = _Reduced(model, A, warm=warm, tol=tol)
    S, gc = _surrogate(red.c, pairs.counts(red.labels, red.K), tau)
    direct = 0.0
    if split:
        T, direct, gc_T = red.stress()
        S, gc, direct = S + split * T, gc + split * gc_T, split * direct
    G = red.adjoint(gc) + direct
    grad = np.asarray(pert.operator.T @ G.ravel(), dtype=float)
    return SurrogatePoint(theta, S, grad, red.labels, red.c[red.labels], red.solver_ok), red.warm


def surrogate_point(problem, theta, tau=None, *, pairs="auto", tol=1e-8, split=1.0) -> SurrogatePoint:
    """The surrogate at ``theta`` with its gradient, fusion pattern and centres (:class:`SurrogatePoint`).

    Arguments as for :func:`surrogate_gradient`.
    """
    _check_problem(problem)
    point, _ = _point(problem, theta, _check_tau(tau, problem), _Pairs(problem, pairs), check_positive(tol, "tol"),
                      split=_check_split(split))
    return point


def _check_split(split):
    if not (isinstance(split, (int, float)) and not isinstance(split, bool) and np.isfinite(split) and split >= 0):
        raise ValueError(f"split must be a number >= 0 (the weight of the split term), got {split!r}.")
    return float(split)


def surrogate_gradient(problem, theta, tau=None, *, pairs="auto", tol=1e-8, split=1.0):
    """The surrogate ``S(theta) + split T(theta)`` and its implicit gradient.

    Parameters
    ----------
    problem : BL1 or BL2
        With a :class:`~advcluster.models.ConvexClusteringModel` lower level, ``p = 2``.
    theta : array (n_params,) or float
    tau : float > 0, optional
        Bandwidth of the soft co-membership (default :func:`default_tau`).
    pairs : {"auto", "all", "graph"}
        The pairs summed (module docstring); ``"auto"``: all pairs up to :data:`PAIR_LIMIT`
        points, else the clean weight graph's edges.
    tol : float
        Tolerance of the accurate lower-level solve at ``theta`` (its centres are then polished
        on the reduced problem, so this only has to fix the fusion pattern).
    split : float >= 0, default 1
        Weight of the split term ``T`` (module docstring, "Splits"); 0 gives the co-membership
        surrogate alone, which cannot see a cluster about to split.

    Returns
    -------
    (S, grad) : (float, ndarray (n_params,))

    Raises ``ValueError`` for other models or ``p != 2``.
    """
    point = surrogate_point(problem, theta, tau, pairs=pairs, tol=tol, split=split)
    return point.value, point.gradient


def center_derivative(problem, theta, dA, *, tol=1e-8):
    """``X*`` at ``A + E(theta)`` and its directional derivative ``dX`` along a data direction ``dA``.

    The forward form of the reduced system (module docstring); for checks against finite
    differences. Returns ``(X, dX)``, both (n, d).
    """
    model = _check_problem(problem)
    pert = problem.perturbation
    A = problem.A + pert.matrix(pert.check_theta(theta))
    dA = check_data(dA, "dA")
    if dA.shape != A.shape:
        raise ValueError(f"dA has shape {dA.shape}, but the data has shape {A.shape}.")
    red = _Reduced(model, A, tol=check_positive(tol, "tol"))
    return red.c[red.labels], red.forward(dA)


# ------------------------------------------------------------------ the optimizer
@register(NAME, problems=("BL1",), dims="any", threats="moves",
          summary="projected gradient ascent on a smooth surrogate, implicit derivative (convex clustering, p = 2)")
def run(search, *, x0=None, tau=None, step=0.25, max_iter=40, restarts=0, init=0.05, min_step=1e-3,
        pairs="auto", tol=1e-8, split=1.0):
    """Projected gradient ascent on the surrogate ``S`` within the budget; true ``f`` at every iterate.

    Options
    -------
    x0 : array (n_params,), optional
        Start. Default: a random feasible point with ``||E|| = init * budget`` (from the
        search's ``random_state``): the clean data can be a stationary point of ``S`` by
        symmetry (mirror-image clusters, a perturbation acting symmetrically on them), and a
        small random start breaks such ties.
    tau : float, optional
        Surrogate bandwidth (default :func:`default_tau`).
    step : float in (0, 1], default 0.25
        Step length as a fraction of the budget: each step moves ``||E||`` by ``step * budget``
        along the gradient preconditioned by the metric ``||E||_F`` (``g_j / ||C_j||_F^2``),
        then projects (``perturbation.project``). A step that lowers ``S`` is rejected and the
        step halved; an accepted one grows it by 1.5 (at most ``step``). For ``ord="l0"`` the
        length is measured as ``||E||_F`` against the data's RMS spread instead of the budget.
    max_iter : int, default 40
        Gradient steps (accepted or not) per start.
    restarts : int, default 0
        Extra starts from random feasible points with ``||E||`` uniform in ``[0.1, 1] budget``.
    init : float, default 0.05
        Size of the default random start, as a fraction of the budget.
    min_step : float, default 1e-3
        Stop a start when the step falls below this fraction.
    pairs, tol, split
        As for :func:`surrogate_gradient`.

    Every iterate and trial point is evaluated with ``search.evaluate`` (the true ``f``); the best
    true ``f`` is the answer. ``extra["trajectory"]``: one dict per point (``start``, ``iteration``,
    ``theta``, ``surrogate``, ``value``, ``norm``, ``step``, ``accepted``, ``grad_norm``,
    ``solver_ok``: the accurate solve met ``tol``);
    ``extra["tau"]``, ``extra["pairs"]``, ``extra["gradient_solves"]`` (accurate lower-level solves
    made for gradients, not counted in ``n_solves``).
    """
    problem = search.problem
    _check_problem(problem)
    pert = problem.perturbation
    tau = _check_tau(tau, problem)
    pair_set = _Pairs(problem, pairs)
    if not (isinstance(step, (int, float)) and not isinstance(step, bool) and 0 < step <= 1):
        raise ValueError(f"step must be a number in (0, 1] (a fraction of the budget), got {step!r}.")
    max_iter = check_int(max_iter, "max_iter")
    restarts = check_int(restarts, "restarts", low=0)
    init = check_positive(init, "init")
    min_step = check_positive(min_step, "min_step")
    tol = check_positive(tol, "tol")
    split = _check_split(split)
    budget = problem.budget
    extra = dict(trajectory=[], tau=tau, pairs=pair_set.mode, gradient_solves=0)
    if budget == 0:
        search.evaluate(np.zeros(pert.n_params))
        return Outcome("budget 0: only theta = 0 is feasible", extra=extra)

    l0 = pert.ord == "l0"
    radius = spread(problem.A) if l0 else budget
    C = pert.operator
    col = np.sqrt(np.asarray(C.multiply(C).sum(axis=0)).ravel())  # ||C_j||_F

    def size(t):
        return matrix_norm(pert.matrix(t), "fro") if l0 else pert.norm(t)

    def scaled(direction, length):
        s = size(direction)
        return direction * (length * radius / s) if s > 0 else direction

    def at(theta, start, it, step_now, accepted):
        ev = search.evaluate(theta)
        pt, warm = _point(problem, theta, tau, pair_set, tol, state["warm"], split)
        state["warm"] = warm
        extra["gradient_solves"] += 1
        extra["trajectory"].append(dict(start=start, iteration=it, theta=theta.copy(), surrogate=pt.value,
                                        value=ev.value, norm=ev.norm, step=step_now, accepted=accepted,
                                        grad_norm=float(np.linalg.norm(pt.gradient)), solver_ok=pt.solver_ok))
        return pt

    def start_point(k):
        if k == 0 and x0 is not None:
            return problem.project(pert.check_theta(x0))
        u = search.rng.standard_normal(pert.n_params)
        frac = init if k == 0 else search.rng.uniform(0.1, 1.0)
        return problem.project(scaled(u, min(frac, 1.0)))

    ends = []
    state = dict(warm=None)  # the last accurate solve, a warm start for the next
    for k in range(1 + restarts):
        theta = start_point(k)
        cur = at(theta, k, 0, 0.0, True)
        h, why = step, f"{max_iter} steps"
        for it in range(1, max_iter + 1):
            g = cur.gradient
            if not np.all(np.isfinite(g)) or not np.any(g):
                why = "zero gradient"
                break
            d = scaled(g / col ** 2, h)
            trial = problem.project(theta + d)
            if np.allclose(trial, theta, rtol=1e-12, atol=0):
                why = "stationary on the budget's boundary"
                break
            pt = at(trial, k, it, h, None)
            accepted = pt.value >= cur.value
            extra["trajectory"][-1]["accepted"] = bool(accepted)
            if accepted:
                theta, cur, h = trial, pt, min(1.5 * h, step)
            else:
                h *= 0.5
                if h < min_step:
                    why = "step below min_step"
                    break
        ends.append(f"{why} (S = {cur.value:.4g})")
    best = search.best
    return Outcome(f"{1 + restarts} start(s): " + "; ".join(ends) + f"; best {problem.measure} {best.value:g}",
                   extra=extra)
