"""Reading clusters off the centres: points share a cluster iff their centres coincide.

Two rules, both numbering clusters by first appearance (point 0 gets label 0):

* ``"components"`` (default): connected components of the graph edges ``(i, j)``
  with ``w_ij > 0`` and ``||x_i - x_j|| <= tol``.  Transitive, so the answer cannot depend on the
  order of the points, and it is ``O(m)``.  Points in different components of
  the weight graph are never joined (the model never fuses them).
* ``"greedy"``: the reference MATLAB code's rule: the first unassigned point
  takes every unassigned point within ``tol`` of it, over all pairs.  It depends on
  the order and may split a chain of near-equal centres.

``tol`` is relative: the absolute threshold is ``tol * max(1, max_i ||x_i - mean(X)||)``,
so the rule does not change when the data are rescaled.  The SSNAL paper uses
an absolute 1e-5.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..graph import _first_appearance

LABEL_RULES = ("components", "greedy")


def label_threshold(X, tol):
    """Absolute fusion threshold for relative tolerance ``tol``."""
    if X.shape[1] == 1 and len(X):
        x = X[:, 0]
        mean = x.mean()
        spread = max(x.max() - mean, mean - x.min())
    else:
        spread = np.sqrt(np.max(np.sum((X - X.mean(axis=0)) ** 2, axis=1))) if len(X) else 0.0
    return tol * max(1.0, float(spread))


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


def labels_from_centers(X, graph, tol=1e-5, rule="components"):
    """Cluster labels (0-based, by first appearance) from centres ``X`` (n, d)."""
    if rule not in LABEL_RULES:
        raise ValueError(f"unknown label rule {rule!r}; choose one of {LABEL_RULES}.")
    thr = label_threshold(X, tol)
    n = X.shape[0]
    if rule == "components":
        if X.shape[1] == 1 and n > 1 and graph.is_uniform_complete():
            return _sorted_runs(X[:, 0], thr)
        i, j = graph.edges.T
        close = (np.sqrt(np.sum((X[i] - X[j]) ** 2, axis=1)) <= thr) & (graph.weights > 0)
        adj = sp.coo_array((np.ones(close.sum()), (i[close], j[close])), shape=(n, n))
        return _first_appearance(connected_components(adj, directed=False)[1])
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
