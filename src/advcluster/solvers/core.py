"""Front door: :func:`solve` and :func:`clusterpath`, over a registry of methods.

Each method is a function ``run(A, graph, gamma, *, p, tol, max_iter, x0, z0,
verbose, **options) -> Iterate``; the front door checks the input once, times the
call, and judges every method by the same evidence (:func:`problem.evidence`).
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from .._validation import Flag, Integer, OneOf, Optional, Real, check_data, renamed, validate
from . import certificate, problem
from ..graph import first_appearance, same_partition
from .labels import LABEL_RULES, components, labels_from_centers
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
    labels: np.ndarray | None = None  # set by methods that know the exact partition
    resume: dict = field(default_factory=dict)  # options that continue the run from (X, Z), e.g. its penalty
    stopped: bool = False  # ended by the caller's stop_when (a proof of the partition), short of tol


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable
    norms: tuple
    summary: str
    exact: bool = False  # exact methods see the data as given; iterative ones, centred and scaled
    limits: Callable | None = None  # (graph, d, p) -> '' where the method applies, else why not

    def why_not(self, graph, d, p) -> str:
        """'' when this method solves the problem on ``graph`` with ``d`` features and norm ``p``;
        otherwise why not, and what to use instead."""
        if p not in self.norms:
            return f"method {self.name!r} supports p in {self.norms}, not p={p!r}; use method='admm'."
        return self.limits(graph, d, p) if self.limits else ""

    @cached_property
    def options(self) -> tuple:
        """The keyword-only options of ``run`` (``callback`` and ``stop_when`` among them where it takes them)."""
        return tuple(k for k, v in inspect.signature(self.run).parameters.items() if v.kind is v.KEYWORD_ONLY)


METHODS: dict[str, Method] = {}


def register(name, norms, summary, exact=False, limits=None):
    """Decorator adding a method to :data:`METHODS` (``limits``: see :attr:`Method.limits`)."""

    def deco(run):
        METHODS[name] = Method(name, run, tuple(norms), summary, exact, limits)
        return run

    return deco


# Method options renamed in 0.1 (old -> new); the old names still work, with a FutureWarning.
RENAMED_OPTIONS = {"warm_start": "admm_iters", "warm_tol": "admm_tol", "max_cg": "max_jacobi"}

# What solve (and every entry point that solves: the estimator, the models) accepts.
PROGRESS_DELAY = 1.0  # seconds before a solve's progress bar appears
PROGRESS_INTERVAL = 0.1  # and between its redraws

SOLVE_RULES = {
    "gamma": Real(0.0),
    "method": OneOf(METHODS, also=("auto",)),
    "p": OneOf(problem.PENALTY_NORMS),
    "tol": Real(0.0, strict=True),
    "max_iter": Optional(Integer(1)),
    "label_tol": Real(0.0, strict=True),
    "label_rule": OneOf(LABEL_RULES),
    "certify": Flag(),
}


def choose_method(graph, d, p):
    """``(method, why)``: what ``method="auto"`` solves with.

    ``exact1d`` wherever it applies (uniform weights with one feature, or ``p = 1``): exact,
    and the fastest.  Else ``ssnal`` for ``p = 2`` and ``admm`` for ``p = 1``, the one
    iterative method for that norm.  (Where nearly nothing fuses, thousands of clusters on
    low-dimensional data, admm can be faster than ssnal, which cannot be known before solving:
    BENCHMARKS.md, "method='auto'".)
    """
    if not METHODS["exact1d"].why_not(graph, d, p):
        return "exact1d", "uniform weights with one feature or p = 1, solved exactly"
    if p == 2:
        return "ssnal", "p = 2"
    return "admm", "p = 1 with weights that are not uniform"


def meets_tol(ev, tol):
    """The methods' stopping rule: KKT residual and relative duality gap both <= tol, the gap
    up to the rounding error of evaluating it (below that no iterate can show more).

    The KKT residual alone (relative to ``1 + ||A|| + ||U||``) can leave the
    objective off by a few times tol; the gap certifies the objective as well.  The front
    door then judges the answer strictly (:func:`solve`).
    """
    return ev["kkt_residual"] <= tol and ev["duality_gap"] <= tol + ev["gap_roundoff"]


def stopped_message(ev, tol, iterations=None):
    """Why a run ended short of ``tol`` when its ``stop_when`` said so (a proof held there)."""
    after = "" if iterations is None else f" after {iterations} iterations"
    return (f"stopped at KKT residual {ev['kkt_residual']:.2e} and duality gap {ev['duality_gap']:.2e} "
            f"(tol {tol:.0e}){after}, where the partition was proven")


def converged_message(ev, tol):
    """What :func:`meets_tol` established, in words that are true: a gap above ``tol`` but within
    its rounding error is said to be so."""
    kkt, gap = ev["kkt_residual"], ev["duality_gap"]
    if gap <= tol:
        return f"converged: KKT residual {kkt:.2e} and duality gap {gap:.2e} <= tol {tol:.0e}"
    return (f"stopped: KKT residual {kkt:.2e} <= tol {tol:.0e}; duality gap {gap:.2e} above tol but within "
            f"its rounding error {ev['gap_roundoff']:.1e}")


# Undecided partitions are re-solved from where the solve ended, this many times at most,
# each time at a tolerance this much tighter (never below REFINE_FLOOR); not when the proof
# failed on rounding room alone (Proof.near_threshold), which a tighter solve does not change.
REFINE_ROUNDS = 2
REFINE_FACTOR = 1e-2
REFINE_FLOOR = 1e-12
# A solve with certify tries one proof once its KKT residual is within this factor of tol:
# a proven partition's polished exact solution needs no more iterations (docs/partitions.md, section 8).
EARLY_PROOF_FACTOR = 10.0
# Before re-solving, the groups of centres closer than label_tol times this are merged by their
# cone program (certificate.prove_coarsened) and that partition tried.
FINE_CUT = 1e-2
# A warm start's points whose balance a_i - x_i - (J z)_i is off by more than this (unit spread)
# are where the data or the graph changed.  Where they are at most PRESPLIT_MAX of the points,
# they start single in the merged warm start's cone program (moons, n = 1,000, one feature of 10
# rows shifted: 20-40 such points, and 29 of 41 shifts proven without iterations instead of 20;
# moves of 2-5 % of the rows leave 120-300, most of them ends of changed kNN edges, and starting
# them single there made the candidate fail: BENCHMARKS.md, warm re-solves).
CHANGED_CUT = 1e-4
PRESPLIT_MAX = 0.05


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
    method="auto",
    *,
    p=2,
    tol=1e-6,
    max_iter=None,
    x0=None,
    z0=None,
    label_tol=1e-5,
    label_rule="components",
    certify=True,
    verbose=False,
    callback=None,
    progress=False,
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
    method : {"auto", "ssnal", "admm", "exact1d"}
        ``auto`` (the default): ``exact1d`` where it applies, else ``ssnal`` for p = 2 and
        ``admm`` for p = 1 (:func:`choose_method`); the result's ``method`` and message say which.
        ``ssnal``: semismooth Newton-CG augmented Lagrangian (Sun, Toh & Yuan
        2021), p = 2.  ``admm``: plain ADMM, p = 1 or 2, the cross-check.
        ``exact1d``: exact solution for uniform weights in one dimension (or
        p = 1 coordinate by coordinate), via isotonic regression.
    p : {1, 2}
        Norm on the differences.
    tol : float
        Stop when the relative KKT residual and the relative duality gap are at most
        ``tol``; both are measured on the data centred and scaled to unit spread, so
        translating or rescaling the data changes neither (docs/partitions.md, section 5).
    max_iter : int, optional
        Outer iteration limit (method-specific default).
    x0, z0 : arrays, optional
        Warm start: primal centres (n, d) and dual variable (m, d).  With ``certify``, the
        partition ``x0`` shows is first tried as the answer for these data (docs/partitions.md,
        section 7): where it is proven, the exact solution comes back with no iteration.
    label_tol, label_rule
        How labels are read off the centres when the partition cannot be proven
        (:mod:`advcluster.solvers.labels`; ``label_tol`` is relative to the data's spread).
    certify : bool, default True
        Prove the partition (:mod:`advcluster.solvers.certificate`): where a proof is found,
        the labels are the exact partition and the centres the exact fused solution; where
        none is, the solve continues at a tighter tolerance up to :data:`REFINE_ROUNDS` times,
        and what stays undecided is reported (``labels_certified``, ``n_undecided``).  ssnal
        tries one proof once within :data:`EARLY_PROOF_FACTOR` of ``tol``, and stops there
        where it holds (docs/partitions.md, section 8).
        False reads labels off the centres with ``label_tol`` (faster; nothing proven).
    callback : callable, optional
        Progress of an iterative method (ssnal, admm), instead of ``verbose``'s prints:
        ``callback(record)`` after each of its iterations that measures the evidence, with
        ``record`` a dict: ``method``, ``iteration`` (from 1 in each run; a re-solve that
        settles the partition starts again), ``seconds`` since the solve began, the relative
        ``kkt_residual`` and ``duality_gap`` (as on the result) and the method's own counters:
        its ``history`` entry, objectives in the centred, unit-spread frame it solves in.
        Exact methods make no such record. Its return value is ignored.
    progress : bool or None, default False
        A progress bar (tqdm, on stderr) for an iterative solve that lasts over a second: its
        iterations, and the KKT residual and duality gap against ``tol``. None: only where
        stderr is a terminal (what :class:`~advcluster.ConvexClustering` asks for).
    **options
        Passed to the method (see its docstring).

    Returns
    -------
    ClusteringResult
        Centres, labels and the optimality evidence.  ``success`` is True exactly when the
        returned point's KKT residual and duality gap are both at most ``tol``; the message
        says how the solve ended and, otherwise, why not.

    Iterative methods solve the centred data scaled to unit RMS spread (and ``gamma``
    scaled alike: ``X*(s A, s gamma) = s X*(A, gamma)``), and the answer is mapped back.
    Sparse graphs of at least :data:`LOCAL_MIN_NODES` nodes are solved with their nodes
    renumbered (:attr:`Graph.local`, reverse Cuthill-McKee, for memory locality); the
    centres, dual and splitting come back in the caller's order.
    """
    A = check_data(A)
    n, d = A.shape
    _check_graph(graph, n)
    gamma, method, p, tol, max_iter, label_tol, label_rule, certify = validate(
        SOLVE_RULES, gamma=gamma, method=method, p=p, tol=tol, max_iter=max_iter, label_tol=label_tol,
        label_rule=label_rule, certify=certify).values()
    chosen = None
    if method == "auto":
        method, chosen = choose_method(graph, d, p)
    spec = METHODS[method]
    options = renamed(options, RENAMED_OPTIONS, f"method {method!r}")
    accepted = [k for k in spec.options
                if k not in ("p", "tol", "max_iter", "x0", "z0", "verbose", "callback", "stop_when")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        auto = f" (method 'auto' chose it: {chosen}; name the method whose options you pass)" if chosen else ""
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}{auto}; it accepts {accepted}.")
    if progress not in (True, False, None):
        raise ValueError(f"progress must be True, False or None (a bar only on a terminal), got {progress!r}.")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable (it receives one dict per iteration), got {callback!r}.")
    x0 = _check_start(x0, (n, d), "x0")
    z0 = _check_start(z0, (graph.n_edges, d), "z0")
    why = spec.why_not(graph, d, p)
    if why:
        raise ValueError(why)

    start = time.perf_counter()
    listens = "callback" in spec.options
    bar = _bar(spec.name, tol, progress) if listens and progress is not False else None
    if listens and (callback is not None or bar is not None):
        user = callback

        def report(record):
            record = {"method": spec.name, **record, "seconds": time.perf_counter() - start}
            if bar is not None:
                bar.set_postfix_str(f"KKT {record['kkt_residual']:.1e}, gap {record['duality_gap']:.1e} "
                                    f"(tol {tol:g})", refresh=False)
                bar.update(1)
            if user is not None:
                user(record)

        options = {**options, "callback": report}
    try:
        res = _renumbered_solve(A, graph, gamma, spec, p, tol, max_iter, x0, z0, label_tol, label_rule, certify,
                                verbose, options)
    finally:
        if bar is not None:
            bar.close()
    if chosen is not None:
        res.message = f"method 'auto' chose {method} ({chosen}); {res.message}"
    res.time = time.perf_counter() - start
    return res


