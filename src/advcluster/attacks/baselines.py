"""The literature's attacks on clustering, written from their papers, for any clusterer.

* ``biggio-bridge``: Biggio, Pillai, Rota Bulò, Ariu, Pelillo & Roli, *Is data clustering in
  adversarial settings secure?*, AISec 2013.  Against single linkage, points injected on the
  shortest links between clusters ("bridges") merge them; greedy, one point at a time.
* ``chhabra-spillover``: Chhabra, Roy & Mohapatra, *Suspicion-free adversarial attacks on
  clustering algorithms*, AAAI 2020.  One point near the boundary between two clusters is moved
  towards the other cluster, staying an inlier there; others "spill over" with it (K-means).
* ``cina-genetic``: Cinà, Torcinovich & Pelillo, *A black-box adversarial attack for poisoning
  clustering*, Pattern Recognition 2022.  The victim points nearest another cluster are moved
  towards it, each entry by at most the l_inf budget, the sizes found by a genetic algorithm
  (one offspring per generation, selection weighted by ``exp(-fitness)``, entry-wise crossover,
  random and zeroing mutations) on the clustering similarity plus a penalty on the
  perturbation's size.

Each works inside the problem's threat model (its perturbation, budget and box) and is judged
by the problem's deviation, like every other optimizer.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .._validation import check_int, is_real
from .core import Outcome, register


def _entries(problem, who):
    """For a perturbation with one parameter per entry of ``E`` (:class:`Pointwise`,
    :class:`Multiplicative`): each parameter's row, feature and coefficient."""
    if not problem.perturbation.entrywise:
        raise ValueError(f"optimizer {who!r} moves chosen points entry by entry: it needs one parameter per entry "
                         f"(Pointwise or Multiplicative), not {type(problem.perturbation).__name__}.")
    M, d = problem.perturbation.operator, problem.A.shape[1]
    return M.indices // d, M.indices % d, M.data


def clean_clusters(problem):
    """The clean labels numbered 0, 1, ... (DBSCAN's noise, -1, becomes one group) and each
    group's mean of the data."""
    labels = np.unique(problem.reference.labels, return_inverse=True)[1]
    centre = np.stack([problem.A[labels == c].mean(axis=0) for c in range(int(labels.max()) + 1)])
    return labels, centre


def nearest_other(A, labels, centre):
    """For every point, the nearest other cluster's mean: its label and its distance."""
    gap = np.linalg.norm(A[:, None, :] - centre[None], axis=2)
    gap[np.arange(len(A)), labels] = np.inf
    target = np.argmin(gap, axis=1)
    return target, gap[np.arange(len(A)), target]


def clean_answer(search, message):
    """End a search that finds nothing to do: the clean data evaluated (so there is an answer)."""
    problem = search.problem
    search.evaluate(problem.project(np.zeros(problem.n_params)))
    return Outcome(f"{message}; the clean data evaluated")


def _check_fraction_range(value, name):
    if not (is_real(value) and 0 < value <= 1):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}.")
    return float(value)


def closest_links(Y, labels, count):
    """The ``count`` shortest links between clusters: ``(distance, i, j)`` rows, one per pair of
    clusters (its two closest points ``Y[i]``, ``Y[j]``), shortest first."""
    clusters = np.unique(labels)
    best = {}
    for b in clusters:
        inside = np.flatnonzero(labels == b)
        outside = np.flatnonzero(labels != b)
        if outside.size == 0:
            continue
        dist, nearest = cKDTree(Y[inside]).query(Y[outside], k=1)
        for a in np.unique(labels[outside]):
            if a > b:  # each pair once, seen from its larger label
                continue
            rows = np.flatnonzero(labels[outside] == a)
            k = rows[np.argmin(dist[rows])]
            best[(a, b)] = (float(dist[k]), int(outside[k]), int(inside[nearest[k]]))
    return sorted(best.values())[:count]


@register("biggio-bridge", problems=("BL1",), threats="injection",
          summary="Injection: greedy bridging points on the shortest links between clusters (Biggio et al. 2013)")
