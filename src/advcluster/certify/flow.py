r"""The certified radius from flows: a dual certificate of the clean partition that survives
every perturbation ``||e_i||_2 <= rho`` (docs/model.md, section 3, "Flow radius").

Theorem 2's conditions route each cluster's divergence uniformly over its pairs, which is far
from what the weights allow when they vary (Gaussian weights).  Here the route is the
electrical flow of the cluster's own weights, and the perturbation's effect is bounded edge by
edge.  For the partition ``P`` with exact fused centres ``x_C`` (distinct), the solution of the
perturbed problem has partition ``P`` when (KKT, strict convexity)

* the perturbed fused centres ``x~_C`` stay distinct, and
* in each cluster a flow ``z`` on its edges, ``||z_ij|| <= gamma w~_ij``, balances
  ``b~_i = a~_i - x~_C - gamma sum_{j not in C} w~_ij u~_{C D(j)}``
  (``u_CD`` the unit vector from ``x_D`` to ``x_C``).

Take ``z~ = z + F(b~ - b)``, ``z`` the clean electrical flow and ``F(v)_e = w_e ((L^+ v)_i -
(L^+ v)_j)`` (``L`` the cluster's weighted Laplacian; ``F`` routes any zero-sum ``v`` and kills
constants, so the move of ``x_C`` drops out).  With ``R_e`` the row of ``F`` for edge ``e``:

    ||z~_e|| <= ||z_e|| + ||R_e||_1 (rho + X_C),
    X_C = gamma max_{k in C} sum_{j not in C} (|w~_kj - w_kj| + w_kj ||u~ - u||).

The fused problem is 1-strongly convex in ``||x||_N^2 = sum_C n_C ||x_C||^2``, and the
perturbation adds a term with Lipschitz constant ``sum_C G_C ||.||`` (``G_C = n_C rho + gamma
sum_D |W~_CD - W_CD|``), so ``sum_C n_C ||x~_C - x_C||^2 <= S = sum_C G_C^2 / n_C`` and
(Cauchy-Schwarz) the centres' difference moves by at most ``m_CD = sqrt(S (1/n_C + 1/n_D))``;
with ``r = m_CD / ||x_C - x_D|| < 1`` the direction turns by an angle of at most ``asin r``, so
``||u~_CD - u_CD|| <= 2 sin(asin(r) / 2)``.  Gaussian weights recomputed on the
perturbed data lie in ``[exp(-phi (d + 2 rho)^2), exp(-phi max(d - 2 rho, 0)^2)]``.  Every bound
grows with ``rho``, so the largest ``rho`` meeting

    ||z_e|| + ||R_e||_1 (rho + X_C) <= gamma w~_e(lowest)  for every edge in a cluster,
    m_CD < ||x_C - x_D||                                   for every pair of clusters

is found by bisection.  It is a sufficient condition, like Theorem 2's, and neither contains
the other; :func:`~advcluster.certify.certified_radius` reports the larger.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..graph import ClusterEdges, same_partition

# The rows R_e cost (edges inside a cluster) x (its points) numbers; beyond this, no flow radius.
MAX_WORK = 2e7


def flow_radius(A, codes, graph, gamma, phi=None, bisect_rtol=1e-12):
    """``(rho, binding, where, reason)``: the flow radius of the partition ``codes`` (0..K-1).

    ``graph``: the clean weights on ``A``; ``phi``: None for fixed weights, else the Gaussian
    scale of complete-graph weights recomputed on the perturbed data.  ``binding`` is
    ``"flow"`` (an edge inside a cluster runs out of room; ``where`` its two points) or
    ``"flow_centres"`` (two fused centres could meet; ``where`` the two clusters); ``rho`` is 0,
    with ``reason`` saying why, where the clean partition is not proven by its flows.
    """
    from ..solvers import solve  # here: certify does not need the solvers otherwise

    K = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=K)
    i, j = graph.edges.T
    inside = codes[i] == codes[j]
    work = int(np.dot(np.bincount(codes[i[inside]], minlength=K), sizes))
    if work > MAX_WORK:
        return 0.0, "none", None, f"the flow bound needs {work:.1e} numbers, more than {MAX_WORK:.0e}"
    clean = solve(A, graph, gamma)
    if not clean.labels_certified or not same_partition(clean.labels, codes):
        return 0.0, "clean", None, "the clean clustering at this gamma is not this partition (by a proven solve)"
    x = np.stack([clean.centers[codes == c].mean(axis=0) for c in range(K)])
    gap = np.linalg.norm(x[:, None] - x[None], axis=2) + np.diag(np.full(K, np.inf))
    if not np.all(gap > 0):
        return 0.0, "clean", None, "two clusters have the same fused centre"
    u = (x[:, None] - x[None]) / gap[:, :, None]  # u[C, D]: unit vector from x_D to x_C
    w, dist = graph.weights, np.linalg.norm(A[i] - A[j], axis=1)
    grouped = ClusterEdges(graph.edges, codes)
    clusters = [_Cluster(A, x, u, gamma, codes, c, grouped, i, j, w) for c in range(K)]
    if any(cl.disconnected for cl in clusters):
        return 0.0, "clean", None, "a cluster's edges do not connect its points"
    _add_most_room(clusters, graph, codes, gamma, A.shape[1])
    W = np.zeros((K, K))
    np.add.at(W, (codes[i[~inside]], codes[j[~inside]]), w[~inside])
    W = W + W.T
    slack = clean.backward_error  # the proven centres are exact for data this close to A

    def change(rho):
        """``|w~ - w|`` per edge (its largest value over the ball) and the lowest ``w~``."""
        if phi is None:
            return np.zeros_like(w), w
        far, near = dist + 2 * rho, np.maximum(dist - 2 * rho, 0.0)
        low = np.exp(-phi * far**2)
        return np.maximum(np.exp(-phi * near**2) - w, w - low), low

    def violation(rho):
        omega, low = change(rho)
        Omega = np.zeros((K, K))
        np.add.at(Omega, (codes[i[~inside]], codes[j[~inside]]), omega[~inside])
        Omega = Omega + Omega.T
        G = sizes * rho + gamma * Omega.sum(axis=1)
        # A bound on ||(x~_C - x_C) - (x~_D - x_D)||, from sum_C n_C ||x~_C - x_C||^2 <= S.
        move = np.sqrt(np.sum(G**2 / sizes) * (1 / sizes[:, None] + 1 / sizes[None]))
        meet = move - gap
        if np.max(meet) >= 0:
            a, b = np.unravel_index(np.argmax(meet), meet.shape)
            return "flow_centres", (int(min(a, b)), int(max(a, b)))
        r = move / gap  # < 1 here: the angle of u~_CD to u_CD is at most asin(r)
        turn = r * np.sqrt(2 / (1 + np.sqrt(1 - r**2)))  # 2 sin(asin(r) / 2) >= ||u~_CD - u_CD||
        for cl in clusters:
            room = cl.room(rho, omega, turn, low)
            if room.size and room.min() < 0:
                e = cl.edges[int(np.argmin(room))]
                return "flow", (int(min(i[e], j[e])), int(max(i[e], j[e])))
        return None

    first = violation(0.0)
    if first is not None:
        return 0.0, "clean", first[1], "the clean clusters' electrical flows do not fit their edges"
    hi = max(float(np.max(np.abs(A - A.mean(axis=0)))), 1e-300)
    while violation(hi) is None:
        hi *= 2
        if hi > 1e300:
            return math.inf, "none", None, "no constraint binds"
    lo, fail = 0.0, violation(hi)
    for _ in range(200):
        if hi - lo <= bisect_rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        v = violation(mid)
        lo, hi, fail = (mid, hi, fail) if v is None else (lo, mid, v)
    return max(lo - slack, 0.0), fail[0], fail[1], "bisection on the flow bound"


class _Cluster:
    """One cluster's routes: for a linear router ``R`` (rows ``R_e``, ``R 1 = 0``), its clean
    flow ``R b`` and what bounds the change ``R (b~ - b)``:

        ||R_e (b~ - b)|| <= rho ||R_e||_1 + gamma sum_k |R_ek| Omega_k + gamma sum_D |S_eD| t_CD,

    ``Omega_k`` the largest change of member ``k``'s cross weights, ``S = R W`` with ``W_kD``
    the clean weight from ``k`` to cluster ``D``, and ``t_CD`` the bound on ``||u~_CD - u_CD||``
    (the move of ``x_C`` is constant over the cluster, and ``R`` kills constants)."""

    def __init__(self, A, x, u, gamma, codes, c, grouped, i, j, w):
        self.c, self.gamma = c, gamma
        K = len(x)
        members, local = grouped.members(c), grouped.local
        self.size = members.size
        self.edges = grouped.inside(c)
        self.edges = self.edges[w[self.edges] > 0]
        li, lj, we = local[i[self.edges]], local[j[self.edges]], w[self.edges]
        self.disconnected = members.size > 1 and connected_components(
            sp.coo_matrix((we, (li, lj)), shape=(members.size,) * 2), directed=False)[0] > 1
        if self.disconnected:
            return
        # The cross edges of each member, and its clean weight to each other cluster.
        out = [(e, a, b) for e, (a, b) in zip(grouped.leaving(c), ((i, j), (j, i)))]
        self.cross = [(local[a[e]], e) for e, a, b in out]
        Wk = np.zeros((members.size, K))
        for e, a, b in out:
            np.add.at(Wk, (local[a[e]], codes[b[e]]), w[e])
        b = A[members] - x[c] - gamma * (Wk @ u[c])
        n_c = members.size
        # The electrical flow of the weights (L^+ from the grounded inverse (L + 11^T/n)^{-1} -
        # 11^T/n), and, where every pair of the cluster is an edge, the uniform flow
        # z_ij = (b_i - b_j) / n_C (Theorem 2's route).
        L = np.zeros((n_c, n_c))
        np.add.at(L, (li, lj), -we)
        np.add.at(L, (lj, li), -we)
        L[np.diag_indices_from(L)] = -L.sum(axis=1)
        ones = np.full(L.shape, 1.0 / n_c)
        Lp = np.linalg.inv(L + ones) - ones
        R = we[:, None] * (Lp[li] - Lp[lj])
        self.b, self.R, self.li, self.lj = b, R, li, lj
        self.routers = [(np.abs(R).sum(axis=1), np.abs(R).__matmul__, np.abs(R @ Wk))]
        if self.edges.size == n_c * (n_c - 1) // 2:
            self.routers.append((np.full(li.size, 2.0 / n_c), lambda Om: (Om[li] + Om[lj]) / n_c,
                                 np.abs(Wk[li] - Wk[lj]) / n_c))
        # The clean flows: the electrical one, the uniform one where it applies (each with its
        # own router), and the most-room flow (:func:`_add_most_room`) with either router.
        self.routes = [(np.linalg.norm(R @ b, axis=1),) + self.routers[0]]
        if len(self.routers) > 1:
            self.routes.append((np.linalg.norm(b[li] - b[lj], axis=1) / n_c,) + self.routers[1])

    def add_flow(self, z):
        """A clean flow ``z`` on the cluster's edges (up to its residual, routed electrically)."""
        res = self.b.copy()
        np.add.at(res, self.li, -z)
        np.add.at(res, self.lj, z)
        load = np.linalg.norm(z + self.R @ res, axis=1)
        self.routes += [(load,) + router for router in self.routers]

    def room(self, rho, omega, turn, low):
        """``gamma w~_e(lowest)`` less the bound on ``||z~_e||``, for the cluster's edges, by the
        route whose least room is largest."""
        Om = self._omega(omega)
        rooms = [self.gamma * low[self.edges] - load - rho * r1 - self.gamma * (spread(Om) + S @ turn[self.c])
                 for load, r1, spread, S in self.routes]
        return max(rooms, key=lambda r: r.min(initial=np.inf))

    def _omega(self, omega):
        """``Omega_k``: the sum of the largest weight changes over member ``k``'s cross edges."""
        total = np.zeros(self.size)
        for k, e in self.cross:
            np.add.at(total, k, omega[e])
        return total


def _add_most_room(clusters, graph, codes, gamma, d):
    """Each cluster's most-room flow (``max 1 - t``, ``||z_e|| <= t gamma w_e``; the proofs'
    second-order cone program), offered to it as a further clean flow where it is solved."""
    from ..solvers.flows import Flows

    inner = np.concatenate([cl.edges for cl in clusters])
    order = np.argsort(inner)
    inner = inner[order]
    T = np.zeros((graph.n, d))
    for cl in clusters:
        T[codes == cl.c] = cl.b
    flows = Flows(graph, codes, inner, gamma * graph.weights[inner], T, np.zeros((inner.size, d)), 1e-12)
    for cl in clusters:
        if cl.size < 2:
            continue
        at = np.searchsorted(inner, cl.edges)
        part = flows._restricted(at, np.zeros((inner.size, d)))._most_room()
        if part is not None:
            cl.add_flow(part)