def _bar(name, tol, progress):
    from tqdm.auto import tqdm

    return tqdm(desc=f"solve ({name})", unit="it", file=sys.stderr, delay=PROGRESS_DELAY, leave=False,
                mininterval=PROGRESS_INTERVAL, disable=None if progress is None else not progress, dynamic_ncols=True)


def _renumbered_solve(A, graph, gamma, spec, p, tol, max_iter, x0, z0, label_tol, label_rule, certify, verbose,
                      options):
    """:func:`_solve` on the graph's local numbering where it has one, mapped back."""
    local = _renumbering(graph)
    if local is None:
        res = _solve(A, graph, gamma, spec, p, tol, max_iter, x0, z0, label_tol, label_rule, certify, verbose,
                     options)
    else:
        res = _solve(local.nodes_in(A), local.graph, gamma, spec, p, tol, max_iter, local.nodes_in(x0),
                     local.edges_in(z0), label_tol, label_rule, certify, verbose, options)
        res.centers = local.nodes_out(res.centers)
        res.labels = first_appearance(local.nodes_out(res.labels[:, None])[:, 0])
        res.dual, res.splitting = local.edges_out(res.dual), local.edges_out(res.splitting)
    return res


def _solve(A, graph, gamma, spec, p, tol, max_iter, x0, z0, label_tol, label_rule, certify, verbose, options):
    """:func:`solve` on checked arguments: the method in the unit-spread frame, the proof, the
    refinements, the evidence and the message."""
    frame = _Frame(A, gamma)
    # Exact methods, and problems with no penalty (X = A), see the data as given.
    raw = spec.exact or gamma == 0 or not np.any(graph.weights > 0)
    An, gamma_n = (A, gamma) if raw else (frame.data, frame.gamma)

    def run(tol_run, x0n, z0n, resume=None):
        return spec.run(An, graph, gamma_n, p=p, tol=tol_run, max_iter=max_iter, x0=x0n, z0=z0n,
                        verbose=verbose, **{**options, **(resume or {})})

    early_proof = []  # the proof that ended the first run early, if one did
    refuted = []  # candidate partitions with a group that has no flow in its balls: not tried twice

    def stop_when(X, Z, ev):  # one proof, once the run is within EARLY_PROOF_FACTOR of tol
        if early_proof or ev["kkt_residual"] > EARLY_PROOF_FACTOR * tol:
            return False
        early_proof.append(_prove(An, graph, gamma_n, p, Iterate(X, None, Z, 0, False, ""), ev, label_tol, 1.0,
                                  frame.data_error, None, early=True, refuted=refuted))
        return early_proof[0].certified

    def judge(it):  # evidence on the scaled problem, whatever the method saw
        if raw:
            return problem.evidence(frame.data, graph, frame.gamma, frame.points_in(it.X), frame.duals_in(it.U),
                                    frame.duals_in(it.Z), p)
        return problem.evidence(An, graph, gamma_n, it.X, it.U, it.Z, p)

    proof, refined, tol_run, coarsened, fine = None, 0, tol, False, None
    d = A.shape[1]
    if certify and not raw and x0 is not None:  # the warm start's partition may hold for these data
        proof, coarsened = _prove_start(An, graph, gamma_n, p, frame.points_in(x0), frame.duals_in(z0), label_tol,
                                        frame.data_error)
    if proof is None:
        stops = certify and not raw and "stop_when" in spec.options
        it = (run(tol, x0, z0) if raw else
              run(tol, frame.points_in(x0), frame.duals_in(z0), dict(stop_when=stop_when) if stops else None))
        ev = judge(it)
        if early_proof and early_proof[0].certified:
            proof = early_proof[0]
    else:  # centres, dual and evidence come from the proof below
        what = coarsened or "the warm start's partition"
        it = Iterate(None, None, None, 0, True, f"{what} is proven for these data: no iterations")
    n_iter, n_inner, history = it.n_iter, it.n_inner, list(it.history)
    if it.labels is not None:
        labels, certified, n_undecided, bound = it.labels, True, 0, 0.0
    elif certify:
        while proof is None:  # prove, re-solving tighter while that can help
            proof = _prove(An, graph, gamma_n, p, it, ev, label_tol, frame.scale if raw else 1.0,
                           0.0 if raw else frame.data_error, frame.raw_extended if raw else frame.extended,
                           refuted=refuted)
            if (proof.certified or proof.near_threshold or not it.converged or refined == REFINE_ROUNDS
                    or tol_run <= REFINE_FLOOR):
                break
            if fine is None and not raw and (p == 2 or d == 1):  # before the first re-solve
                fine = _prove_fine_groups(An, graph, gamma_n, it, label_tol, frame) or False
                if fine:
                    proof = fine
                    break
            refined += 1
            tol_run = max(tol_run * REFINE_FACTOR, REFINE_FLOOR)
            it = run(tol_run, it.X, it.Z, it.resume)  # continued where it stopped, penalty included
            ev = judge(it)
            n_iter, n_inner, history = n_iter + it.n_iter, n_inner + it.n_inner, history + list(it.history)
            proof = None
        labels, certified, n_undecided, bound = proof.labels, proof.certified, proof.n_undecided, proof.bound
    else:
        labels = labels_from_centers(it.X, graph, label_tol, label_rule, scale=frame.scale if raw else 1.0)
        certified, n_undecided, bound = False, -1, math.nan

    if proof is not None and proof.certified:
        it.X, it.Z = proof.centers, proof.dual
        it.U = problem.edge_diff(graph, it.X)
        it.U[labels[graph.edges[:, 0]] == labels[graph.edges[:, 1]]] = 0.0
        ev = judge(it)
    success = bool(it.exact or ((it.converged or certified) and ev["kkt_residual"] <= tol
                                and ev["duality_gap"] <= tol))
    message = _message(it, ev, tol, success, proof, refined, tol_run, merged=bool(fine))
    out = (lambda V: V) if raw else frame.duals_out
    return ClusteringResult(
        centers=it.X if raw else frame.points_out(it.X),
        labels=labels,
        n_clusters=int(labels.max()) + 1,
        gamma=gamma,
        method=spec.name,
        p=p,
        tol=tol,
        n_iter=n_iter,
        n_inner=n_inner,
        time=0.0,
        success=success,
        message=message,
        labels_certified=bool(certified),
        n_undecided=int(n_undecided),
        backward_error=bound if raw else frame.length_out(bound),
        dual=out(it.Z),
        splitting=out(it.U),
        history=history,
        **frame.evidence_out(ev),
    )