def run_bridge(search, *, candidates=None, fractions=(0.5,)):
    """The bridge attack (Biggio et al. 2013) for an :class:`~advcluster.perturbation.Injection`.

    The ``n_points`` points are placed one at a time.  Each step takes the clustering of the
    clean points and the points placed so far (the model's answer at the best injection
    found), and the ``candidates`` shortest links between its clusters (for each pair of
    clusters, the segment between their two closest points); candidates lie on each link at
    ``fractions`` of its length (the midpoint by default: a point there halves the link,
    which is what merges two clusters under single linkage).  Each is projected onto the
    threat model (box, distance budget) and evaluated with the points placed so far, the
    points not yet placed on the candidate itself (duplicates, which single linkage merges
    first); the best by the problem's order is placed.  Every step's candidates are
    evaluated as one batch (in parallel with ``n_jobs``).

    Options
    -------
    candidates : int, optional
        Links tried per step.  Default: 20, or fewer when ``max_evals`` would not cover 20 per
        point (what is left of it shared equally among the points, at least 1).
    fractions : sequence of floats in (0, 1), default (0.5,)
        Where on each link candidates lie.
    """
    problem = search.problem
    pert = problem.perturbation
    if candidates is None:
        left = search.remaining()
        candidates = 20 if left is None else int(np.clip(left // search.problem.perturbation.n_points, 1, 20))
    candidates = check_int(candidates, "candidates")
    fractions = np.atleast_1d(np.asarray(fractions, dtype=float)) if all(
        is_real(f) for f in np.atleast_1d(fractions)) else np.array([np.nan])
    if fractions.ndim != 1 or fractions.size == 0 or not np.all((fractions > 0) & (fractions < 1)):
        raise ValueError(f"fractions must be numbers in (0, 1) (where on a link candidates lie), got {fractions!r}.")
    A, k, d = problem.A, pert.n_points, problem.A.shape[1]
    placed = np.empty((0, d))
    labels = problem.reference.labels
    for step in range(k):
        Y = np.vstack([A, placed])
        links = closest_links(Y, labels, candidates)
        if not links:
            return Outcome(f"biggio-bridge: one cluster left after {step} point(s); nothing to bridge")
        thetas = []
        for _, i, j in links:
            for f in fractions:
                point = Y[i] + f * (Y[j] - Y[i])
                theta = np.vstack([placed, np.tile(point, (k - step, 1))]).ravel()
                thetas.append(problem.project(theta))
        room = search.remaining()
        if room is not None and room < len(thetas):  # the evaluation budget ends the search here
            if room > 0:
                search.evaluate_many(thetas[:room])
            return Outcome(f"biggio-bridge: evaluation budget spent at point {step + 1} of {k}")
        evaluations = search.evaluate_many(thetas)
        chosen = max(evaluations, key=problem._score)
        points = pert.matrix(chosen.theta)
        placed = points[:step + 1]
        labels = chosen.response.labels[:len(A) + step + 1]
    return Outcome(f"biggio-bridge: {k} point(s) placed greedily, {candidates} link(s) per step")


@register("chhabra-spillover", problems=("BL1",), threats="moves",
          summary="one point near a cluster boundary moved towards the other cluster, an inlier there (Chhabra et al. 2020)")
def run_spillover(search, *, candidates=10, steps=8):
    """The spill-over attack (Chhabra, Roy & Mohapatra 2020): one point is perturbed.

    The candidates are the perturbable points nearest the boundary between their clean
    cluster ``a`` and another cluster ``b``: the smallest ``||x - c_b|| - ||x - c_a||`` over
    the clusters' means.  Each is moved along the segment towards ``c_b``, at ``steps``
    equally spaced lengths up to the budget (each projected onto it), keeping only positions
    that are not outliers of ``b``: a Mahalanobis distance to ``b`` (its mean and covariance,
    pseudo-inverse) no larger than that of ``b``'s own farthest point, the paper's
    "suspicion-free" condition.  The best by the problem's order is the answer; the clean
    points whose labels change with it are the paper's spill-over points.

    Options
    -------
    candidates : int, default 10
        (point, other cluster) pairs tried, nearest the boundary first.
    steps : int, default 8
        Lengths tried along each segment.
    """
    if candidates is None:
        left = search.remaining()
        candidates = 20 if left is None else int(np.clip(left // search.problem.perturbation.n_points, 1, 20))
    candidates = check_int(candidates, "candidates")
    steps = check_int(steps, "steps")
    problem = search.problem
    rows, feats, coef = _entries(problem, "chhabra-spillover")
    A, (labels, centre) = problem.A, clean_clusters(problem)
    if len(centre) < 2:
        return clean_answer(search, "chhabra-spillover: the clean clustering has one cluster, no boundary to cross")
    movable = np.unique(rows)
    dist = np.linalg.norm(A[movable, None, :] - centre[None], axis=2)  # (points, clusters)
    own = dist[np.arange(movable.size), labels[movable]]
    margin = dist - own[:, None]
    margin[np.arange(movable.size), labels[movable]] = np.inf
    order = np.argsort(margin, axis=None, kind="stable")[:candidates]
    pick, other = np.unravel_index(order, margin.shape)
    outlier = _Outliers(A, labels)
    lo, hi = problem.search_box()
    thetas = []
    for k, b in zip(pick, other):
        if not np.isfinite(margin[k, b]):  # a point's own cluster
            continue
        i = movable[k]
        mine = np.flatnonzero(rows == i)
        for t in np.linspace(1.0 / steps, 1.0, steps):
            theta = np.zeros(problem.n_params)
            theta[mine] = t * (centre[b, feats[mine]] - A[i, feats[mine]]) / coef[mine]
            theta = problem.project(np.clip(theta, lo, hi))
            moved = A[i].copy()
            moved[feats[mine]] += coef[mine] * theta[mine]
            if not outlier.of(b, moved):
                thetas.append(theta)
    if not thetas:
        return clean_answer(search, "chhabra-spillover: no candidate position within the budget is an inlier of "
                            "the other cluster")
    room = search.remaining()
    thetas = thetas if room is None else thetas[:room]
    search.evaluate_many(thetas)
    return Outcome(f"chhabra-spillover: {len(thetas)} single-point perturbations tried")


class _Outliers:
    """Mahalanobis distances to each clean cluster (mean, pseudo-inverse covariance), and the
    largest of each cluster's own points: beyond it a point is an outlier of the cluster."""

    def __init__(self, A, labels):
        self.mean, self.prec, self.limit = [], [], []
        for c in range(int(labels.max()) + 1):
            X = A[labels == c]
            mu = X.mean(axis=0)
            cov = np.atleast_2d(np.cov(X, rowvar=False)) if len(X) > 1 else np.zeros((A.shape[1],) * 2)
            prec = np.linalg.pinv(cov)
            D = X - mu
            self.mean.append(mu)
            self.prec.append(prec)
            self.limit.append(float(np.max(np.einsum("ij,jk,ik->i", D, prec, D))))

    def of(self, c, x):
        v = x - self.mean[c]
        return float(v @ self.prec[c] @ v) > self.limit[c] * (1 + 1e-12)


@register("cina-genetic", problems=("BL1",), threats="moves",
          summary="genetic search over l_inf moves of the victim points nearest a target cluster (Cinà et al. 2022)")
def run_genetic(search, *, share=1.0, penalty=1.0, crossover_rate=0.8, mutation_rate=None, zero_rate=1e-4,
                generations=None):
    """The genetic poisoning attack (Cinà, Torcinovich & Pelillo 2022), black box.

    Each perturbable clean point gets a target: the nearest other cluster's mean; it moves
    towards it, entry by entry in the sign of (target mean - own cluster's mean) (the paper's
    "centroids" link), by an amount in ``[0, the box's end]`` (the l_inf budget).  Of each
    cluster's perturbable points, the ``share`` nearest their target move (the paper's ``s``).
    The amounts evolve as in the paper's genetic algorithm: one offspring per generation,
    from the current one and a past candidate drawn with weight ``exp(-fitness)``, by
    entry-wise crossover (with probability ``crossover_rate`` a child takes each entry from
    either parent at that rate), then random mutations (an entry gains up to the budget, at
    ``mutation_rate``) and zeroing ones (at ``zero_rate``).  The fitness is the normalised
    similarity left, ``1 - f / f_max``, plus ``penalty`` times the paper's size term
    ``||eps||_0 ||eps||_inf / (entries * budget)``; the answer is the best evaluation by the
    problem's order.

    Options
    -------
    share : float in (0, 1], default 1.0
        Of each cluster's perturbable points, the share nearest its target that moves.
    penalty : float >= 0, default 1.0
        The weight of the size term (the paper's ``lambda``).
    crossover_rate : float in [0, 1], default 0.8
    mutation_rate : float in [0, 1], optional
        Default ``max(0.001, 1 / entries)`` (the paper's 0.001 was set for images with
        thousands of entries; with few entries it would leave nearly every generation
        unmutated).
    zero_rate : float in [0, 1], default 1e-4
    generations : int, optional
        Default: the evaluations left (``max_evals``, else 200).
    """
    from .local import _budget

    share = _check_fraction_range(share, "share")
    for value, name in ((crossover_rate, "crossover_rate"), (zero_rate, "zero_rate")) + (
            ((mutation_rate, "mutation_rate"),) if mutation_rate is not None else ()):
        if not (is_real(value) and 0 <= value <= 1):
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
    if not (is_real(penalty) and penalty >= 0):
        raise ValueError(f"penalty must be a number >= 0, got {penalty!r}.")
    problem = search.problem
    rows, feats, coef = _entries(problem, "cina-genetic")
    A, (labels, centre) = problem.A, clean_clusters(problem)
    if len(centre) < 2:
        return clean_answer(search, "cina-genetic: the clean clustering has one cluster, no target to move towards")
    target, distance = nearest_other(A, labels, centre)
    movers = _nearest_share(np.unique(rows), labels, distance, share)
    active = np.isin(rows, movers)
    sign = np.sign(centre[target[rows], feats] - centre[labels[rows], feats]) * np.sign(coef)
    lo, hi = problem.search_box()
    top = np.where(sign > 0, hi, -lo)  # how far each parameter may go in its direction
    top = np.where(active & np.isfinite(top), top, 0.0)
    if not np.any(top > 0):
        return clean_answer(search, "cina-genetic: no perturbable entry can move (an empty box or budget)")
    p = top.size
    mutation_rate = max(1e-3, 1.0 / np.count_nonzero(top)) if mutation_rate is None else float(mutation_rate)
    generations = _budget(search) if generations is None else check_int(generations, "generations")
    rng, high = search.rng, max(problem.largest_value, 1e-300)
    scale = float(np.max(top))

    def fitness(e, amount):
        size = np.count_nonzero(amount) * np.max(amount, initial=0.0) / (np.count_nonzero(top) * scale)
        return 1.0 - e.value / high + penalty * size

    amount = rng.uniform(0.0, 1.0, p) * top
    pool, scores = [], []
    for _ in range(generations):
        theta = problem.project(sign * amount)
        e = search.evaluate(theta)
        amount = np.abs(theta)  # as projected
        pool.append(amount)
        scores.append(fitness(e, amount))
        weights = np.exp(-(np.array(scores) - min(scores)))
        mate = pool[rng.choice(len(pool), p=weights / weights.sum())]
        child = amount.copy()
        if rng.uniform() <= crossover_rate:
            swap = rng.uniform(size=p) <= crossover_rate
            child[swap] = mate[swap]
        grow = rng.uniform(size=p) < mutation_rate
        child[grow] = np.minimum(child[grow] + rng.uniform(size=grow.sum()) * top[grow], top[grow])
        child[rng.uniform(size=p) < zero_rate] = 0.0
        amount = child
    return Outcome(f"cina-genetic: {generations} generations on {int(np.count_nonzero(top))} entries")


def _nearest_share(points, labels, distance, share):
    """Of each cluster's ``points``, the ``share`` (at least one) nearest their target."""
    chosen = []
    for c in np.unique(labels[points]):
        mine = points[labels[points] == c]
        keep = max(1, int(np.ceil(share * mine.size)))
        chosen.extend(mine[np.argsort(distance[mine], kind="stable")[:keep]])
    return np.array(chosen, dtype=np.int64)
