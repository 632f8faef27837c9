"""Theorem 5 of Sun, Toh & Yuan (2021): the recovery conditions (C1), (C2) of a partition and
the interval ``[gamma_min, gamma_max)`` of gammas that recover it exactly (docs/model.md,
section 3)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._records import Record
from .._validation import check_data, check_gamma
from ._inputs import check_graph, check_p, partition, row_norms
from ._structure import Structure, group_extreme, missing_examples


@dataclass(frozen=True, eq=False)
class RecoveryBounds(Record):
    """The recovery conditions of Theorem 5 (Sun, Toh & Yuan 2021) for one partition.

    Clusters are numbered ``0..K-1`` by first appearance in ``labels``; points are
    row indices of ``A``; pairs are ``(i, j)`` with ``i < j``.

    Attributes
    ----------
    p, q : float
        The norm of the model and its conjugate (the norm used in the bounds).
    sizes : ndarray (K,)
        Cluster sizes ``n_a``.
    internal_edges, missing_pairs : ndarray (K,)
        Pairs inside each cluster that are edges with ``w_ij > 0``, and those that are
        not: (C1) needs ``missing_pairs == 0``.
    missing_example : ndarray (K, 2)
        One missing pair per cluster (``-1`` where none is missing).
    slack : ndarray (K,)
        ``min (n_a w_ij - mu_ij)`` over the pairs of the cluster that are edges
        (``inf`` when there are none); (C1) needs it ``> 0`` *and* no missing pair
        (a missing pair has slack ``-mu_ij <= 0``).
    slack_pair : ndarray (K, 2)
        The pair attaining ``slack`` (``-1`` if none).
    cluster_c1 : ndarray (K,) of bool
        (C1) restricted to each cluster.
    cluster_gamma_min : ndarray (K,)
        ``max ||a_i - a_j||_q / (n_a w_ij - mu_ij)`` over the cluster's pairs
        (``0`` for a singleton, ``inf`` where the cluster fails (C1)).
    c1 : bool
        (C1) for every cluster.
    gamma_min : float
        ``max_a cluster_gamma_min[a]``; ``inf`` when (C1) fails (the theorem then
        certifies no gamma).
    gamma_min_pair : tuple or None
        The pair attaining ``gamma_min``.
    gamma_max : float
        The bound of Theorem 5 (``inf`` for a single cluster, or when the attaining
        clusters have no weight to any other cluster).
    gamma_max_clusters : tuple or None
        The clusters ``(a, b)`` attaining ``gamma_max``.
    distinct_centroids : bool
        All centroids differ.
    c2 : bool
        ``gamma_min < gamma_max`` (False when (C1) fails).
    coarsening_bound : float
        ``max_a n_a ||c - abar^(a)||_q / sum_{b != a} w^(a,b)``, ``c`` the mean of all
        points (part 2 of the theorem); ``0`` for a single cluster.
    coarsening_cluster : int or None
        The cluster attaining it.
    """

    p: float
    q: float
    sizes: np.ndarray
    internal_edges: np.ndarray
    missing_pairs: np.ndarray
    missing_example: np.ndarray
    slack: np.ndarray
    slack_pair: np.ndarray
    cluster_c1: np.ndarray
    cluster_gamma_min: np.ndarray
    c1: bool
    gamma_min: float
    gamma_min_pair: tuple | None
    gamma_max: float
    gamma_max_clusters: tuple | None
    distinct_centroids: bool
    c2: bool
    coarsening_bound: float
    coarsening_cluster: int | None

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)

    @property
    def n_samples(self) -> int:
        return int(self.sizes.sum())

    @property
    def c1_slack(self) -> float:
        """Smallest slack over all clusters (``inf`` when no cluster has a pair)."""
        return float(self.slack.min(initial=np.inf))

    @property
    def certified(self) -> bool:
        """(C1), (C2) and distinct centroids: some gamma is certified to recover the partition."""
        return bool(self.c1 and self.c2 and self.distinct_centroids)

    def recovers(self, gamma) -> bool:
        """Whether Theorem 5 guarantees that ``gamma`` recovers the partition exactly."""
        gamma = check_gamma(gamma)
        return bool(self.certified and self.gamma_min <= gamma < self.gamma_max)

    def coarsens(self, gamma) -> bool:
        """Whether part 2 of Theorem 5 guarantees a non-trivial coarsening of the partition at ``gamma``."""
        gamma = check_gamma(gamma)
        return bool(self.c1 and self.gamma_min <= gamma < self.coarsening_bound)

    def failure(self) -> str:
        """Why no gamma is certified, in words ('' when some gamma is)."""
        if not self.c1:
            bad = np.flatnonzero(~self.cluster_c1)
            a = int(bad[0])
            more = f" (and {bad.size - 1} more cluster(s))" if bad.size > 1 else ""
            if self.missing_pairs[a]:
                i, j = self.missing_example[a]
                return (
                    f"(C1) fails in cluster {a}{more}: {self.missing_pairs[a]} of its "
                    f"{self.sizes[a] * (self.sizes[a] - 1) // 2} pairs are not edges with positive weight "
                    f"(e.g. ({i}, {j})); (C1) needs every pair inside a cluster to be an edge"
                )
            i, j = self.slack_pair[a]
            return f"(C1) fails in cluster {a}{more}: n_a w_ij - mu_ij = {self.slack[a]:.4g} <= 0 at pair ({i}, {j})"
        if not self.distinct_centroids:
            return f"centroids of clusters {self.gamma_max_clusters} coincide"
        if not self.c2:
            return f"(C2) fails: gamma_min = {self.gamma_min:.6g} >= gamma_max = {self.gamma_max:.6g}"
        return ""

    def why_not(self, gamma, mark="") -> str:
        """Why ``gamma`` is not certified, in words ('' when it is); ``mark`` ("~") names the
        quantities as those of perturbed data."""
        gamma = check_gamma(gamma)
        if self.recovers(gamma):
            return ""
        if self.failure():
            return self.failure()
        if gamma < self.gamma_min:
            return f"gamma = {gamma:.6g} < gamma{mark}_min = {self.gamma_min:.6g} (pair {self.gamma_min_pair})"
        return f"gamma = {gamma:.6g} >= gamma{mark}_max = {self.gamma_max:.6g} (clusters {self.gamma_max_clusters})"

    def __str__(self):
        K = self.n_clusters
        qn = "inf" if self.q == math.inf else f"{self.q:g}"
        pn = "inf" if self.p == math.inf else f"{self.p:g}"
        lines = [
            f"Recovery conditions (Sun, Toh & Yuan 2021, Thm 5): n = {self.n_samples}, K = {K}, "
            f"p = {pn} (q = {qn})"
        ]
        if self.c1:
            where = ""
            if np.isfinite(self.c1_slack):
                where = f" at pair {tuple(int(v) for v in self.slack_pair[np.argmin(self.slack)])}"
            lines.append(f"  (C1) holds: min n_a w_ij - mu_ij = {self.c1_slack:.6g}{where}")
        else:
            lines.append("  " + self.failure())
        lines.append(
            f"  gamma_min = {self.gamma_min:.6g}" + (f" (pair {self.gamma_min_pair})" if self.gamma_min_pair else "")
            + f", gamma_max = {self.gamma_max:.6g}"
            + (f" (clusters {self.gamma_max_clusters})" if self.gamma_max_clusters else "")
        )
        if self.c1:
            lines.append(f"  (C2) {'holds' if self.c2 else 'fails'}: gamma_min {'<' if self.c2 else '>='} gamma_max; "
                         f"centroids {'distinct' if self.distinct_centroids else 'NOT distinct'}")
        if self.certified:
            lines.append(f"  recovers the partition for every gamma in [{self.gamma_min:.6g}, {self.gamma_max:.6g})")
        else:
            lines.append("  no gamma is certified to recover the partition")
        lines.append(
            f"  coarsening bound {self.coarsening_bound:.6g}"
            + (f" (cluster {self.coarsening_cluster})" if self.coarsening_cluster is not None else "")
            + ": gamma in [gamma_min, bound) gives a non-trivial coarsening" + ("" if self.c1 else " (needs (C1))")
        )
        lines.append("  cluster   size   edges/pairs   min slack   gamma_min")
        for a in range(min(K, 10)):
            pairs = self.sizes[a] * (self.sizes[a] - 1) // 2
            lines.append(
                f"  {a:7d} {self.sizes[a]:6d} {self.internal_edges[a]:8d}/{pairs:<6d} "
                f"{self.slack[a]:11.4g} {self.cluster_gamma_min[a]:11.4g}"
            )
        if K > 10:
            lines.append(f"  ... {K - 10} more clusters")
        return "\n".join(lines)


def recovery_bounds(A, labels, graph, p=2) -> RecoveryBounds:
    r"""Theorem 5 of Sun, Toh & Yuan (2021) for the partition given by ``labels``.

    Computes (C1) cluster by cluster with its slack
    ``min_{i != j in I_a} (n_a w_ij - mu_ij^(a))``, ``gamma_min``, ``gamma_max``, (C2)
    and the coarsening bound of part 2 (formulas in the module docstring).  If (C1),
    (C2) and distinct centroids hold, every ``gamma`` in ``[gamma_min, gamma_max)``
    recovers the partition exactly (:meth:`RecoveryBounds.recovers`).  The conditions
    are sufficient, not necessary.

    Parameters
    ----------
    A : array of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        The partition; any hashable labels, clusters numbered by first appearance.
    graph : Graph
        The weights ``w_ij`` (edges absent from the graph, or of weight 0, are ``w_ij = 0``).
    p : {2, 1, np.inf}
        The norm of the model; the bounds use the conjugate norm ``q``.

    Returns
    -------
    RecoveryBounds

    Notes
    -----
    (C1) needs ``w_ij > 0`` for *every* pair inside a cluster.  That is checked from
    edge counts (a cluster of size ``s`` needs ``s (s - 1) / 2`` internal edges), never
    by listing pairs: with a kNN graph, a cluster larger than about ``2k + 1`` points
    always fails.  When (C1) holds every internal pair is an edge, so ``gamma_min`` is
    a maximum over internal edges.  ``w_i^(b)`` for ``b != a`` comes from the sparse
    product of the cross-cluster weights with the membership matrix.  Cost: ``O(m)``
    for ``m`` edges (plus ``O(m deg)`` for ``mu``) and ``O(K^2 d)`` for the pairs of
    clusters in ``gamma_max``; memory ``O(n + m)``.
    """
    A = check_data(A)
    part = partition(labels, A.shape[0])
    graph = check_graph(graph, A.shape[0], "graph")
    return bounds_for(A, part, graph, p)


def bounds_for(A, part, graph, p):
    """:func:`recovery_bounds` on checked arguments."""
    p, q = check_p(p)
    struct = Structure(A, part, graph, q)
    slack, _, T = struct.evaluate(struct.weights, struct.weights)
    return bounds_from_structure(struct, slack, T, p, q)


def bounds_from_structure(struct, slack, T, p, q):
    """The :class:`RecoveryBounds` of a :class:`Structure` with its exact weights' slack and ``T``."""
    part, A = struct.part, struct.A
    K, sizes = part.n_clusters, part.sizes
    cslack, at = group_extreme(struct.ic, slack, K)
    slack_pair = np.full((K, 2), -1, dtype=np.int64)
    ok = at >= 0
    slack_pair[ok, 0], slack_pair[ok, 1] = struct.ii[at[ok]], struct.jj[at[ok]]
    missing = struct.missing
    cluster_c1 = (missing == 0) & (cslack > 0)
    example = np.full((K, 2), -1, dtype=np.int64)
    for a, pair in missing_examples(struct, np.flatnonzero(missing > 0)).items():
        example[a] = pair
    # gamma_min per cluster: over internal edges of clusters satisfying (C1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(slack > 0, struct.d_int / slack, np.inf)
    cg, gat = group_extreme(struct.ic, ratio, K, largest=True)
    cg = np.where(gat >= 0, cg, 0.0)
    cg = np.where(cluster_c1, cg, np.inf)
    c1 = bool(cluster_c1.all())
    if c1 and struct.internal.size:
        a = int(np.argmax(cg))
        e = gat[a]
        gamma_min, gamma_min_pair = float(cg[a]), (int(struct.ii[e]), int(struct.jj[e]))
    elif c1:
        gamma_min, gamma_min_pair = 0.0, None
    else:
        gamma_min, gamma_min_pair = math.inf, None
    gamma_max, gm_pair, distinct = _gamma_max(struct.pairs, T / sizes)
    # coarsening bound (part 2)
    if K > 1:
        grand = A.mean(axis=0)
        num = sizes * row_norms(struct.centroids - grand, q)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cb = np.where(num == 0, 0.0, num / T)
        b = int(np.argmax(cb))
        coarsening, coarsening_cluster = float(cb[b]), b
    else:
        coarsening, coarsening_cluster = 0.0, None
    return RecoveryBounds(
        p=p,
        q=q,
        sizes=sizes,
        internal_edges=struct.internal_edges,
        missing_pairs=missing,
        missing_example=example,
        slack=cslack,
        slack_pair=slack_pair,
        cluster_c1=cluster_c1,
        cluster_gamma_min=cg,
        c1=c1,
        gamma_min=gamma_min,
        gamma_min_pair=gamma_min_pair,
        gamma_max=gamma_max,
        gamma_max_clusters=gm_pair,
        distinct_centroids=distinct,
        c2=bool(c1 and gamma_min < gamma_max),
        coarsening_bound=coarsening,
        coarsening_cluster=coarsening_cluster,
    )


