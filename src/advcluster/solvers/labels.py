"""Reading clusters off centres with a threshold: the best effort when no proof is found.

:func:`advcluster.solve` proves its partition (:mod:`.certificate`); the rules here read
labels off centres when it cannot, and serve anyone holding centres alone.  Both number
clusters by first appearance (point 0 gets label 0):

* ``"components"`` (default): connected components of the graph edges ``(i, j)``
  with ``w_ij > 0`` and ``||x_i - x_j|| <= tol * scale``.  Transitive, so the answer cannot depend
  on the order of the points, and it is ``O(m)``.  Points in different components of
  the weight graph are never joined (the model never fuses them).
* ``"greedy"``: the reference MATLAB code's rule: the first unassigned point
  takes every unassigned point within the threshold of it, over all pairs.  It depends on
  the order and may split a chain of near-equal centres.

``scale`` defaults to the RMS distance of the centres from their mean (1 when they all
coincide), so rescaling changes nothing; :func:`advcluster.solve` reads the centres of the
centred data scaled to unit spread.  The SSNAL paper uses an absolute 1e-5.
"""

from __future__ import annotations

import numpy as np

from ..graph import first_appearance
from .problem import spread

LABEL_RULES = ("components", "greedy")


def components(graph, mask):
    """Labels (by first appearance) of the connected components of the edges ``mask`` selects."""
    return first_appearance(*graph.components_of(mask)[::-1])


def _sorted_runs(x, thr):
    """Components on a complete graph in 1-D: runs of the sorted values with gaps <= thr,
    numbered by first appearance."""
    order = np.argsort(x, kind="stable")
    cut = np.diff(x[order]) > thr
    starts = np.concatenate([[0], np.flatnonzero(cut) + 1])
    first = np.minimum.reduceat(order, starts)  # smallest original index in each run
    number = np.empty(starts.size, dtype=np.int64)
    number[np.argsort(first)] = np.arange(starts.size)
    labels = np.empty(x.size, dtype=np.int64)
    labels[order] = number[np.concatenate([[0], np.cumsum(cut)])]
    return labels


def labels_from_centers(X, graph, tol=1e-5, rule="components", scale=None):
    """Cluster labels (0-based, by first appearance) from centres ``X`` (n, d): points whose
    centres lie within ``tol * scale`` (``scale``: the RMS spread of ``X`` by default)."""
    if rule not in LABEL_RULES:
        raise ValueError(f"unknown label rule {rule!r}; choose one of {LABEL_RULES}.")
    thr = tol * (spread(X) if scale is None else scale)
    n = X.shape[0]
    if rule == "components":
        if X.shape[1] == 1 and n > 1 and graph.is_uniform_complete():
            return _sorted_runs(X[:, 0], thr)
        i, j = graph.edges.T
        return components(graph, (np.sqrt(np.sum((X[i] - X[j]) ** 2, axis=1)) <= thr) & (graph.weights > 0))
    labels = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        if labels[i] >= 0:
            continue
        free = labels < 0
        near = np.sqrt(np.sum((X - X[i]) ** 2, axis=1)) <= thr
        labels[free & near] = k
        k += 1
    return labels
