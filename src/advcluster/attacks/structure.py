"""Structure-aware attacks: move whole clusters so that two merge or one splits.

Convex clustering fuses two groups of points, roughly, when their means are closer than the
penalty that joins them: for two groups ``a``, ``b`` with ``n_a``, ``n_b`` points, means
``abar_a``, ``abar_b`` and total weight ``W_ab`` on the edges between them, they stay apart
when ``||abar_a - abar_b|| > gamma W_ab (1/n_a + 1/n_b)`` (docs/model.md, section 5, "Attacks": exact
for two groups with uniform weights, the recovery conditions' separation term in general).
The margin of that inequality says how far each pair of clusters is from merging, and, for
the two halves of a cluster cut along its principal axis, how far the cluster is from
splitting.  Moving the points of ``a`` and ``b`` towards each other (or the halves apart)
changes the means at the least cost per unit of the margin, since every point moves.

:func:`run` (``merge-split``) ranks these moves by their margins, turns each into a direction
``D`` of the data (each moved point by a unit step, in the norm of the threat model), and
searches along ``eps D`` within the budget: BL1 at ``steps`` points of ``[0, eps_max]``, BL2 by
bisection on the smallest ``eps`` that reaches the target.  Every answer is an evaluation by
the lower level itself (a proven partition for convex clustering): a claimed change is a real
one.  For other clusterers the ranking falls back on distances (means for merges, spread along
the principal axis for splits).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_int, is_real
from ..models import ConvexClusteringModel
from .baselines import _entries, clean_answer, clean_clusters, nearest_other
from .core import Outcome, register
from .local import local_search


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
    """``(c, half, axis, margin)`` for every cluster of at least two points, cut at the median of
    its principal axis into ``half`` (a boolean mask over the cluster's points, in order) and
    the rest: ``gamma W (1/n_1 + 1/n_2) - ||abar_1 - abar_2||`` with the halves' weight ``W``
    (with no graph: minus the distance of the halves' means), smallest first."""
    out = []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        X = A[idx] - A[idx].mean(axis=0)
        axis = np.linalg.svd(X, full_matrices=False)[2][0]
        proj = X @ axis
        half = proj > np.median(proj)
        if not half.any() or half.all():
            continue
        gap = float(np.linalg.norm(A[idx[half]].mean(axis=0) - A[idx[~half]].mean(axis=0)))
        W = 0.0
        if graph is not None and graph.n_edges:
            side = np.full(A.shape[0], -1)
            side[idx] = half.astype(int)
            s, t = side[graph.edges[:, 0]], side[graph.edges[:, 1]]
            W = float(graph.weights[(s >= 0) & (t >= 0) & (s != t)].sum())
        n1, n2 = half.sum(), (~half).sum()
        out.append((c, half, axis, gamma * W * (1 / n1 + 1 / n2) - gap))
    return sorted(out, key=lambda t: t[3])


def _unit_rows(V, ord):
    """Rows scaled to a unit step in the threat model's norm per point (largest entry for
    ``inf``, Euclidean otherwise)."""
    scale = np.abs(V).max(axis=1) if ord == "inf" else np.linalg.norm(V, axis=1)
    return V / np.where(scale > 0, scale, 1.0)[:, None]


@register("merge-split", problems=("BL1", "BL2"), threats="moves",
          summary="move the clusters nearest to merging together, or a cluster's halves apart; then combine and refine")
def run(search, *, pairs=None, splits=None, steps=8, rtol=1e-3, refine=True):
    """Merge and split moves, searched along each direction (module docstring), then combined
    (BL1) and refined.

    1. Each direction ``D`` (:func:`_directions`) is evaluated at ``steps`` points of ``[0, eps_max]`` (``eps_max``: the end of the budget, or
       of ``max_norm``, within the perturbation's bounds); for BL2 the first reaching step is
       bisected to ``rtol``.  Phase 1 takes at most half of the evaluations; fewer steps per
       direction (at least 2), then fewer directions, when they are short.
    2. BL1: the directions' best moves are added up greedily, best first (each sum projected
       onto the budget), keeping a move only where the sum does more damage.
    3. With ``refine``: the evaluations left go to a random local search around the best answer
       (:func:`~advcluster.attacks.local.local_search`; for BL2 it also tries smaller
       multiples of it).

    The directions: every point towards the nearest other cluster's mean (for ``ord="inf"``
    also by the signs of that move, every entry by the budget), then the merges,
    splits and expansions (every point of a cluster away from its mean) in turn, by margin.

    Options
    -------
    pairs, splits : int, optional
        Merges and splits tried, smallest margin first (default: all, as far as half of the
        evaluations reach).
    steps : int, default 8
        Points per direction in phase 1 (at most).
    rtol : float in (0, 1), default 1e-3
    refine : bool, default True

    Needs one parameter per entry (:class:`Pointwise`, :class:`Multiplicative`); the moved
    entries are those the perturbation allows.
    """
    from .local import _budget

    pairs = None if pairs is None else check_int(pairs, "pairs", low=0)
    splits = None if splits is None else check_int(splits, "splits", low=0)
    steps = check_int(steps, "steps", low=2)
    if not (is_real(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}.")
    problem = search.problem
    rows, feats, coef = _entries(problem, "merge-split")
    lo, hi = problem.search_box()
    budget = _budget(search)
    halvings = math.ceil(math.log2(1 / rtol)) if problem.kind == "BL2" else 0  # a bisection's evaluations
    most = max(1, budget // (2 * (2 + halvings)))  # directions phase 1 can afford, at 2 steps each
    moves = []  # (name, unit step in theta, its largest eps)
    for name, V in _directions(problem, pairs, splits):  # made one at a time: each is an (n, d) array
        t = _unit_rows(V, problem.perturbation.ord)[rows, feats] / coef
        top = _largest_step(problem, t, lo, hi) if np.any(t != 0) else 0.0
        if top > 0 and math.isfinite(top):
            moves.append((name, t, top))
            if len(moves) == most:
                break
    if not moves:
        return clean_answer(search, "merge-split: no merge or split direction moves an entry the perturbation allows")
    per = max(2, min(steps, budget // (2 * len(moves)) - halvings))
    moves = moves[:max(1, budget // (2 * (per + halvings)))]
    best_step = []
    for name, t, top in moves:
        eps = np.linspace(top / per, top, per)
        evals = search.evaluate_many([problem.project(e * t) for e in eps])
        if problem.kind == "BL2":
            _bisect(search, problem, t, np.r_[0.0, eps], evals, rtol)
        best = max(range(per), key=lambda k: problem._score(evals[k]))
        best_step.append((evals[best], eps[best] * t))
    message = f"merge-split: {len(moves)} direction(s) ({', '.join(m[0] for m in moves)}), {per} steps each"
    if problem.kind == "BL1":
        _combine(search, problem, best_step)
        message += "; combined"
    if refine:
        local_search(search)
        message += "; refined by a local search"
    return Outcome(message)


def _directions(problem, pairs, splits):
    """``(name, V)``, one at a time: the moves of the clean clustering as (n, d) arrays, most
    promising first: every point towards the nearest other cluster's mean, then merges, splits
    and expansions taken in turn, each kind by its margin."""
    A, model = problem.A, problem.model
    labels, mean = clean_clusters(problem)
    graph, gamma = (model.graph, model.gamma) if isinstance(model, ConvexClusteringModel) else (None, 0.0)
    if len(mean) >= 2:
        towards = mean[nearest_other(A, labels, mean)[0]] - A
        yield "towards the nearest other cluster", towards
        if problem.perturbation.ord == "inf":  # the steepest l_inf step: every entry by the budget
            yield "towards the nearest other cluster, by signs", np.sign(towards)
    merges = merge_margins(A, labels, graph, gamma)[:pairs]
    cuts = split_margins(A, labels, graph, gamma)[:splits]
    for k in range(max(len(merges), len(cuts))):
        if k < len(merges):
            a, b, _ = merges[k]
            u = A[labels == b].mean(axis=0) - A[labels == a].mean(axis=0)
            V = np.zeros_like(A)
            V[labels == a], V[labels == b] = u, -u
            yield f"merge {a}+{b}", V
        if k < len(cuts):
            c, half, axis, _ = cuts[k]
            idx = np.flatnonzero(labels == c)
            V = np.zeros_like(A)
            V[idx[half]], V[idx[~half]] = axis, -axis
            yield f"split {c}", V
            V = np.zeros_like(A)
            V[idx] = A[idx] - A[idx].mean(axis=0)
            yield f"expand {c}", V


def _combine(search, problem, best_step):
    """Add the directions' best moves greedily, best first, keeping what helps."""
    order = sorted(best_step, key=lambda item: problem._score(item[0]), reverse=True)
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
