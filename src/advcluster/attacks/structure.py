"""Structure-aware attacks: move whole clusters so that two merge or one splits.

Convex clustering fuses two groups of points, roughly, when their means are closer than the
penalty that joins them: for two groups ``a``, ``b`` with ``n_a``, ``n_b`` points, means
``abar_a``, ``abar_b`` and total weight ``W_ab`` on the edges between them, they stay apart
when ``||abar_a - abar_b|| > gamma W_ab (1/n_a + 1/n_b)`` (docs/model.md, section 5, "Attacks": exact
for two groups with uniform weights, the recovery conditions' separation term in general).
The margin of that inequality says how far each pair of clusters is from merging, and, for
two parts of a cluster (the cuts of least margin along sweeps of its points,
:func:`split_margins`), how far the cluster is from splitting.  Moving the points of ``a`` and
``b`` towards each other (or the two parts apart) changes the means at the least cost per unit
of the margin, since every point moves.

:func:`run` (``merge-split``) ranks these moves by their margins, turns each into a direction
``D`` of the data (each moved point by a unit step, in the norm of the threat model), and
searches along ``eps D`` within the budget: BL1 screens many directions (more general moves
among them) at the budget's edge and searches the best along their lines, BL2 bisects the
smallest ``eps`` that reaches the target.  Every answer is an evaluation by
the lower level itself (a proven partition for convex clustering): a claimed change is a real
one.  For other clusterers the ranking falls back on distances (means for merges, spread along
the principal axis for splits).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from .._validation import check_int, is_real
from ..graph import ClusterEdges
from ..models import ConvexClusteringModel
from .baselines import _entries, clean_answer, clean_clusters, nearest_other
from .core import Outcome, register
from .local import _budget, local_search


def merge_margins(A, labels, graph=None, gamma=0.0):
    """``(a, b, margin)`` for every pair of clusters: ``||abar_a - abar_b|| - gamma W_ab (1/n_a +
    1/n_b)`` (with no graph: the distance of the means), smallest first."""
    k = int(labels.max()) + 1
    size = np.bincount(labels, minlength=k).astype(float)
    mean = np.stack([A[labels == c].mean(axis=0) for c in range(k)])
    W = np.zeros((k, k))
    if graph is not None and graph.n_edges:
        la, lb = labels[graph.edges[:, 0]], labels[graph.edges[:, 1]]
        np.add.at(W, (la, lb), graph.weights)
        W = W + W.T
    out = []
    for a in range(k):
        for b in range(a + 1, k):
            gap = float(np.linalg.norm(mean[a] - mean[b]))
            out.append((a, b, gap - gamma * W[a, b] * (1 / size[a] + 1 / size[b])))
    return sorted(out, key=lambda t: t[2])


def split_margins(A, labels, graph=None, gamma=0.0):
    """``(c, half, direction, margin)`` for the clusters of at least two points, smallest margin
    first: ``half`` (a boolean mask over the cluster's points, in order) and the rest, with the
    margin ``gamma W (1/n_1 + 1/n_2) - ||abar_1 - abar_2||`` (``W`` the weight between them; no
    graph: ``W = 0``) and ``direction`` the unit step that moves ``half`` apart from the rest.

    With no graph, one cut per cluster: at the median of its principal axis, moved along it.
    With a graph (convex clustering), the cuts of least margin among every prefix of several
    orderings of each cluster's points (:func:`_sweep_cuts`), each moved along its parts'
    means: the margin halved is, to first order, the step that parts them
    (docs/model.md, section 5)."""
    out = []
    grouped = ClusterEdges(graph.edges, labels) if graph is not None and graph.n_edges else None
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        X = A[idx] - A[idx].mean(axis=0)
        axes = np.linalg.svd(X, full_matrices=False)[2]
        if grouped is None:
            proj = X @ axes[0]
            half = proj > np.median(proj)
            if half.any() and not half.all():
                gap = float(np.linalg.norm(A[idx[half]].mean(axis=0) - A[idx[~half]].mean(axis=0)))
                out.append((c, half, axes[0], -gap))
            continue
        e = grouped.inside(c)
        inside = grouped.local[graph.edges[e, 0]], grouped.local[graph.edges[e, 1]], graph.weights[e]
        for half, margin in _sweep_cuts(A[idx], inside, gamma, axes):
            step = A[idx[half]].mean(axis=0) - A[idx[~half]].mean(axis=0)
            norm = np.linalg.norm(step)
            out.append((c, half, step / norm if norm > 0 else axes[0], margin))
    return sorted(out, key=lambda t: t[3])


# Cuts of a cluster: sweeps along this many principal axes, and along this many eigenvectors of
# its weighted Laplacian where it has at most SPECTRAL_SIZE points.
SWEEP_AXES = 3
SPECTRAL_SIZE = 400


def _sweep_cuts(P, edges, gamma, axes):
    """``(half, margin)``: per ordering of the points ``P`` (their projections on the first
    :data:`SWEEP_AXES` axes; the Laplacian's eigenvectors 2 to 4 for small clusters), the
    prefix of least margin ``gamma W (1/n_1 + 1/n_2) - ||abar_1 - abar_2||``; distinct cuts."""
    n = len(P)
    i, j, w = edges
    orders = [np.argsort(P @ a, kind="stable") for a in axes[:SWEEP_AXES]]
    if 2 < n <= SPECTRAL_SIZE and w.size:
        L = np.zeros((n, n))
        np.add.at(L, (i, j), -w)
        np.add.at(L, (j, i), -w)
        L[np.diag_indices(n)] = -L.sum(axis=1)
        vecs = np.linalg.eigh(L)[1]
        orders += [np.argsort(vecs[:, k], kind="stable") for k in range(1, min(4, n))]
    size = np.arange(1, n)
    cuts, seen = [], set()
    for order in orders:
        pos = np.empty(n, dtype=int)
        pos[order] = np.arange(n)
        lo, hi = np.minimum(pos[i], pos[j]), np.maximum(pos[i], pos[j])
        # The prefix of the first t + 1 points cuts the edges with one end at position <= t.
        W = np.cumsum(np.bincount(lo, w, n) - np.bincount(hi, w, n))[:-1]
        first = np.cumsum(P[order], axis=0)[:-1]  # the prefixes' sums
        rest = P.sum(axis=0) - first
        gap = np.linalg.norm(first / size[:, None] - rest / (n - size)[:, None], axis=1)
        margin = gamma * W * (1 / size + 1 / (n - size)) - gap
        t = int(np.argmin(margin))
        half = np.zeros(n, dtype=bool)
        half[order[:t + 1]] = True
        key = (half if half[0] else ~half).tobytes()
        if key not in seen:
            seen.add(key)
            cuts.append((half, float(margin[t])))
    return cuts


def _unit_rows(V, ord):
    """Rows scaled to a unit step in the threat model's norm per point (largest entry for
    ``inf``, Euclidean otherwise)."""
    scale = np.abs(V).max(axis=1) if ord == "inf" else np.linalg.norm(V, axis=1)
    return V / np.where(scale > 0, scale, 1.0)[:, None]


@register("merge-split", problems=("BL1", "BL2"), threats="moves",
          summary="move the clusters nearest to merging together, or a cluster's two parts apart; then combine and refine")
def run(search, *, pairs=None, splits=None, steps=8, rtol=1e-3, refine=True, corners=0.5):
    """Merge and split moves, searched along each direction (module docstring), then combined
    (BL1) and refined.

    BL1 (most damage within the budget), where damage is usually largest at the budget's edge:

    1. *Screen*: each direction ``D`` (:func:`_directions`) evaluated once, at its largest step
       ``eps_max D`` (the end of the budget within the perturbation's bounds), as many
       directions as half of the evaluations reach.
    2. *Line search*: the :data:`LINE_SEARCHED` best directions at ``steps // 2`` more points
       of ``(0, eps_max)`` (fewer where a sixth of the evaluations does not reach), each
       direction's best step kept.
    3. *Combine*: the :data:`COMBINED` best moves added up greedily, best first (each sum projected
       onto the budget), keeping a move only where the sum does more damage.
    4. With ``refine``: a share ``corners`` of the evaluations left go to random corners of the
       search box at random scales (1/4 to 1 of the box), for victims whose answer jumps with
       small changes (K-means restarts, mixtures), where many different tries pay more than
       one careful one; the rest to a random local search around the best answer
       (:func:`~advcluster.attacks.local.local_search`).

    BL2 (least perturbation for a target): each direction at ``steps`` points of
    ``[0, eps_max]`` (at most half of the evaluations; fewer steps, at least 2, then fewer
    directions, when they are short), the first reaching step bisected to ``rtol``; with
    ``refine`` the local search then also tries smaller multiples of the answer.

    The directions (:func:`_directions`): every point towards the nearest other cluster's mean
    (for ``ord="inf"`` also by the signs of that move, every entry by the budget); for BL1 also
    along the link between its cluster's mean and that one (the genetic attack's direction),
    away from its nearest neighbour (single linkage and density-based clusterers split off
    isolated points) and away from its cluster's mean; then the merges, splits and expansions
    (every point of a cluster away from its mean) in turn, by margin.

    Options
    -------
    pairs, splits : int, optional
        Merges and splits tried, smallest margin first (default: all, as far as the
        evaluations reach).
    steps : int, default 8
        Points per direction (BL2); twice the points of a line search (BL1).
    rtol : float in (0, 1), default 1e-3
    refine : bool, default True
    corners : float in [0, 1], default 0.5
        BL1: the share of the evaluations left after the combination spent on random corners.

    Needs one parameter per entry (:class:`Pointwise`, :class:`Multiplicative`); the moved
    entries are those the perturbation allows.
    """
    pairs = None if pairs is None else check_int(pairs, "pairs", low=0)
    splits = None if splits is None else check_int(splits, "splits", low=0)
    steps = check_int(steps, "steps", low=2)
    if not (is_real(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}.")
    if not (is_real(corners) and 0 <= corners <= 1):
        raise ValueError(f"corners must be a number in [0, 1], got {corners!r}.")
    problem = search.problem
    budget = _budget(search)
    if problem.kind == "BL1":
        moves = _moves(problem, pairs, splits, max(1, budget // 2))
        if not moves:
            return _nothing(search)
        lines = min(LINE_SEARCHED, len(moves))
        message = _screened(search, problem, moves, lines, min(steps // 2, budget // (6 * lines)))
        if refine and search.remaining() is not None:  # without max_evals: nothing left to spend
            _random_corners(search, problem, int(corners * search.remaining()))
            local_search(search)
            message += f"; {'random corners and ' if corners > 0 else ''}a local search"
        return Outcome(message)
    halvings = math.ceil(math.log2(1 / rtol))  # a bisection's evaluations
    moves = _moves(problem, pairs, splits, max(1, budget // (2 * (2 + halvings))))  # 2 steps each at least
    if not moves:
        return _nothing(search)
    per = max(2, min(steps, budget // (2 * len(moves)) - halvings))
    moves = moves[:max(1, budget // (2 * (per + halvings)))]
    for name, t, top in moves:
        eps = np.linspace(top / per, top, per)
        evals = search.evaluate_many([problem.project(e * t) for e in eps])
        _bisect(search, problem, t, np.r_[0.0, eps], evals, rtol)
    message = f"merge-split: {len(moves)} direction(s) ({', '.join(m[0] for m in moves)}), {per} steps each"
    if refine:
        local_search(search)
        message += "; refined by a local search"
    return Outcome(message)


# BL1: the directions whose screened step was best, searched along their line; the best moves
# the combination adds up.
LINE_SEARCHED = 3
COMBINED = 6


def _moves(problem, pairs, splits, most):
    """``(name, unit step in theta, its largest eps)`` for the first ``most`` directions that
    move an entry the perturbation allows."""
    rows, feats, coef = _entries(problem, "merge-split")
    lo, hi = problem.search_box()
    moves = []
    for name, V in _directions(problem, pairs, splits):  # made one at a time: each is an (n, d) array
        t = _unit_rows(V, problem.perturbation.ord)[rows, feats] / coef
        top = _largest_step(problem, t, lo, hi) if np.any(t != 0) else 0.0
        if top > 0 and math.isfinite(top):
            moves.append((name, t, top))
            if len(moves) == most:
                break
    return moves


def _nothing(search):
    return clean_answer(search, "merge-split: no merge or split direction moves an entry the perturbation allows")


def _screened(search, problem, moves, lines, per):
    """BL1 steps 1-3 of :func:`run`: the screen, ``per`` steps along each of the ``lines`` best
    directions, the combination; its message."""
    evals = search.evaluate_many([problem.project(top * t) for _, t, top in moves])
    best_step = [(e, top * t) for e, (_, t, top) in zip(evals, moves)]
    order = sorted(range(len(moves)), key=lambda k: problem._score(evals[k]), reverse=True)
    for k in order[:lines] if per > 0 else ():
        _, t, top = moves[k]
        eps = top * np.arange(1, per + 1) / (per + 1)
        line = search.evaluate_many([problem.project(e * t) for e in eps])
        j = max(range(per), key=lambda i: problem._score(line[i]))
        if problem._score(line[j]) > problem._score(best_step[k][0]):
            best_step[k] = (line[j], eps[j] * t)
    _combine(search, problem, best_step, COMBINED)
    searched = ", ".join(moves[k][0] for k in order[:lines])
    return (f"merge-split: {len(moves)} direction(s) screened at the budget's edge"
            + (f", the best ({searched}) searched at {per} more steps each" if per > 0 else "") + "; combined")


def _random_corners(search, problem, count):
    """``count`` random corners of the search box, each scaled by 1/4, 1/2, 3/4 or 1."""
    lo, hi = problem.search_box()
    finite = np.isfinite(lo) & np.isfinite(hi)
    lo, hi = np.where(finite, lo, 0.0), np.where(finite, hi, 0.0)
    rng = search.rng
    if count < 1 or not np.any(hi > lo):
        return
    picks = [np.where(rng.uniform(size=lo.size) < 0.5, lo, hi) * rng.choice([0.25, 0.5, 0.75, 1.0])
             for _ in range(count)]
    search.evaluate_many([problem.project(theta) for theta in picks])


def _directions(problem, pairs, splits):
    """``(name, V)``, one at a time: the moves of the clean clustering as (n, d) arrays, most
    promising first: every point towards the nearest other cluster's mean; for BL1 also along
    the link from its cluster's mean to that one, away from its nearest neighbour and away from
    its cluster's mean; then merges, splits and expansions taken in turn, each kind by its
    margin.  For ``ord="inf"`` the moves are by signs (the steepest step in the box), except
    the convex clustering's merges, splits and expansions (see below)."""
    A, model = problem.A, problem.model
    labels, mean = clean_clusters(problem)
    graph, gamma = (model.graph, model.gamma) if isinstance(model, ConvexClusteringModel) else (None, 0.0)
    signs = problem.perturbation.ord == "inf"  # the steepest l_inf step: every entry by the budget
    steepest = np.sign if signs else (lambda V: V)
    many = problem.kind == "BL1"  # BL1 screens many directions; BL2 searches few, at length
    if len(mean) >= 2:
        target = nearest_other(A, labels, mean)[0]
        towards = mean[target] - A
        yield "towards the nearest other cluster", towards
        if signs:
            yield "towards the nearest other cluster, by signs", np.sign(towards)
        if many:  # the genetic attack's direction (Cina et al. 2022), at the budget's edge
            yield "along the link of the cluster means", steepest(mean[target] - mean[labels])
    if many and len(A) >= 2:
        yield "away from the nearest point", steepest(A - A[cKDTree(A).query(A, k=2)[1][:, 1]])
    if many:
        yield "away from its cluster's mean", steepest(A - mean[labels])
    # For other clusterers than convex clustering, whose margins are those of the mean
    # differences (a move along them reaches the fusion condition), the steepest l_inf step.
    by_signs = signs and graph is None
    merges = merge_margins(A, labels, graph, gamma)[:pairs]
    cuts = split_margins(A, labels, graph, gamma)[:splits]
    expanded = set()
    for k in range(max(len(merges), len(cuts))):
        if k < len(merges):
            a, b, _ = merges[k]
            u = A[labels == b].mean(axis=0) - A[labels == a].mean(axis=0)
            V = np.zeros_like(A)
            V[labels == a], V[labels == b] = u, -u
            yield f"merge {a}+{b}", steepest(V) if by_signs else V
        if k < len(cuts):
            c, half, step, _ = cuts[k]
            idx = np.flatnonzero(labels == c)
            V = np.zeros_like(A)
            V[idx[half]], V[idx[~half]] = step, -step
            yield f"split {c}", steepest(V) if by_signs else V
            if c not in expanded:
                expanded.add(c)
                V = np.zeros_like(A)
                V[idx] = A[idx] - A[idx].mean(axis=0)
                yield f"expand {c}", steepest(V) if by_signs else V


def _combine(search, problem, best_step, count):
    """Add the ``count`` best of the directions' best moves greedily, best first, keeping what
    helps."""
    order = sorted(best_step, key=lambda item: problem._score(item[0]), reverse=True)[:count]
    total, current = order[0][1], order[0][0]
    for e, theta in order[1:]:
        if search.remaining() is not None and search.remaining() < 1:
            return
        trial = search.evaluate(problem.project(total + theta))
        if problem._score(trial) > problem._score(current):
            total, current = trial.theta, trial


def _largest_step(problem, t, lo, hi):
    """The largest ``eps`` with ``eps t`` inside the box and within the search's norm limit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        caps = np.where(t > 0, hi / t, np.where(t < 0, lo / t, np.inf))
    top = float(np.min(caps))
    norm = problem.perturbation.norm(t)
    if problem.perturbation.ord != "l0" and norm > 0:
        top = min(top, problem.norm_limit / norm)
    return top


def _bisect(search, problem, t, grid, evals, rtol):
    """BL2 along ``eps t``: bisect between the last grid point short of the target and the first
    that reaches it."""
    reach = [e.value >= problem.target for e in evals]
    if not any(reach):
        return
    k = reach.index(True)
    lo, hi = grid[k], grid[k + 1]  # grid[0] = 0 is the clean data
    while hi - lo > rtol * hi and (search.remaining() is None or search.remaining() > 0):
        mid = 0.5 * (lo + hi)
        if search.evaluate(problem.project(mid * t)).value >= problem.target:
            hi = mid
        else:
            lo = mid