def _prove(An, graph, gamma_n, p, it, ev, label_tol, scale, data_error, extended, early=False, refuted=None):
    """:func:`certificate.prove` at an iterate; ``ev`` is on the unit-spread scale, ``An`` on ``scale``."""
    # The computed gap, plus its rounding: what bounds P(X) - P(X*) in exact arithmetic.
    size = 1 + abs(ev["primal_objective"]) + abs(ev["dual_objective"])
    gap = (ev["primal_objective"] - ev["dual_objective"] + size * (ev["gap_roundoff"] + 8 * np.finfo(float).eps))
    gap *= scale**2
    return certificate.prove(An, graph, gamma_n, p, it.X, it.Z, gap, label_tol * scale, data_error,
                             extended=extended, early=early, refuted=refuted)


def _prove_fine_groups(An, graph, gamma_n, it, label_tol, frame):
    """The proof of :func:`certificate.prove_coarsened` (full search) from the groups of centres
    closer than ``label_tol * FINE_CUT``, or None: where the edge lengths show no gap (a
    partition with clusters closer than the solve's accuracy), groups that fine usually lie
    inside the exact clusters, and merging them costs less than a tighter solve."""
    dist = problem.norms(problem.edge_diff(graph, it.X), 2)
    labels = components(graph, (graph.weights > 0) & (dist <= label_tol * FINE_CUT))
    proof, _ = certificate.prove_coarsened(An, graph, gamma_n, labels, it.Z, frame.data_error, quick=False,
                                           extended=frame.extended)
    return proof


