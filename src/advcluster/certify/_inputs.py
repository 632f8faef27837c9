"""What the certificates share: the norm pair ``(p, q)``, partitions, and weights given as a
Graph (fixed) or as a builder ``A -> Graph`` (recomputed on perturbed data)."""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_nonnegative, is_integer
from ..graph import Graph, complete_graph, first_appearance, knn_graph


def check_p(p):
    """``(p, q)`` with ``q`` the conjugate exponent; ``p`` in {1, 2, inf}."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ValueError(f"p must be 1, 2 or np.inf, got {p!r}.")
    if p == 1:
        return 1, math.inf
    if p == 2:
        return 2, 2
    if p == math.inf:
        return math.inf, 1
    raise ValueError(f"p must be 1, 2 or np.inf, got {p!r}.")


def metric(q):
    """The scipy ``cdist`` name of the q-norm."""
    return {1: "cityblock", 2: "euclidean", math.inf: "chebyshev"}[q]


def row_norms(X, q):
    """``||x_i||_q`` for every row."""
    if q == 2:
        return np.sqrt(np.einsum("ij,ij->i", X, X))
    if q == 1:
        return np.abs(X).sum(axis=1)
    return np.abs(X).max(axis=1, initial=0.0)


def ball_factor(q, d):
    """``max ||v||_q / ||v||_2`` over ``v`` in ``R^d``: 1 for q = 2 or inf, sqrt(d) for q = 1."""
    return math.sqrt(d) if q == 1 else 1.0


def check_like(X, shape, name, what):
    """``X`` as a finite float array of ``shape`` (that of ``A``); ``what`` says what a row is."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape {shape} ({exc}).") from None
    if X.shape != shape:
        raise ValueError(f"{name} must have the shape of A, {shape}, got {X.shape}; {what}.")
    if not np.all(np.isfinite(X)):
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {r}, column {c}); pass finite values.")
    return X


@dataclass(frozen=True, eq=False)
class Partition:
    """A partition numbered by first appearance, with its cluster sizes."""

    codes: np.ndarray  # (n,) cluster of each point, 0..K-1 by first appearance
    sizes: np.ndarray  # (K,)

    @property
    def n_clusters(self):
        return len(self.sizes)

    def centroids(self, A):
        K, d = self.n_clusters, A.shape[1]
        C = np.zeros((K, d))
        np.add.at(C, self.codes, A)
        return C / self.sizes[:, None]


def partition(labels, n) -> Partition:
    """``labels`` (any hashable values, one per row of ``A``) checked and numbered."""
    try:
        lab = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"labels must be a 1-D sequence of cluster labels ({exc}).") from None
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D (n_samples,), got shape {lab.shape}; use np.ravel(labels).")
    if lab.size != n:
        raise ValueError(
            f"labels has {lab.size} entries but A has {n} rows; pass one label per sample (row of A)."
        )
    if lab.dtype.kind == "f" and np.isnan(lab).any():
        raise ValueError(f"labels contain NaN (first at index {int(np.flatnonzero(np.isnan(lab))[0])}); "
                         "give every sample a cluster.")
    try:
        _, inverse = np.unique(lab, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"labels must be comparable values (ints or strings): {exc}") from None
    codes = first_appearance(inverse.ravel())
    return Partition(codes, np.bincount(codes))


def check_graph(graph, n, what="weights"):
    """``graph`` if it is a Graph on ``n`` nodes; ``what`` names it in the error."""
    if not isinstance(graph, Graph):
        raise ValueError(
            f"{what} must be an advcluster Graph, got {type(graph).__name__}; build it with knn_graph, "
            "complete_graph, uniform_graph or Graph.from_matrix."
        )
    if graph.n != n:
        raise ValueError(f"the graph has {graph.n} nodes but A has {n} rows; build the graph from the same data.")
    return graph


def resolve_weights(weights, A):
    """``(graph on A, builder or None)``: a Graph means fixed weights, a callable recomputed ones."""
    n = A.shape[0]
    if isinstance(weights, Graph):
        return check_graph(weights, n), None
    if callable(weights):
        return build(weights, A), weights
    raise ValueError(
        f"weights must be a Graph (fixed weights) or a callable A -> Graph (weights recomputed from the "
        f"perturbed data, e.g. functools.partial(knn_graph, k=10)), got {type(weights).__name__}."
    )


def build(builder, A):
    """The graph a weight builder makes of ``A``, checked."""
    graph = builder(A)
    if not isinstance(graph, Graph):
        raise ValueError(f"the weight builder must return a Graph, it returned {type(graph).__name__}.")
    return check_graph(graph, A.shape[0], "the graph returned by the weight builder")


def builder_spec(builder, n):
    """``("complete", {"phi"})`` or ``("knn", {"k", "phi"})`` for a builder certified_radius understands."""
    func, keywords, args = builder, {}, ()
    if isinstance(builder, functools.partial):
        func, keywords, args = builder.func, dict(builder.keywords), builder.args
    if func not in (complete_graph, knn_graph) or args:
        raise ValueError(
            "certified_radius needs to know how the weights depend on the data: pass a Graph (fixed weights), "
            "complete_graph or knn_graph, or functools.partial(complete_graph, phi=...) / "
            "functools.partial(knn_graph, k=..., phi=...) with keyword arguments only; "
            f"got {builder!r}. (certify accepts any callable A -> Graph.)"
        )
    sig = inspect.signature(func)
    try:
        bound = sig.bind_partial(**keywords)
    except TypeError as exc:
        raise ValueError(f"bad keyword arguments for {func.__name__}: {exc}.") from None
    if "A" in bound.arguments:
        raise ValueError(f"the builder must leave A free; {func.__name__} was given A.")
    params = {k: v.default for k, v in sig.parameters.items() if k != "A"}
    params.update(bound.arguments)
    params["phi"] = check_nonnegative(params["phi"], "phi")
    if func is knn_graph:
        k = params["k"]
        if not is_integer(k) or not 1 <= k < n:
            raise ValueError(f"k must be an integer in 1..{n - 1}, got {k!r}.")
        params["k"] = int(k)
        return "knn", params
    return "complete", params
