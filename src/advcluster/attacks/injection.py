"""Injection of points, advcluster's own attack: captures first, then bridges.

A clusterer asked for ``k`` clusters (K-means, Ward, single linkage, a Gaussian mixture) spends
clusters on far groups of injected points: ``m`` groups at far corners of the box take ``m`` of
its clusters, the clean points share the ``k - m`` left, and clean clusters merge.  Clusterers
that find their own number of clusters (DBSCAN, HDBSCAN, convex clustering) leave far points
on their own; bridges between clusters merge them instead (Biggio et al. 2013, single
linkage).  :func:`run` evaluates the captures (one evaluation for each ``m``), then builds
bridges with what is left of the budget; the best answer found either way is the result.
"""

from __future__ import annotations

import numpy as np

from .baselines import clean_clusters, run_bridge
from .core import Outcome, register


def far_corners(problem):
    """Corners of the injection box (as far as the threat model lets points go), farthest first
    from the data's mean, then its opposite, then those farthest from each clean cluster's mean
    and their opposites; without repeats.  Each row one corner, shape ``(count, d)``."""
    pert, A = problem.perturbation, problem.A
    d = A.shape[1]
    lo, hi = (side[:d] for side in pert.box(problem.norm_limit))
    _, centres = clean_clusters(problem)
    sides = []
    for c in np.vstack([A.mean(axis=0), centres]):
        high = np.abs(hi - c) >= np.abs(lo - c)
        for side in (high, ~high):
            if not any(np.array_equal(side, s) for s in sides):
                sides.append(side)
    return np.array([np.where(side, hi, lo) for side in sides])


def captures(problem):
    """The capture injections: for ``m = 1, 2, ...`` up to one fewer than the clean clusters (at
    least 1) and the points there are, the points split evenly among the ``m`` first
    :func:`far_corners`; each projected onto the threat model."""
    k = problem.perturbation.n_points
    labels, _ = clean_clusters(problem)
    corners = far_corners(problem)
    most = min(max(int(labels.max()), 1), len(corners), k)
    out = []
    for m in range(1, most + 1):
        points = np.empty((k, problem.A.shape[1]))
        for rows, corner in zip(np.array_split(np.arange(k), m), corners[:m]):
            points[rows] = corner
        out.append(problem.project(points.ravel()))
    return out


@register("capture-bridge", problems=("BL1",), threats="injection",
          summary="Injection: far groups of the injected points capture clusters, then bridges between clusters")
def run(search):
    """Captures (:func:`captures`, at most half the evaluations), then :func:`run_bridge` with
    the rest (Biggio et al. 2013)."""
    tried = captures(search.problem)
    left = search.remaining()
    if left is not None:
        tried = tried[:max(1, left // 2)]
    search.evaluate_many(tried)
    bridges = run_bridge(search)
    return Outcome(f"capture-bridge: {len(tried)} capture(s) by 1 to {len(tried)} far group(s); {bridges.message}")