def _prove_start(An, graph, gamma_n, p, x0, z0, label_tol, data_error):
    """``(proof, how)``: :func:`certificate.prove` of the partition the warm start ``x0`` shows,
    for these data (``how`` False); where that fails (p = 2 or one column), of the partition its
    groups merge into (:func:`certificate.prove_coarsened`: the next gamma of a path, a move that
    joins clusters), ``how`` then saying how in words; ``(None, False)`` when none is proven.
    Along a path (:data:`certificate.MERGING_PATH`) the merged partition comes first: there the
    partition changes at most gammas, and the cone program keeps the old groups where none merge.
    Elsewhere, where few points have their balance broken by the new data
    (:func:`certificate.unbalanced`, at most :data:`PRESPLIT_MAX` of them: a few moved rows),
    those points start single in the cone program."""
    z0 = np.zeros((graph.n_edges, An.shape[1])) if z0 is None else z0
    coarsens = p == 2 or An.shape[1] == 1
    path = certificate.MERGING_PATH.get()
    if coarsens and path:
        shown = labels_from_centers(x0, graph, label_tol, scale=1.0)
        proof, split = certificate.prove_coarsened(An, graph, gamma_n, shown, z0, data_error, as_is=True)
        if proof is not None:
            return proof, (False if same_partition(proof.labels, shown) else _merged(split, 0))
    proof = certificate.prove(An, graph, gamma_n, p, x0, z0, math.inf, label_tol, data_error, shown_only=True)
    if proof.certified:
        return proof, False
    if not coarsens or path:
        return None, False
    changed = certificate.unbalanced(An, graph, x0, z0, CHANGED_CUT)
    labels = certificate.split_off(graph, proof.labels, changed, PRESPLIT_MAX) if changed.any() else None
    proof, split = certificate.prove_coarsened(An, graph, gamma_n, proof.labels if labels is None else labels, z0,
                                               data_error)
    return (None, False) if proof is None else (proof, _merged(split, 0 if labels is None else changed.sum()))