def _gamma_max(pairs, t):
    """``min_{a<b} D_ab / (t_a + t_b)``, its pair, and whether all centroids differ.

    A zero distance gives 0; a positive distance over zero gives inf.  Pruned search:
    a pair beating the bound ``g`` found on nearest centroids has
    ``D_ab <= g (t_a + t_b) <= g (t_a + max t)``.
    """

    def ratio(a, b, D):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(D == 0, 0.0, D / (t[a] + t[b]))

    best, pair, distinct = math.inf, None, True
    if pairs.brute:
        chunks = pairs.all()
    else:
        a, b, D = pairs.nearest()  # contains the closest pair: decides distinctness
        distinct = not (D.size and D.min() == 0)
        r = ratio(a, b, D)
        g = float(r.min(initial=math.inf))
        if t.max(initial=0.0) == 0:  # no cross weight at all: only coinciding centroids give a finite ratio
            k = int(np.argmin(r))
            return float(r[k]), (int(a[k]), int(b[k])), distinct
        chunks = pairs.within(g * (t + t.max(initial=0.0)))
    for a, b, D in chunks:
        if D.size and D.min() == 0:
            distinct = False
        r = ratio(a, b, D)
        k = int(np.argmin(r)) if r.size else -1
        if k >= 0 and (r[k] < best or pair is None):
            best, pair = float(r[k]), (int(a[k]), int(b[k]))
    return best, pair, distinct
