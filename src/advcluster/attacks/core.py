"""The front door :func:`attack`, the optimizer registry, one search's bookkeeping and its result.

An optimizer is a function ``run(search, **options) -> Outcome`` registered with
:func:`register`. It calls ``search.evaluate(theta)`` / ``search.evaluate_many(thetas)``,
which record every evaluation, count them against ``max_evals``, call the user's
``callback`` and draw the progress bar; the best evaluation by the problem's own order is
the answer. Optimizers never decide what "best" means.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._records import Record
from .._validation import WordedValueError, check_int
from ..perturbation import Injection
from .problems import BL1, BL2, Evaluation

__all__ = ["OPTIMIZERS", "AttackResult", "EndNested", "Outcome", "Search", "StopSearch", "attack", "choose_optimizer",
           "register"]


@dataclass(frozen=True)
class Optimizer:
    name: str
    run: Callable
    problems: tuple
    dims: str  # "1", "1-2" or "any"
    summary: str
    threats: str = "any"  # "moves" (perturbations of the given points), "injection" (added points) or "any"


OPTIMIZERS: dict[str, Optimizer] = {}
"""Registered optimizers by name."""


def register(name, problems=("BL1", "BL2"), dims="any", summary="", threats="any"):
    """Decorator adding an optimizer ``run(search, **options) -> Outcome`` to :data:`OPTIMIZERS`
    (``threats``: see :class:`Optimizer`)."""

    def deco(run):
        OPTIMIZERS[name] = Optimizer(name, run, tuple(problems), dims, summary, threats)
        return run

    return deco


@dataclass
class Outcome:
    """How an optimizer ended: its message, and anything extra it wants to return."""

    message: str
    complete: bool = True
    extra: dict = field(default_factory=dict)


class StopSearch(Exception):
    """Raised inside a search when ``max_evals`` is reached or the callback asks to stop."""


class EndNested(StopSearch):
    """Ends a nested search (its own ``max_evals`` spent, or its goal met); the outer one goes on."""


class _Progress:
    """A tqdm bar on stderr (evaluations, the best value so far), shown after ``delay`` seconds;
    ``enabled=None``: only where stderr is a terminal, so piped output stays clean."""

    def __init__(self, label, enabled, total=None, delay=1.0):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=label, unit="eval", file=sys.stderr, delay=delay, leave=False,
                        disable=None if enabled is None else not enabled, dynamic_ncols=True)

    def update(self, count, best):
        self.bar.update(count - self.bar.n)
        self.bar.set_postfix_str(f"best {best}", refresh=False)

    def close(self):
        self.bar.close()


class Search:
    """One optimizer run on one problem: evaluations, limits, callback, progress.

    A search made by :meth:`nested` runs an inner problem through its outer search: every
    evaluation is recorded and counted by the outer one too (and meets its callback and
    limit), while the nested search judges feasibility and ``best`` by its own problem, has
    its own ``max_evals`` and ends (:class:`EndNested`) when that is spent or ``goal(best)``
    holds.
    """

    def __init__(self, problem, optimizer="", random_state=None, callback=None, max_evals=None,
                 progress=None, n_jobs=None, *, parent=None, goal=None):
        self.problem = problem
        self.parent, self.goal = parent, goal
        self.rng = parent.rng if parent is not None else np.random.default_rng(random_state)
        self.callback = callback
        self.max_evals = None if max_evals is None else check_int(max_evals, "max_evals")
        self.n_jobs = parent.n_jobs if parent is not None else n_jobs
        self.history: list[Evaluation] = []
        self.best: Evaluation | None = None
        self._stop = StopSearch if parent is None else EndNested
        self._progress = None if parent is not None else _Progress(f"{problem.kind} {optimizer}", progress, max_evals)

    def nested(self, problem, max_evals=None, goal=None) -> "Search":
        """A search of ``problem`` whose evaluations go through this one (see the class)."""
        return Search(problem, max_evals=max_evals, parent=self, goal=goal)

    @property
    def n_evals(self) -> int:
        return len(self.history)

    def remaining(self):
        """Evaluations left before ``max_evals``, this search's or an outer one's (None: unlimited)."""
        own = self._own_left()
        outer = None if self.parent is None else self.parent.remaining()
        if own is None:
            return outer
        return own if outer is None else min(own, outer)

    def evaluate(self, theta) -> Evaluation:
        """``f(theta)``, recorded."""
        left = self._own_left()
        if left is not None and left < 1:
            raise self._stop(f"stopped at max_evals={self.max_evals}")
        e = self._record(self.parent.evaluate(theta) if self.parent is not None else self.problem.evaluate(theta))
        self._check_goal()
        return e

    def evaluate_many(self, thetas) -> list[Evaluation]:
        """Several points at once (in parallel with ``n_jobs``), recorded in order."""
        thetas = list(thetas)
        left = self._own_left()
        cut = left is not None and len(thetas) > left
        if cut:
            thetas = thetas[:max(left, 0)]
        if not thetas:
            out = []
        elif self.parent is not None:
            out = self.parent.evaluate_many(thetas)
        else:
            out = self.problem.evaluate_many(thetas, self.n_jobs)
        out = [self._record(e) for e in out]
        self._check_goal()
        if cut:
            raise self._stop(f"stopped at max_evals={self.max_evals}")
        return out

    def _own_left(self):
        return None if self.max_evals is None else self.max_evals - len(self.history)

    def _record(self, e):
        if self.parent is not None:  # judged by this search's own problem
            e = dataclasses.replace(e, feasible=self.problem.is_feasible(e.norm, e.value))
        self.history.append(e)
        if self.problem.better(e, self.best):
            self.best = e
        if self._progress is not None:
            self._progress.update(len(self.history), f"{self.best.value:g} at norm {self.best.norm:.4g}")
        if self.callback is not None and self.callback(e):
            raise StopSearch("stopped by the callback")
        return e

    def _check_goal(self):
        if self.goal is not None and self.best is not None and self.goal(self.best):
            raise EndNested("goal reached")

    def close(self):
        if self._progress is not None:
            self._progress.close()


@dataclass
class AttackResult(Record):
    """The answer of :func:`attack`.

    Attributes
    ----------
    problem : str
        ``"BL1"`` or ``"BL2"``.
    optimizer : str
    theta : ndarray (n_params,)
        The best parameter found (``theta*``).
    E : ndarray (n, d)
        Its perturbation ``E(theta*)``.
    norm : float
        ``||E(theta*)||``.
    deviation : float
        ``f(theta*)`` in the problem's measure (``measure``).
    measure : str
    n_changed : int
        ``N_c``, samples whose label changed.
    n_clusters : int
    labels : ndarray (n,)
        Lower-level labels at ``theta*``.
    feasible : bool
        BL1: within the budget; BL2: the target is reached.
    n_evals : int
        Upper-level evaluations.
    n_solves : int
        Lower-level solves (cache hits are not solves).
    n_failed_solves : int
        Evaluations whose lower-level solve did not meet its accuracy test.
    n_uncertified : int
        Evaluations whose labels are not proven to be the lower level's exact partition
        (:attr:`advcluster.ClusteringResult.labels_certified`).
    time : float
        Wall-clock seconds.
    success : bool
        The optimizer ended normally with a feasible answer whose labels are proven.
    message : str
    history : list of Evaluation
        Every evaluation, in order.
    extra : dict
        Optimizer-specific results (``"plateaus"`` for ``staircase``, ...).
    """

    problem: str
    optimizer: str
    theta: np.ndarray
    E: np.ndarray = field(repr=False)
    norm: float
    deviation: float
    measure: str
    n_changed: int
    n_clusters: int
    labels: np.ndarray = field(repr=False)
    feasible: bool
    n_evals: int
    n_solves: int
    n_failed_solves: int
    n_uncertified: int
    time: float
    success: bool
    message: str
    history: list = field(repr=False, default_factory=list)
    extra: dict = field(repr=False, default_factory=dict)

    def history_table(self) -> dict:
        """Every evaluation as columns of equal length (theta_j, norm, value, n_changed, ...)."""
        rows = [e.row() for e in self.history]
        return {k: np.array([r[k] for r in rows]) for k in rows[0]} if rows else {}

    def summary(self) -> str:
        """A few lines for people."""
        theta = np.array2string(self.theta, precision=6, threshold=8)
        return "\n".join([
            f"{self.problem} by {self.optimizer}: {'success' if self.success else 'FAILED'} ({self.message})",
            f"  theta* = {theta}, ||E|| = {self.norm:.6g}, feasible = {self.feasible}",
            f"  {self.measure} = {self.deviation:g}, N_c = {self.n_changed}, clusters = {self.n_clusters}",
            f"  {self.n_evals} evaluations, {self.n_solves} lower-level solves"
            + (f" ({self.n_failed_solves} not converged)" if self.n_failed_solves else "")
            + (f", {self.n_uncertified} with unproven labels" if self.n_uncertified else "")
            + f", {self.time:.3g} s",
        ])


def check_optimizer(problem, name, options):
    """The registered optimizer for ``name``, after checking it suits the problem and the options."""
    if not isinstance(problem, (BL1, BL2)):
        raise ValueError(f"problem must be a BL1 or BL2 instance, got {type(problem).__name__}.")
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}.")
    opt = OPTIMIZERS[name]
    if problem.kind not in opt.problems:
        raise ValueError(f"optimizer {name!r} does not solve {problem.kind}; it solves {', '.join(opt.problems)}.")
    injected = isinstance(problem.perturbation, Injection)
    if opt.threats == "injection" and not injected:
        raise ValueError(f"optimizer {name!r} places injected points: it needs an Injection perturbation, "
                         f"got {type(problem.perturbation).__name__}.")
    if opt.threats == "moves" and injected:
        raise ValueError(f"optimizer {name!r} moves the given points and does not place injected ones; "
                         "use 'capture-bridge', 'biggio-bridge', 'random' or 'cma' with Injection.")
    p = problem.n_params
    if opt.dims == "1" and p != 1:
        raise ValueError(f"optimizer {name!r} needs a one-parameter perturbation, this one has {p}; "
                         "use 'cobyqa', 'cma', 'random' or 'surrogate-gradient'.")
    if opt.dims == "1-2" and p > 2 and options.get("points") is None:
        raise WordedValueError(f"optimizer {name!r} covers 1 or 2 parameters, this perturbation has {p}; "
                               "pass $points, or use 'cobyqa', 'cma', 'random' or 'surrogate-gradient'.",
                               points="explicit points=")
    accepted = [k for k, v in inspect.signature(opt.run).parameters.items() if v.kind is v.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for optimizer {name!r}; it accepts {accepted}.")
    return opt


def choose_optimizer(problem) -> tuple[str, str]:
    """``(optimizer, why)``: what ``optimizer="auto"`` attacks with.

    * an :class:`~advcluster.perturbation.Injection`: ``capture-bridge`` for BL1 (far groups of
      points that take clusters, then points on the shortest links between clusters), ``random``
      for BL2;
    * one parameter: ``staircase``, exact in 1-D;
    * one parameter per entry (:class:`Pointwise`, :class:`Multiplicative`): ``merge-split``,
      the structure-aware attack (merges and splits from the clean clustering, then a local
      search);
    * otherwise: ``random``.

    Evaluations the choice leaves of ``max_evals`` go to
    :func:`~advcluster.attacks.local.local_search` around its answer (not after the exact
    staircase).
    """
    if isinstance(problem.perturbation, Injection):
        if problem.kind == "BL1":
            return "capture-bridge", "injected points, BL1: far groups that capture clusters, then bridges between clusters"
        return "random", "injected points, BL2"
    if problem.n_params == 1:
        return "staircase", "one parameter: exact in 1-D"
    if problem.perturbation.entrywise:
        return "merge-split", "one parameter per entry: merge and split moves, then a local search"
    return "random", "parameters shared by several entries"


def attack(problem, optimizer="auto", *, random_state=None, callback=None, max_evals=None,
           progress=None, n_jobs=None, **options) -> AttackResult:
    """Solve a bilevel attack problem with a registered optimizer.

    Parameters
    ----------
    problem : BL1 or BL2
    optimizer : str, default "auto"
        A key of :data:`OPTIMIZERS`, or ``"auto"``: the one :func:`choose_optimizer` picks for
        the problem (the result's ``optimizer`` and message say which).
    random_state : int, Generator or None
        Seed for optimizers that sample (start points, CMA-ES, random search).
    callback : callable, optional
        ``callback(evaluation)`` after every evaluation; returning True stops the search.
    max_evals : int, optional
        Upper-level evaluation limit (optimizer-specific default).
    progress : bool or None
        A progress bar (tqdm) on stderr for runs longer than a second; None: only on a terminal.
    n_jobs : int, optional
        Parallel lower-level solves (joblib) where the optimizer evaluates batches
        (grid, staircase, random); the answers do not depend on it.
    **options
        The optimizer's own options (see its docstring).

    Returns
    -------
    AttackResult
    """
    chosen = None
    if optimizer == "auto" and isinstance(problem, (BL1, BL2)):
        optimizer, chosen = choose_optimizer(problem)
    try:
        opt = check_optimizer(problem, optimizer, options)
    except ValueError as exc:
        if chosen is None:
            raise
        raise type(exc)(f"optimizer 'auto' chose {optimizer!r} ({chosen}): {exc}") from None
    search = Search(problem, optimizer, random_state, callback, max_evals, progress, n_jobs)
    solves0 = problem.model.n_solves
    t0 = time.perf_counter()
    try:
        outcome = opt.run(search, **options)
        if chosen is not None and optimizer != "staircase" and search.remaining():
            from .local import local_search

            local_search(search)  # auto spends what its choice left of max_evals
            outcome.message += "; the evaluations left spent on a local search"
    except StopSearch as stop:
        outcome = Outcome(str(stop), complete=False)
    finally:
        search.close()
    elapsed = time.perf_counter() - t0
    best = search.best
    if best is None:
        raise ValueError(f"optimizer {optimizer!r} stopped before evaluating any point ({outcome.message}).")
    success = bool(outcome.complete and best.feasible and best.certified)
    message = outcome.message if chosen is None else f"optimizer 'auto' chose {optimizer} ({chosen}); {outcome.message}"
    if not best.feasible:
        message += "; " + _infeasible_note(problem, search)
    failed = sum(not e.solver_ok for e in search.history)
    if failed:
        message += f"; {failed} lower-level solve(s) did not converge"
    uncertified = sum(not e.certified for e in search.history)
    if uncertified:
        message += (f"; {uncertified} evaluation(s) with unproven labels"
                    + ("" if best.certified else ", the answer's among them"))
    return AttackResult(
        problem=problem.kind, optimizer=optimizer, theta=best.theta,
        E=problem.perturbation.matrix(best.theta), norm=best.norm, deviation=best.value,
        measure=problem.measure, n_changed=best.n_changed, n_clusters=best.n_clusters, labels=best.labels,
        feasible=best.feasible, n_evals=search.n_evals, n_solves=problem.model.n_solves - solves0,
        n_failed_solves=failed, n_uncertified=uncertified, time=elapsed, success=success, message=message,
        history=search.history, extra=outcome.extra,
    )


def _infeasible_note(problem, search):
    if problem.kind == "BL2":
        top = max(search.history, key=lambda e: e.value)
        return (f"target {problem.target:g} not reached in the search range: the largest {problem.measure} "
                f"found is {top.value:g} (at ||E|| = {top.norm:.4g}); widen the range (max_norm or bounds) "
                "or lower the target")
    return f"no evaluated point is within the budget {problem.budget:g}"