def _merged(split, moved):
    """How a merged warm start was proven, in words (``moved``: points split off first)."""
    how = "the partition the warm start's groups merge into (their cone program)"
    if moved:
        how += f", the {moved} point(s) whose balance the new data break split off first"
    return how + (", once split around the edges their flows overloaded" if split else "")


def _message(it, ev, tol, success, proof, refined, tol_run, merged=False):
    """How the solve ended, in words that match ``success`` (``merged``: the partition came from
    the solver's finest groups merged by their cone program, :func:`_prove_fine_groups`)."""
    parts = [it.message]
    if refined:
        parts.append(f"re-solved {refined} time(s) to tol {tol_run:.0e} to settle the partition")
    if merged and proof is not None and proof.certified:
        parts.append("partition found by merging the groups of the closest centres (their cone program)")
    if proof is not None:
        if proof.certified:
            how = " in extended precision (double rounding left too little room)" if proof.extended else ""
            parts.append(f"partition proven{how}; centres polished to the exact fused solution "
                         f"(KKT residual {ev['kkt_residual']:.1e}, duality gap {ev['duality_gap']:.1e})")
        else:
            parts.append(f"partition not proven: {proof.n_undecided} pair(s) of neighbours undecided")
            if proof.near_threshold:
                parts.append("its certificate holds in floating point, with less room than its rounding "
                             "error needs (the problem is close to a fusion threshold): a tighter solve "
                             "cannot settle it")
    if not success and (it.converged or (proof is not None and proof.certified)):
        worst = max(ev["kkt_residual"], ev["duality_gap"])
        reason = (f"the KKT residual {ev['kkt_residual']:.2e} or duality gap {ev['duality_gap']:.2e} "
                  f"exceeds tol {tol:.0e}")
        if ev["gap_roundoff"] >= tol or worst < 1e3 * np.finfo(float).eps:
            reason += (f"; tol {tol:.0e} is below what double precision can certify for this problem "
                       f"(rounding of the gap up to {ev['gap_roundoff']:.1e})")
        parts.append(reason)
    return "; ".join(parts)


