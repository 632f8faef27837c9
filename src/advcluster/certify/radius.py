"""The certified radius: the largest perturbation size for which Theorem 2 certifies every
perturbation (a ball per row, or a direction), for fixed weights in closed form and for
Gaussian weights recomputed on the perturbed data by bisection on a monotone bound."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._records import Record
from .._validation import check_data, check_gamma
from ..graph import Graph, complete_graph, knn_graph
from ._inputs import ball_factor, builder_spec, check_like, check_p, partition, resolve_weights, row_norms
from ._structure import Structure
from .flow import flow_radius
from .recovery import RecoveryBounds, bounds_from_structure

# Bisection for recomputed weights stops at this relative width.
_BISECT_RTOL = 1e-12
_BISECT_MAX = 200


@dataclass(frozen=True, eq=False)
class CertifiedRadius(Record):
    """The certified radius of :func:`certified_radius`.

    Attributes
    ----------
    radius : float
        Every perturbation with ``max_i ||e_i||_2 < radius`` (or ``E = eps D`` with
        ``|eps| < radius``) is guaranteed by Theorem 2 to leave the clustering unchanged;
        also ``<= radius`` when ``attained``.  ``0`` when the clean clustering is not
        certified; ``inf`` when no constraint binds.
    binding : str
        The constraint that sets the radius: ``"gamma_min"`` (a pair inside a cluster),
        ``"gamma_max"`` (a pair of centroids), ``"c1"`` (the slack of (C1), recomputed
        weights), ``"knn"`` (a neighbour set would change), ``"clean"`` (the clean data
        are not certified), or ``"none"``.
    where : tuple or None
        The pair of points (``gamma_min``, ``c1``), pair of clusters (``gamma_max``) or
        point (``knn``) of the binding constraint.
    attained : bool
        Whether perturbations of size exactly ``radius`` are certified too (False
        when the binding constraint is strict: ``gamma < gamma~_max``, neighbour sets).
    weights : str
        ``"fixed"``, ``"complete-gaussian"`` or ``"knn-gaussian"``.
    perturbation : str
        ``"ball"`` (``||e_i||_2 <= rho`` for all i) or ``"direction"`` (``E = eps D``).
    bounds : RecoveryBounds
        Theorem 5 on the clean data.
    reason : str
        In words: why the radius is what it is.
    """

    radius: float
    binding: str
    where: tuple | None
    attained: bool
    weights: str
    perturbation: str
    bounds: RecoveryBounds = field(repr=False)
    reason: str

    def __str__(self):
        return (
            f"Certified radius {self.radius:.6g} ({self.perturbation}, weights {self.weights}); "
            f"binding: {self.binding}{'' if self.where is None else ' ' + str(self.where)}; {self.reason}"
        )


class _Geometry:
    """Per unit of rho: bounds on how far pair and centroid differences can move."""

    def __init__(self, A, part, q, direction):
        self.q, self.direction = q, direction
        self.kappa = ball_factor(q, A.shape[1])
        self.n_clusters = part.n_clusters
        if direction is not None:
            self.dbar = part.centroids(direction)

    def pair(self, i, j, q):
        """Bound on ``||e_i - e_j||_q / rho`` (q = 2 for the Euclidean one used by Gaussian weights)."""
        if self.direction is None:
            return np.full(len(i), 2.0 * (self.kappa if q == self.q else 1.0))
        return row_norms(self.direction[i] - self.direction[j], q)

    def max_centroid_move(self):
        """Per cluster ``a``: an upper bound on ``||ebar_a - ebar_b||_q / rho`` over all ``b``."""
        if self.direction is None:
            return np.full(self.n_clusters, 2.0 * self.kappa)
        # ||dbar_a - dbar_b|| <= ||dbar_a - c|| + ||dbar_b - c|| for any c (the mean: 0 for a translation)
        nq = row_norms(self.dbar - self.dbar.mean(axis=0), self.q)
        return nq + nq.max(initial=0.0)

    def centroid_pairs(self, a, b):
        """Bound on ``||ebar_a - ebar_b||_q / rho``."""
        if self.direction is None:
            return np.full(len(a), 2.0 * self.kappa)
        return row_norms(self.dbar[a] - self.dbar[b], self.q)


def _knn_margin(A, k, geom):
    """Largest rho (strict) below which no k-nearest-neighbour set can change, and the point binding it.

    Point ``i`` keeps its neighbours ``N(i)`` if ``max_{l in N} r~_il < min_{l not in N} r~_il``.
    Ball: every distance moves by at most ``||e_i - e_l|| <= 2 rho``, so it suffices that
    ``r_(k) + 2 rho < r_(k+1) - 2 rho``: ``rho < (r_(k+1) - r_(k)) / 4``.  Direction
    ``E = eps D``: ``r~_il`` is within ``|eps| ||d_i - d_l||`` of ``r_il`` for ``l`` in ``N``,
    and ``r~_il >= r_(k+1) - |eps| (||d_i - c|| + max_l ||d_l - c||)`` outside (``c`` the
    mean row of ``D``), so ``rho < min_{l in N} (r_(k+1) - r_il) / (||d_i - d_l|| + ||d_i - c||
    + max_l ||d_l - c||)``.
    """
    n = A.shape[0]
    if k >= n - 1:  # every other point is a neighbour: nothing can change
        return math.inf, None
    m = k + 2
    from sklearn.neighbors import KDTree  # here: scikit-learn takes a second to import

    ind = KDTree(A).query(A, k=m, return_distance=False)
    rows = np.arange(n)
    self_hit = ind == rows[:, None]
    has_self = self_hit.any(axis=1)
    # drop the point itself, or the last candidate when k + 2 duplicates hid it
    drop = np.where(has_self, np.argmax(self_hit, axis=1), m - 1)
    keep = np.ones_like(ind, dtype=bool)
    keep[rows, drop] = False
    ind = ind[keep].reshape(n, m - 1)
    dist = np.sqrt(np.sum((A[rows[:, None]] - A[ind]) ** 2, axis=-1))
    order = np.lexsort((ind, dist), axis=-1)
    ind = np.take_along_axis(ind, order, axis=-1)
    dist = np.take_along_axis(dist, order, axis=-1)
    nb, r_nb, r_next = ind[:, :k], dist[:, :k], dist[:, k]
    if geom.direction is None:
        lim = (r_next - r_nb[:, -1]) / 4.0
    else:
        # ||d_i - d_l|| <= ||d_i - c|| + ||d_l - c|| with c the mean direction (0 for a translation)
        dc = geom.direction - geom.direction.mean(axis=0)
        dn = np.sqrt(np.einsum("ij,ij->i", dc, dc))
        g = np.sqrt(np.sum((geom.direction[rows[:, None]] - geom.direction[nb]) ** 2, axis=-1))
        G = dn + dn.max()
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(g + G[:, None] > 0, (r_next[:, None] - r_nb) / (g + G[:, None]), np.inf)
        lim = per.min(axis=1)
    i = int(np.argmin(lim))
    return float(max(lim[i], 0.0)), (i,)


def _fixed_radius(struct, geom, gamma, slack, T):
    """Closed form for fixed weights; returns (radius, binding, where, attained).

    Pair constraint (closed): ``d_ij + rho h_ij <= gamma s_ij`` -> ``rho <= (gamma s_ij - d_ij) / h_ij``.
    Centroid constraint (strict): ``D_ab - rho H_ab > gamma c_ab`` -> ``rho < (D_ab - gamma c_ab) / H_ab``.
    """
    best = (math.inf, "none", None, True)
    if struct.internal.size:
        h = geom.pair(struct.ii, struct.jj, struct.q)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(h > 0, (gamma * slack - struct.d_int) / h, np.inf)
        k = int(np.argmin(r))
        if r[k] < best[0]:
            best = (float(r[k]), "gamma_min", (int(struct.ii[k]), int(struct.jj[k])), True)
    t = T / struct.part.sizes
    pairs = struct.pairs

    def radius(a, b, D):
        H = geom.centroid_pairs(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(H > 0, (D - gamma * (t[a] + t[b])) / H, np.inf)

    if pairs.brute:
        chunks = pairs.all()
    else:  # a pair with radius <= r has D_ab <= r H_ab + gamma (t_a + t_b) <= R_a
        r0 = float(radius(*pairs.nearest()).min(initial=math.inf))
        chunks = pairs.within(r0 * geom.max_centroid_move() + gamma * (t + t.max(initial=0.0)))
    for a, b, D in chunks:
        r = radius(a, b, D)
        k = int(np.argmin(r)) if r.size else -1
        if k >= 0 and r[k] < best[0]:
            best = (float(r[k]), "gamma_max", (int(a[k]), int(b[k])), False)
    return best


class _RecomputedBound:
    """Theorem 2's conditions under the worst case of Gaussian weights recomputed on ``A + E``.

    For every edge ``e = (i, j)`` with clean length ``r_e = ||a_i - a_j||_2`` and
    ``||e_i - e_j||_2 <= rho g_e``, the recomputed weight ``exp(-phi r~^2)`` lies in
    ``[exp(-phi (r_e + rho g_e)^2), exp(-phi max(r_e - rho g_e, 0)^2)]`` (``exp(-phi r^2)``
    decreases in ``r``); this interval is inside the Lipschitz one,
    ``w_e +- sqrt(2 phi / e) rho g_e``.  The interval bounds are propagated through
    ``mu`` (an upper bound), the slack ``n_a w_ij - mu_ij`` (lower bound) and the
    cross weights of ``gamma_max`` (upper bound); all of them get worse as ``rho``
    grows, so :meth:`violation` is monotone (None up to some rho, not None beyond) and
    bisection finds that rho.
    """

    def __init__(self, struct, geom, gamma, phi):
        self.s, self.geom, self.gamma, self.phi = struct, geom, gamma, phi
        e = struct.edges
        self.r = np.sqrt(np.sum((struct.A[e[:, 0]] - struct.A[e[:, 1]]) ** 2, axis=1))
        self.g = geom.pair(e[:, 0], e[:, 1], 2)
        self.h_int = geom.pair(struct.ii, struct.jj, struct.q)
        self.move = geom.max_centroid_move()

    def violation(self, rho):
        """None if every condition holds at ``rho``, else ``(binding, where)`` of one that fails."""
        s, gamma = self.s, self.gamma
        t = rho * self.g
        lo = np.exp(-self.phi * (self.r + t) ** 2)
        hi = np.exp(-self.phi * np.maximum(self.r - t, 0.0) ** 2)
        slack, _, T = s.evaluate(lo, hi)
        if slack.size:
            bad = np.flatnonzero(slack <= 0)
            if bad.size:
                return "c1", (int(s.ii[bad[0]]), int(s.jj[bad[0]]))
            viol = gamma * slack - (s.d_int + rho * self.h_int)
            k = int(np.argmin(viol))
            if viol[k] < 0:
                return "gamma_min", (int(s.ii[k]), int(s.jj[k]))
        tt = T / s.part.sizes
        # a violated pair has D_ab <= rho H_ab + gamma (tt_a + tt_b) <= R_a
        for a, b, D in s.pairs.within(rho * self.move + gamma * (tt + tt.max(initial=0.0))):
            m = D - rho * self.geom.centroid_pairs(a, b) - gamma * (tt[a] + tt[b])
            k = int(np.argmin(m)) if m.size else -1
            if k >= 0 and not m[k] > 0:
                return "gamma_max", (int(a[k]), int(b[k]))
        return None


def _bisect(check, hi):
    """Largest rho in [0, hi] with check(rho) None (check(0) must be None); also what fails just above."""
    fail = check(hi)
    if fail is None:
        return hi, None
    lo = 0.0
    for _ in range(_BISECT_MAX):
        if hi - lo <= _BISECT_RTOL * hi:
            break
        mid = 0.5 * (lo + hi)
        v = check(mid)
        if v is None:
            lo = mid
        else:
            hi, fail = mid, v
    return lo, fail


def certified_radius(A, labels, weights, gamma, direction=None, p=2, method="theorem2") -> CertifiedRadius:
    r"""Largest perturbation size for which Theorem 2 (or the clusters' flows) certifies that the
    clustering is unchanged.

    Perturbations: ``||e_i||_2 <= rho`` for every row (``direction=None``), or
    ``E = eps D`` with ``|eps| <= rho`` (``direction = D``, same shape as ``A``).

    Parameters
    ----------
    A : array (n_samples, n_features)
    labels : array-like (n_samples,)
        The clean partition (typically the clustering of ``A`` at ``gamma``).
    weights : Graph, or complete_graph / knn_graph (bare or as functools.partial)
        A Graph: fixed weights.  The builders: Gaussian weights recomputed on the
        perturbed data (complete graph, or kNN graph with its ``k``).
    gamma : float >= 0
    direction : array (n_samples, n_features), optional
    p : {2, 1, np.inf}
    method : {"theorem2", "flow", "best"}, default "theorem2"
        ``"theorem2"``: the paper's conditions, the radius inside which :func:`certify` holds
        for every perturbation.  ``"flow"``: a dual certificate built from the clean
        clusters' flows (:mod:`advcluster.certify.flow`; balls only, ``p = 2``, fixed weights
        or complete Gaussian weights recomputed), which also certifies where Theorem 5 does
        not (kNN graphs, (C2) failing).  ``"best"``: the larger of the two.  Every one is a
        lower bound on the least change of the clustering.

    Returns
    -------
    CertifiedRadius

    Notes
    -----
    Write ``d_ij = ||a_i - a_j||_q``, ``s_ij = n_a w_ij - mu_ij``, ``D_ab = ||abar^a -
    abar^b||_q`` and ``c_ab`` the denominator of ``gamma_max``.  At ``gamma`` the clean
    clustering is certified iff (C1) holds, ``d_ij <= gamma s_ij`` for every pair inside a
    cluster and ``D_ab > gamma c_ab`` for every pair of clusters.  Theorem 2 asks the
    same of the perturbed quantities.

    *Fixed weights* (``s``, ``c`` and (C1) do not move).  Ball: ``||e_i - e_j||_q <= 2
    kappa rho`` and ``||ebar_a - ebar_b||_q <= 2 kappa rho`` (``ebar_a`` the mean of the
    ``e_i`` in cluster ``a``; ``kappa = max ||v||_q / ||v||_2``, 1 for q = 2 or inf,
    ``sqrt(d)`` for q = 1), so by the triangle inequality ``d~_ij <= d_ij + 2 kappa rho``
    and ``D~_ab >= D_ab - 2 kappa rho``, and the conditions hold for all such ``E`` iff

    .. math::

        \rho \le \min_{i,j} \frac{\gamma s_{ij} - d_{ij}}{2\kappa}
        \quad\text{and}\quad
        \rho < \min_{a<b} \frac{D_{ab} - \gamma c_{ab}}{2\kappa}.

    Both bounds are attained by some perturbation (move ``i`` and ``j`` apart along
    the direction that maximises ``||.||_q``; for q = 2, move clusters ``a`` and ``b``
    rigidly towards each other), so the pair bound is exact for every q and the
    centroid bound for q = 2.  Direction ``E = eps D``: replace ``2 kappa`` by
    ``||d_i - d_j||_q`` and ``||dbar_a - dbar_b||_q`` (the exact size of the change of
    the difference; the triangle inequality is then the only slack).

    *Gaussian weights recomputed* on ``A + E``, ``w~_ij = exp(-phi ||a~_i - a~_j||_2^2)``.
    With ``r_ij = ||a_i - a_j||_2`` and ``||e_i - e_j||_2 <= t_ij`` (``t = 2 rho``, or
    ``rho ||d_i - d_j||_2`` along a direction), ``exp(-phi r^2)`` decreasing in ``r``
    gives ``w~_ij`` in ``[exp(-phi (r + t)^2), exp(-phi max(r - t, 0)^2)]``, an interval
    inside the Lipschitz one ``w_ij +- sqrt(2 phi / e) t`` (``|d/dr exp(-phi r^2)| <=
    sqrt(2 phi / e)``).  Then ``w~_i^(b) - w~_j^(b)`` lies in ``[Lo_i^b - Hi_j^b,
    Hi_i^b - Lo_j^b]`` (sums of the interval ends over ``I_b``), so ``mu~_ij <= sum_b
    max(Hi_i^b - Lo_j^b, Hi_j^b - Lo_i^b)``, ``s~_ij >= n_a lo_ij - (that)``, and
    ``c~_ab`` is at most ``c_ab`` with every cross weight at its upper end.  Every one
    of these bounds gets worse as ``rho`` grows, so "all conditions hold under the
    bounds" is monotone in ``rho`` (true on ``[0, rho*]``, false beyond); it is found
    by bisection between 0 and the fixed-weight radius (which it cannot exceed) to a
    relative width of 1e-12, and the lower end, at which the conditions were checked,
    is returned.
    For a kNN graph the edge set must not change either.  A neighbour set ``N(i)``
    (the ``k`` nearest other points) stays the same if ``max_{l in N(i)} r~_il <
    min_{l not in N(i)} r~_il``.  Each distance moves by at most ``||e_i - e_l||_2
    <= 2 rho``, and the k-th distance can grow by ``2 rho`` while the (k+1)-th shrinks
    by ``2 rho`` at the same time (points ``l_k``, ``i``, ``l_{k+1}`` on a line), so
    the condition is ``r_(k)(i) + 2 rho < r_(k+1)(i) - 2 rho``:

    .. math::

        \rho < \min_i \frac{r_{(k+1)}(i) - r_{(k)}(i)}{4},

    with ``r_(k)(i)`` the distance from ``i`` to its k-th nearest other point (a tie
    gives radius 0).  This is sufficient, not necessary: the union graph can survive a
    changed neighbour set.  Along a direction, ``(r_(k+1)(i) - r_il) / (||d_i - d_l||_2
    + ||d_i - c||_2 + max_m ||d_m - c||_2)`` over ``l`` in ``N(i)`` (``c`` the mean row
    of ``D``).  Weights that are recomputed on a fixed complete graph need no such
    condition.

    When the clean clustering is not certified ((C1), (C2) or distinct centroids fail,
    or ``gamma`` is outside ``[gamma_min, gamma_max)``) the radius is 0 and ``reason``
    says why.  The radius is computed in floating point from these formulas: a
    perturbation exactly at the radius meets a constraint with equality, and there
    rounding decides what :func:`certify` reports.

    Examples
    --------
    >>> import numpy as np
    >>> from advcluster.graph import uniform_graph
    >>> A = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> r = certified_radius(A, [0, 0, 1, 1], uniform_graph(4), gamma=1.0)
    >>> round(r.radius, 6), r.binding
    (0.5, 'gamma_min')
    """
    A = check_data(A)
    n = A.shape[0]
    part = partition(labels, n)
    gamma = check_gamma(gamma)
    p, q = check_p(p)
    D = None if direction is None else check_like(direction, A.shape, "direction", "one direction row per sample")
    if isinstance(weights, Graph) or not callable(weights):
        (graph, _), kind, params = resolve_weights(weights, A), "fixed", {}
    else:
        kind, params = builder_spec(weights, n)
        graph = complete_graph(A, phi=params["phi"]) if kind == "complete" else knn_graph(A, **params)
        kind = {"complete": "complete-gaussian", "knn": "knn-gaussian"}[kind]
    if method not in ("theorem2", "flow", "best"):
        raise ValueError(f"method must be 'theorem2', 'flow' or 'best', got {method!r}.")
    pert = "ball" if D is None else "direction"
    best = _theorem2_radius(A, part, graph, gamma, p, q, D, kind, params, pert)
    if method == "theorem2":
        return best
    if not (pert == "ball" and p == 2 and kind in ("fixed", "complete-gaussian")):
        if method == "flow":
            raise ValueError("method='flow' needs balls (no direction), p = 2, and fixed weights or "
                             "complete_graph weights recomputed; use method='theorem2' or 'best'.")
        return best
    rho, binding, where, why = flow_radius(A, part.codes, graph, gamma, params.get("phi"))
    if method == "flow" or rho > best.radius:
        return CertifiedRadius(rho, binding, where, False, kind, pert, best.bounds, _reason(binding, where, why))
    return best


def _theorem2_radius(A, part, graph, gamma, p, q, D, kind, params, pert):
    """Theorem 2's radius (the closed forms, or bisection for recomputed weights)."""
    struct = Structure(A, part, graph, q)
    slack, _, T = struct.evaluate(struct.weights, struct.weights)
    bounds = bounds_from_structure(struct, slack, T, p, q)
    if not bounds.recovers(gamma):
        return CertifiedRadius(0.0, "clean", None, False, kind, pert, bounds,
                               f"Theorem 5 does not certify the clean clustering: {bounds.why_not(gamma)}.")
    geom = _Geometry(A, part, q, D)
    radius, binding, where, attained = _fixed_radius(struct, geom, gamma, slack, T)
    if kind == "fixed":
        return CertifiedRadius(radius, binding, where, attained, kind, pert, bounds,
                               _reason(binding, where, "closed form, fixed weights"))
    if kind == "knn-gaussian":
        r_knn, at = _knn_margin(A, params["k"], geom)
        if r_knn <= radius:
            radius, binding, where, attained = r_knn, "knn", at, False
    if radius == 0:
        return CertifiedRadius(0.0, binding, where, attained, kind, pert, bounds,
                               _reason(binding, where, "zero margin"))
    bound = _RecomputedBound(struct, geom, gamma, params["phi"])
    if not math.isfinite(radius):
        # only a rigid translation moves no pair: weights and distances do not change
        return CertifiedRadius(math.inf, "none", None, True, kind, pert, bounds,
                               "the perturbation moves no pair of points or centroids")
    rho, fail = _bisect(bound.violation, radius)
    if fail is None:  # the upper bound itself is feasible: the fixed-weight / kNN limit binds
        return CertifiedRadius(rho, binding, where, attained, kind, pert, bounds,
                               _reason(binding, where, "recomputed weights do not bind"))
    return CertifiedRadius(rho, fail[0], fail[1], True, kind, pert, bounds,
                           _reason(fail[0], fail[1], "bisection on the recomputed-weight bound"))


def _reason(binding, where, how):
    text = {
        "gamma_min": f"pair {where} inside a cluster would split (gamma~_min reaches gamma)",
        "gamma_max": f"clusters {where} would fuse (gamma~_max reaches gamma)",
        "c1": f"(C1) slack of pair {where} reaches 0",
        "knn": f"the neighbour set of point {where[0] if where else '?'} could change",
        "none": "no constraint binds",
        "flow": f"the flow on edge {where} inside a cluster could run out of room",
        "flow_centres": f"the fused centres of clusters {where} could meet",
        "clean": "the clean clustering is not certified",
    }[binding]
    return f"{text}; {how}."
