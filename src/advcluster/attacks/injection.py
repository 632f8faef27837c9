"""Injection of points, advcluster's own attack: captures first, then bridges.

A clusterer asked for ``k`` clusters (K-means, Ward, single linkage, a Gaussian mixture) spends
clusters on far groups of injected points: ``m`` groups at far corners of the box take ``m`` of
its clusters, the clean points share the ``k - m`` left, and clean clusters merge.  In many
features the box has corners far from the data and from each other in every direction, and
injected points each at its own random corner take several clusters at once (digits, 58
features: 1 - ARI 0.68 under K-means, against 0.33 for one far group).  Clusterers that find
their own number of clusters (DBSCAN, HDBSCAN, convex clustering) leave far points on their
own; bridges between clusters merge them instead (Biggio et al. 2013, single linkage).
:func:`run` evaluates the captures, then builds bridges with what is left of the budget; the
best answer found either way is the result.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int
from .baselines import clean_clusters, run_bridge
from .core import Outcome, register


def _box(problem):
    """``(low, high)`` of one injected point: the box as far as the threat model lets it go."""
    d = problem.A.shape[1]
    return tuple(side[:d] for side in problem.perturbation.box(problem.norm_limit))


def far_corners(problem, centres):
    """Corners of the injection box (:func:`_box`), farthest first from the data's mean, then its
    opposite, then those farthest from each of ``centres`` (the clean clusters' means) and their
    opposites; without repeats.  Each row one corner, shape ``(count, d)``."""
    A = problem.A
    lo, hi = _box(problem)
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
    labels, centres = clean_clusters(problem)
    corners = far_corners(problem, centres)
    most = min(max(int(labels.max()), 1), len(corners), k)
    out = []
    for m in range(1, most + 1):
        points = np.empty((k, problem.A.shape[1]))
        for rows, corner in zip(np.array_split(np.arange(k), m), corners[:m]):
            points[rows] = corner
        out.append(problem.project(points.ravel()))
    return out


def scattered(problem, rng, count):
    """``count`` injections with every point at its own random corner of the box (each side of
    each feature with probability 1/2), projected onto the threat model."""
    lo, hi = _box(problem)
    shape = (problem.perturbation.n_points, lo.size)
    return [problem.project(np.where(rng.random(shape) < 0.5, lo, hi).ravel()) for _ in range(count)]


@register("capture-bridge", problems=("BL1",), threats="injection",
          summary="Injection: far groups of the injected points capture clusters, then bridges between clusters")
def run(search, *, scatter=3):
    """Captures by far groups (:func:`captures`) and ``scatter`` injections by points at random
    corners (:func:`scattered`), at most half the evaluations in all, then :func:`run_bridge`
    with the rest (Biggio et al. 2013).

    Options
    -------
    scatter : int, default 3
        Injections with every point at its own random corner.
    """
    scatter = check_int(scatter, "scatter", low=0)
    grouped = captures(search.problem)
    tried = grouped + scattered(search.problem, search.rng, scatter)
    left = search.remaining()
    if left is not None:
        tried = tried[:max(1, left // 2)]
    search.evaluate_many(tried)
    bridges = run_bridge(search)
    return Outcome(f"capture-bridge: {len(tried)} capture(s) (1 to {len(grouped)} far group(s), then points at "
                   f"random corners); {bridges.message}")