class _Frame:
    """The centred data scaled to unit RMS spread, and the maps of points, duals, lengths and
    evidence between it and the caller's units (docs/partitions.md, section 5).

    ``X*(A) = s X*((A - mean) / s; gamma / s) + mean``: ``Z`` and ``U`` scale by ``s``,
    objectives by ``s^2``; relative measures are those of the scaled problem.
    """

    def __init__(self, A, gamma):
        self.A, self.gamma_given = A, gamma
        self.mean, self.scale = A.mean(axis=0), problem.spread(A)
        self.data = (A - self.mean) / self.scale
        self.gamma = gamma / self.scale
        # The scaled data are exact for some translation and the scale s, up to two roundings
        # of each entry (a subtraction and a division): a bound on that data perturbation.
        self.data_error = 1.01 * np.finfo(float).eps * problem.fro(self.data)

    def extended(self):
        """``(data, gamma, data_error)`` in extended precision (``np.longdouble``), for proofs
        that double precision cannot settle: the same map, rounded to ``eps_ext``."""
        data = (self.A.astype(np.longdouble) - self.mean) / np.longdouble(self.scale)
        error = 1.01 * float(np.finfo(np.longdouble).eps) * problem.fro(data)
        return data, np.longdouble(self.gamma_given) / np.longdouble(self.scale), error

    def raw_extended(self):
        """The data as given, in extended precision (exact)."""
        return self.A.astype(np.longdouble), np.longdouble(self.gamma_given), 0.0

    def points_in(self, X):
        return None if X is None else (X - self.mean) / self.scale

    def points_out(self, X):
        return X * self.scale + self.mean

    def duals_in(self, Z):
        return None if Z is None else Z / self.scale

    def duals_out(self, Z):
        return Z * self.scale

    def length_out(self, v):
        return v * self.scale

    def evidence_out(self, ev):
        s2 = self.scale**2
        return dict(ev, primal_objective=ev["primal_objective"] * s2, dual_objective=ev["dual_objective"] * s2)


