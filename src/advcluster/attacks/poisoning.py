"""Poisoning by injected points: the bridge attack of Biggio et al. (2013), for any clusterer.

Biggio, Pillai, Rota Bulò, Ariu, Pelillo & Roli, *Is data clustering in adversarial settings
secure?*, AISec 2013: against single linkage, a few points placed on the shortest links
between clusters ("bridges") merge them, and the clustering of the clean points changes.  The
attack there is greedy, one point at a time, each chosen among candidates on those links by
the damage it does; it is written here from that description.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .._validation import check_int, is_real
from .core import Outcome, register


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
def run_bridge(search, *, candidates=20, fractions=(0.5,)):
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
    candidates : int, default 20
        Links tried per step.
    fractions : sequence of floats in (0, 1), default (0.5,)
        Where on each link candidates lie.
    """
    problem = search.problem
    pert = problem.perturbation
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
        evaluations = search.evaluate_many(thetas)
        chosen = max(evaluations, key=problem._score)
        points = pert.matrix(chosen.theta)
        placed = points[:step + 1]
        labels = chosen.response.labels[:len(A) + step + 1]
    return Outcome(f"biggio-bridge: {k} point(s) placed greedily, {candidates} link(s) per step")
