"""Front door: :func:`solve` and :func:`clusterpath`, over a registry of methods.

Each method is a function ``run(A, graph, gamma, *, p, tol, max_iter, x0, z0,
verbose, **options) -> Iterate``; the front door checks the input once, times the
call, and judges every method by the same evidence (:func:`problem.evidence`).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._validation import check_data, check_gamma, check_int, check_positive
from . import problem
from .labels import LABEL_RULES, labels_from_centers
from .result import ClusteringResult


@dataclass
class Iterate:
    """What a method hands back: a primal-dual point and how it got there."""

    X: np.ndarray
    U: np.ndarray
    Z: np.ndarray
    n_iter: int
    converged: bool
    message: str
    n_inner: int = 0
    exact: bool = False
    history: list = field(default_factory=list)


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable
    norms: tuple
    summary: str


METHODS: dict[str, Method] = {}


def register(name, norms, summary):
    """Decorator adding a method to :data:`METHODS`."""

    def deco(run):
        METHODS[name] = Method(name, run, tuple(norms), summary)
        return run

    return deco


def meets_tol(ev, tol):
    """The stopping rule shared by every method: KKT residual and relative duality gap both <= tol.

    The KKT residual alone (relative to ``1 + ||A|| + ||U||``) can leave the
    objective off by a few times tol; the gap certifies the objective as well,
    up to the rounding error of evaluating it.
    """
    return ev["kkt_residual"] <= tol and ev["duality_gap"] <= tol + ev["gap_roundoff"]


def _check_graph(graph, n):
    from ..graph import Graph

    if not isinstance(graph, Graph):
        raise ValueError(
            f"graph must be an advcluster Graph (knn_graph, complete_graph, uniform_graph, "
            f"Graph.from_matrix), got {type(graph).__name__}."
        )
    if graph.n != n:
        raise ValueError(
            f"the graph has {graph.n} nodes but A has {n} rows; build the graph from the same data."
        )


def _check_start(value, shape, name):
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; pass a finite warm start or None.")
    return arr


def solve(
    A,
    graph,
    gamma,
    method="ssnal",
    *,
    p=2,
    tol=1e-6,
    max_iter=None,
    x0=None,
    z0=None,
    label_tol=1e-5,
    label_rule="components",
    verbose=False,
    **options,
) -> ClusteringResult:
    """Solve convex clustering ``min_X 1/2 ||X - A||^2 + gamma sum_e w_e ||x_i - x_j||_p``.

    Parameters
    ----------
    A : array (n_samples, n_features)
    graph : Graph
        Weight graph on the ``n_samples`` points.
    gamma : float >= 0
        Fusion penalty.
    method : {"ssnal", "admm", "exact1d"}
        ``ssnal``: semismooth Newton-CG augmented Lagrangian (Sun, Toh & Yuan
        2021), p = 2.  ``admm``: plain ADMM, p = 1 or 2, the cross-check.
        ``exact1d``: exact solution for uniform weights in one dimension (or
        p = 1 coordinate by coordinate), via isotonic regression.
    p : {1, 2}
        Norm on the differences.
    tol : float
        Stop when the relative KKT residual is at most ``tol``.
    max_iter : int, optional
        Outer iteration limit (method-specific default).
    x0, z0 : arrays, optional
        Warm start: primal centres (n, d) and dual variable (m, d).
    label_tol, label_rule
        How labels are read off the centres (:mod:`advcluster.solvers.labels`).
    **options
        Passed to the method (see its docstring).

    Returns
    -------
    ClusteringResult
        Centres, labels and the optimality evidence. ``success`` is False, with a
        message, when the method stopped before meeting ``tol``.

    Sparse graphs of at least :data:`LOCAL_MIN_NODES` nodes are solved with their nodes
    renumbered (:attr:`Graph.local`, reverse Cuthill-McKee, for memory locality); the
    centres, dual and splitting come back in the caller's order.
    """
    A = check_data(A)
    n, d = A.shape
    _check_graph(graph, n)
    gamma = check_gamma(gamma)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}.")
    spec = METHODS[method]
    if isinstance(p, (bool, np.bool_)) or p not in problem.NORMS:
        raise ValueError(f"p must be one of {problem.NORMS}, got {p!r}.")
    if p not in spec.norms:
        raise ValueError(f"method {method!r} supports p in {spec.norms}, not p={p!r}; use method='admm'.")
    tol = check_positive(tol, "tol")
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter")
    label_tol = check_positive(label_tol, "label_tol")
    if label_rule not in LABEL_RULES:
        raise ValueError(f"unknown label_rule {label_rule!r}; choose one of {LABEL_RULES}.")
    accepted = [k for k, v in inspect.signature(spec.run).parameters.items() if v.kind is v.KEYWORD_ONLY]
    accepted = [k for k in accepted if k not in ("p", "tol", "max_iter", "x0", "z0", "verbose")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; it accepts {accepted}.")
    x0 = _check_start(x0, (n, d), "x0")
    z0 = _check_start(z0, (graph.n_edges, d), "z0")

    start = time.perf_counter()
    local = _renumbering(graph)
    if local is None:
        it = spec.run(A, graph, gamma, p=p, tol=tol, max_iter=max_iter, x0=x0, z0=z0, verbose=verbose, **options)
    else:
        it = spec.run(local.nodes_in(A), local.graph, gamma, p=p, tol=tol, max_iter=max_iter, x0=local.nodes_in(x0),
                      z0=local.edges_in(z0), verbose=verbose, **options)
        it.X, it.U, it.Z = local.nodes_out(it.X), local.edges_out(it.U), local.edges_out(it.Z)
    elapsed = time.perf_counter() - start
    ev = problem.evidence(A, graph, gamma, it.X, it.U, it.Z, p)
    success = bool(it.converged and (it.exact or meets_tol(ev, tol)))
    message = it.message
    if it.converged and not success:
        message += (
            f"; but the recomputed KKT residual {ev['kkt_residual']:.2e} or duality gap "
            f"{ev['duality_gap']:.2e} exceeds tol {tol:.0e}"
        )
    labels = labels_from_centers(it.X, graph, label_tol, label_rule)
    return ClusteringResult(
        centers=it.X,
        labels=labels,
        n_clusters=int(labels.max()) + 1,
        gamma=gamma,
        method=method,
        p=p,
        tol=tol,
        n_iter=it.n_iter,
        n_inner=it.n_inner,
        time=elapsed,
        success=success,
        message=message,
        dual=it.Z,
        splitting=it.U,
        history=it.history,
        **ev,
    )


# Large sparse graphs are solved renumbered (Graph.local): once the arrays outgrow the
# cache, the node order decides how well products with the graph's matrices read memory.
LOCAL_MIN_NODES = 5000
LOCAL_MAX_MEAN_DEGREE = 100


def _renumbering(graph):
    """``graph.local`` for sparse graphs of at least :data:`LOCAL_MIN_NODES` nodes, else None."""
    if graph.n >= LOCAL_MIN_NODES and 2 * graph.n_edges <= LOCAL_MAX_MEAN_DEGREE * graph.n:
        return graph.local
    return None


def clusterpath(A, graph, gammas, method="ssnal", **kwargs) -> list[ClusteringResult]:
    """Solve along a grid of ``gammas``, each solve warm-started from the previous one.

    The grid is solved in the order given (increasing gammas are best: clusters
    only merge along the way for the usual weights).  Returns one result per gamma.
    """
    gammas = np.atleast_1d(np.asarray(gammas, dtype=float))
    if gammas.ndim != 1 or gammas.size == 0:
        raise ValueError("gammas must be a non-empty 1-D sequence of numbers >= 0.")
    if "x0" in kwargs or "z0" in kwargs:
        raise ValueError("clusterpath warm-starts itself; do not pass x0 or z0.")
    results = []
    x0 = z0 = None
    for g, g_next in zip(gammas, list(gammas[1:]) + [None]):
        res = solve(A, graph, g, method, x0=x0, z0=z0, **kwargs)
        results.append(res)
        # The dual scales with gamma (||Z_e|| <= gamma w_e): rescale it for the next gamma.
        x0 = res.centers
        z0 = res.dual * (g_next / g) if g_next is not None and g > 0 else None
    return results