# Large sparse graphs are solved renumbered (Graph.local): once the arrays outgrow the
# cache, the node order decides how well products with the graph's matrices read memory.
LOCAL_MIN_NODES = 5000
LOCAL_MAX_MEAN_DEGREE = 100


def _renumbering(graph):
    """``graph.local`` for sparse graphs of at least :data:`LOCAL_MIN_NODES` nodes, else None."""
    if graph.n >= LOCAL_MIN_NODES and 2 * graph.n_edges <= LOCAL_MAX_MEAN_DEGREE * graph.n:
        return graph.local
    return None


def clusterpath(A, graph, gammas, method="auto", **kwargs) -> list[ClusteringResult]:
    """Solve along a grid of ``gammas``, each solve warm-started from the previous one.

    The grid is solved in the order given (increasing gammas are best: clusters mostly merge
    along the way).  Where the previous partition, or the one its groups merge into (their
    cone program, with the full flow search), is proven for the next gamma, that solve needs
    no iteration (docs/partitions.md, section 7).  Returns one result per gamma.
    """
    gammas = np.atleast_1d(np.asarray(gammas, dtype=float))
    if gammas.ndim != 1 or gammas.size == 0:
        raise ValueError("gammas must be a non-empty 1-D sequence of numbers >= 0.")
    if "x0" in kwargs or "z0" in kwargs:
        raise ValueError("clusterpath warm-starts itself; do not pass x0 or z0.")
    results = []
    x0 = z0 = None
    # Along a path the next gamma mostly merges clusters: the warm start's merged partition is
    # worth the full flow search (docs/partitions.md, section 7).
    token = certificate.MERGING_PATH.set(True)
    try:
        for g, g_next in zip(gammas, list(gammas[1:]) + [None]):
            res = solve(A, graph, g, method, x0=x0, z0=z0, **kwargs)
            results.append(res)
            # The dual scales with gamma (||Z_e|| <= gamma w_e): rescale it for the next gamma.
            x0 = res.centers
            z0 = res.dual * (g_next / g) if g_next is not None and g > 0 else None
    finally:
        certificate.MERGING_PATH.reset(token)
    return results
