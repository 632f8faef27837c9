"""Local and black-box optimizers for any number of parameters, and BL2 by bisection on the budget.

* ``trust-constr``: scipy's trust-region interior point method with forward-difference
  gradients, the stand-in for MATLAB ``fmincon`` in the paper. ``f`` is piecewise constant,
  so its finite-difference gradient is zero almost everywhere and the method stops where it
  starts, or near it: it reproduces the paper's finding, it is not a good attack.
* Derivative-free BL1 searches: ``cobyqa``, ``cobyla``, ``nelder-mead``, ``powell``
  (:func:`scipy.optimize.minimize`), ``cma`` (CMA-ES, the optional ``cma`` package) and
  ``random`` (uniform samples). They work in the search box rescaled to ``[0, 1]^p`` and
  minimize ``-f(project(theta))``: every evaluated point is feasible.
* ``bisection``: BL2 as a sequence of BL1 problems, bisecting the budget.

Every point goes through ``search.evaluate`` / ``search.evaluate_many`` (recorded, counted,
``max_evals`` and the callback honoured). Each distinct point is evaluated once per run.
Without ``max_evals`` the searches spend at most :data:`DEFAULT_EVALS` evaluations; with it,
what is left of it. Spending that budget ends a search normally (it is the search's budget).
"""

from __future__ import annotations

import copy
import math
import re
import warnings

import numpy as np
import scipy

from .._validation import check_int, is_real
from ..perturbation import Injection
from .core import EndNested, Outcome, check_optimizer, register
from .problems import BL1

_HAS_COBYQA = tuple(int(x) for x in re.findall(r"\d+", scipy.__version__)[:2]) >= (1, 14)

DEFAULT_EVALS = 200
"""Evaluations a search may spend when ``max_evals`` is not given."""

FLAT_GENERATIONS = 10
"""CMA-ES generations with a flat population (all ``f`` equal) tolerated before it stops."""


# ---------------------------------------------------------------------------- shared helpers
class _BudgetSpent(Exception):
    """The optimizer's evaluation budget is spent (ends the search normally)."""


class _Objective:
    """``theta -> Evaluation`` through the search: each distinct ``theta`` once, within ``limit``."""

    def __init__(self, search, limit):
        self.search, self.limit = search, limit
        self.used = 0
        self._seen = {}

    def __call__(self, theta):
        theta = np.array(theta, dtype=float).reshape(-1)  # a copy: scipy reuses its buffers
        key = theta.tobytes()
        e = self._seen.get(key)
        if e is None:
            if self.used >= self.limit:
                raise _BudgetSpent
            e = self.search.evaluate(theta)
            self.used += 1
            self._seen[key] = e
        return e


def _budget(search, default=DEFAULT_EVALS) -> int:
    """Evaluations this run may spend: what is left of ``max_evals``, else ``default``."""
    left = search.remaining()
    return default if left is None else max(int(left), 0)


def _start(search, x0, lo, hi, name):
    """The start point: ``x0`` checked and projected onto the feasible set, or a random one."""
    problem = search.problem
    p = problem.n_params
    if x0 is None:
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            problem.bounded_box(f"optimizer {name!r} without x0")  # raises with the explanation
        return problem.project(search.rng.uniform(lo, hi))
    try:
        t = np.asarray(x0, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"x0 must be {p} number(s), got {x0!r}.") from None
    if t.size != p:
        raise ValueError(f"x0 needs {p} value(s) for this perturbation (n_params = {p}), got {t.size}.")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"x0 must be finite, got {x0!r}.")
    return problem.project(t)


def _check_fraction(value, name, high=1.0):
    if not is_real(value) or not np.isfinite(value) or not 0 < value <= high:
        raise ValueError(f"{name} must be a number in (0, {high:g}], got {value!r}.")
    return float(value)


def _check_maxiter(maxiter):
    return None if maxiter is None else check_int(maxiter, "maxiter")


class _Unit:
    """The search box as ``[0, 1]^p``: ``theta = lo + u (hi - lo)``."""

    def __init__(self, lo, hi):
        self.lo, self.width = lo, hi - lo

    def theta(self, u):
        return self.lo + np.clip(u, 0.0, 1.0) * self.width

    def u(self, theta):
        w = np.where(self.width > 0, self.width, 1.0)
        return np.clip(np.where(self.width > 0, (theta - self.lo) / w, 0.5), 0.0, 1.0)


# ---------------------------------------------------------------------------- trust-constr
@register("trust-constr", summary="scipy trust-constr with forward differences: the paper's fmincon stand-in")
def run_trust_constr(search, *, x0=None, maxiter=100, finite_diff_rel_step=None):
    """``scipy.optimize.minimize(method="trust-constr")`` with forward-difference gradients.

    BL1: minimize ``-f(theta)`` s.t. ``||E(theta)|| <= budget`` (a nonlinear constraint) and
    the perturbation's bounds. BL2: minimize ``||E(theta)||`` s.t. ``f(theta) >= target``
    (a nonlinear constraint with forward-difference Jacobian). Hessians are BFGS updates.

    This is the stand-in for MATLAB ``fmincon`` (interior point, forward differences) used
    in the paper. ``f`` is piecewise constant, so its finite-difference gradient is zero
    almost everywhere: the method typically stops at (or near) its start point. Use it to
    reproduce that finding; to attack, use ``staircase``, ``grid``, ``cma`` or ``random``.

    Options
    -------
    x0 : array (n_params,), optional
        Start point, projected onto the search range (BL1: the budget; BL2: ``max_norm``);
        default a uniform random point of the search box (``random_state``), projected.
    maxiter : int, default 100
        Iterations of trust-constr.
    finite_diff_rel_step : float, optional
        Relative step of the forward differences (scipy's default ``sqrt(eps)``). Whatever
        the step, the difference is zero unless it happens to cross a breakpoint of ``f``.

    Evaluations are those trust-constr asks for, at most ``max_evals`` (else
    :data:`DEFAULT_EVALS`); points outside the perturbation's bounds are clipped to them.
    """
    maxiter = _check_maxiter(maxiter)
    if finite_diff_rel_step is not None:
        step = np.asarray(finite_diff_rel_step, dtype=float)
        if not (np.all(np.isfinite(step)) and np.all(step > 0)):
            raise ValueError(f"finite_diff_rel_step must be positive, got {finite_diff_rel_step!r}.")
    from scipy.optimize import BFGS, Bounds, NonlinearConstraint, minimize  # here: slow to import

    problem = search.problem
    lo, hi = problem.search_box()
    t0 = _start(search, x0, lo, hi, "trust-constr")
    blo, bhi = problem.perturbation.box(None)  # the perturbation's own bounds
    limit = _budget(search)
    obj = _Objective(search, limit)
    norm = problem.perturbation.norm

    def clip(t):
        return np.clip(t, blo, bhi)

    if problem.kind == "BL1":
        fun = lambda t: -obj(clip(t)).value  # noqa: E731
        cons = NonlinearConstraint(lambda t: norm(clip(t)), -np.inf, problem.budget, jac="2-point", hess=BFGS())
    else:
        fun = lambda t: norm(clip(t))  # noqa: E731
        cons = NonlinearConstraint(lambda t: obj(clip(t)).value, problem.target, np.inf, jac="2-point", hess=BFGS())
    finite = np.isfinite(blo) | np.isfinite(bhi)
    bounds = Bounds(blo, bhi) if np.any(finite) else None
    options = dict(maxiter=maxiter, finite_diff_rel_step=finite_diff_rel_step)
    try:
        with warnings.catch_warnings():
            # Zero finite-difference gradients (the usual case here) make BFGS skip its updates.
            warnings.filterwarnings("ignore", message="delta_grad == 0.0")
            res = minimize(fun, t0, method="trust-constr", jac="2-point", hess=BFGS(), bounds=bounds,
                           constraints=[cons], options=options)
    except _BudgetSpent:
        return Outcome(f"trust-constr: evaluation budget of {limit} spent", extra=dict(x0=t0))
    return Outcome(f"trust-constr: {res.message} ({res.nit} iterations)",
                   extra=dict(x0=t0, nit=int(res.nit), status=int(res.status), x=np.asarray(res.x)))


# ---------------------------------------------------------------------------- scipy derivative-free
def _scipy_dfo(search, name, method, x0, maxiter, step, xtol):
    maxiter = _check_maxiter(maxiter)
    step = _check_fraction(step, "step")
    xtol = _check_fraction(xtol, "xtol")
    problem = search.problem
    lo, hi = problem.bounded_box(f"optimizer {name!r}")
    unit = _Unit(lo, hi)
    t0 = _start(search, x0, lo, hi, name)
    u0 = unit.u(t0)
    p = u0.size
    limit = _budget(search)
    obj = _Objective(search, limit)

    def fun(u):
        return -obj(problem.project(unit.theta(u))).value

    from scipy.optimize import Bounds, minimize  # here: slow to import

    bounds = Bounds(np.zeros(p), np.ones(p))
    if method == "COBYLA":
        options = dict(rhobeg=step, tol=min(xtol, step), maxiter=limit)
    elif method == "COBYQA":
        options = dict(initial_tr_radius=step, final_tr_radius=min(xtol, step), maxfev=limit, maxiter=maxiter)
    elif method == "Nelder-Mead":
        simplex = np.tile(u0, (p + 1, 1))
        for j in range(p):
            simplex[j + 1, j] += step if u0[j] + step <= 1 else -step
        options = dict(initial_simplex=simplex, xatol=xtol, maxfev=limit, maxiter=maxiter)
    else:  # Powell
        options = dict(direc=step * np.eye(p), xtol=xtol, maxfev=limit, maxiter=maxiter)
    options = {k: v for k, v in options.items() if v is not None}
    try:
        res = minimize(fun, u0, method=method, bounds=bounds, options=options)
    except _BudgetSpent:
        return Outcome(f"{name}: evaluation budget of {limit} spent", extra=dict(x0=t0))
    message = res.message if isinstance(res.message, str) else str(res.message)
    return Outcome(f"{name}: {message}", extra=dict(x0=t0, nfev=int(res.nfev), status=int(res.status)))


_DFO_DOC = """Options
    -------
    x0 : array (n_params,), optional
        Start point, projected onto the budget; default a uniform random point of the search
        box (``random_state``), projected.
    maxiter : int, optional
        The method's iteration limit (evaluations are limited by ``max_evals``, default
        :data:`DEFAULT_EVALS`).
    step : float in (0, 1], default 0.25
        Initial step as a fraction of the search box's width ({step}).
    xtol : float in (0, 1], default 1e-4
        Final step / tolerance on the parameters, as a fraction of the box's width ({xtol}).

    Works on the search box rescaled to ``[0, 1]^p`` (bounds given to the method) and
    minimizes ``-f(project(theta))``: every evaluated point is within the budget.
    """


@register("cobyqa", problems=("BL1",), summary="scipy COBYQA (derivative-free trust region) in the search box")
def run_cobyqa(search, *, x0=None, maxiter=None, step=0.25, xtol=1e-4):
    if not _HAS_COBYQA:
        raise ValueError("optimizer 'cobyqa' needs scipy >= 1.14; upgrade scipy or use 'cobyla'.")
    return _scipy_dfo(search, "cobyqa", "COBYQA", x0, maxiter, step, xtol)


@register("cobyla", problems=("BL1",), summary="scipy COBYLA (linear approximations) in the search box")
def run_cobyla(search, *, x0=None, step=0.25, xtol=1e-4):
    return _scipy_dfo(search, "cobyla", "COBYLA", x0, None, step, xtol)


@register("nelder-mead", problems=("BL1",), summary="scipy Nelder-Mead simplex in the search box")
def run_nelder_mead(search, *, x0=None, maxiter=None, step=0.25, xtol=1e-4):
    return _scipy_dfo(search, "nelder-mead", "Nelder-Mead", x0, maxiter, step, xtol)


@register("powell", problems=("BL1",), summary="scipy Powell (line searches along directions) in the search box")
def run_powell(search, *, x0=None, maxiter=None, step=0.25, xtol=1e-4):
    return _scipy_dfo(search, "powell", "Powell", x0, maxiter, step, xtol)


run_cobyqa.__doc__ = "COBYQA (scipy), a derivative-free trust-region method, on BL1.\n\n    " + _DFO_DOC.format(
    step="the initial trust-region radius", xtol="the final radius")
run_cobyla.__doc__ = "COBYLA (scipy) on BL1; its evaluation limit is ``max_evals``.\n\n    " + _DFO_DOC.replace(
    "    maxiter : int, optional\n        The method's iteration limit (evaluations are limited by ``max_evals``, default\n"
    "        :data:`DEFAULT_EVALS`).\n", "").format(step="``rhobeg``", xtol="``tol``, the final ``rho``")
run_nelder_mead.__doc__ = "Nelder-Mead (scipy) on BL1.\n\n    " + _DFO_DOC.format(
    step="the initial simplex's edges", xtol="``xatol``")
run_powell.__doc__ = "Powell's method (scipy) on BL1.\n\n    " + _DFO_DOC.format(
    step="the initial directions' lengths", xtol="``xtol`` of the line searches")


# ---------------------------------------------------------------------------- CMA-ES
@register("cma", problems=("BL1",), summary="CMA-ES (the cma package) in the search box; batches run in parallel")
def run_cma(search, *, x0=None, sigma0=0.3, popsize=None, maxiter=None):
    """CMA-ES (``pip install cma``) on BL1, in the search box rescaled to ``[0, 1]^p``.

    Options
    -------
    x0 : array (n_params,), optional
        Initial mean, projected onto the budget; default a uniform random point of the
        search box (``random_state``), projected.
    sigma0 : float in (0, 1], default 0.3
        Initial step size as a fraction of the box's width.
    popsize : int, optional
        Population size (cma's default ``4 + 3 log p``).
    maxiter : int, optional
        Generations.

    Each generation is evaluated as one batch (in parallel with ``n_jobs``); the fitness is
    ``-f(project(theta))``, so every evaluated point is within the budget. The seed comes
    from ``random_state``. Ends on cma's own stopping criteria (reported; the tolerances on
    ``f`` are off and :data:`FLAT_GENERATIONS` flat generations are tolerated, since ``f`` is
    piecewise constant) or when the evaluations (``max_evals``, default
    :data:`DEFAULT_EVALS`) are spent. With one parameter a dummy second coordinate is
    added (cma does not run in one dimension).
    """
    try:
        import cma
    except ImportError:
        raise ValueError("optimizer 'cma' needs the cma package: pip install cma") from None
    sigma0 = _check_fraction(sigma0, "sigma0")
    maxiter = _check_maxiter(maxiter)
    if popsize is not None:
        popsize = check_int(popsize, "popsize", low=2)
    problem = search.problem
    lo, hi = problem.bounded_box("optimizer 'cma'")
    unit = _Unit(lo, hi)
    t0 = _start(search, x0, lo, hi, "cma")
    # cma does not run in one dimension (it fails on its own step-size limits there): a
    # second coordinate that changes nothing is added and dropped.
    u0 = unit.u(t0)
    p = t0.size
    q = max(p, 2)
    if q > p:
        u0 = np.append(u0, 0.5)
    limit = _budget(search)
    opts = dict(bounds=[[0.0] * q, [1.0] * q], seed=int(search.rng.integers(1, 2**31 - 1)), maxfevals=limit,
                verbose=-9, verb_log=0, verb_disp=0,
                # f is piecewise constant: equal values are the rule, not convergence.
                tolfun=0, tolfunhist=0, tolflatfitness=FLAT_GENERATIONS)
    if popsize is not None:
        opts["popsize"] = popsize
    if maxiter is not None:
        opts["maxiter"] = maxiter
    # cma seeds numpy's global generator (np.random.seed) and samples from it: put the
    # caller's global state back afterwards.
    saved = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cma warns about small dimensions and flat fitness
            es = cma.CMAEvolutionStrategy(list(u0), sigma0, opts)
            used, message = 0, None
            while not es.stop():
                U = es.ask()
                thetas = [problem.project(unit.theta(np.asarray(u)[:p])) for u in U]
                room = limit - used
                if room < len(U):
                    if room > 0:
                        search.evaluate_many(thetas[:room])
                    message = f"cma: evaluation budget of {limit} spent"
                    break
                evs = search.evaluate_many(thetas)
                used += len(evs)
                es.tell(U, [-e.value for e in evs])
    finally:
        np.random.set_state(saved)
    if message is None:
        message = "cma: " + ", ".join(f"{k}={v:g}" if is_real(v) else f"{k}={v}" for k, v in es.stop().items())
    return Outcome(message, extra=dict(x0=t0, generations=int(es.countiter)))


# ---------------------------------------------------------------------------- random search
@register("random", summary="uniform random points of the search box, projected onto the budget")
def run_random(search, *, n_samples=None, batch=64):
    """Random search: uniform points of the search box, projected onto the budget, keep the best.

    Options
    -------
    n_samples : int, optional
        Points to evaluate (default: what is left of ``max_evals``, else
        :data:`DEFAULT_EVALS`).
    batch : int, default 64
        Points per batch (batches run in parallel with ``n_jobs``).

    BL1: projected onto ``||E|| <= budget``; BL2: onto ``||E|| <= max_norm`` (the answer is
    the smallest-norm sample reaching the target). In high dimension with the Frobenius
    norm most projected points lie on the budget's sphere.
    """
    batch = check_int(batch, "batch")
    total = _budget(search) if n_samples is None else check_int(n_samples, "n_samples")
    left = search.remaining()
    if left is not None:
        total = min(total, left)
    problem = search.problem
    lo, hi = problem.bounded_box("optimizer 'random'")
    done = 0
    while done < total:
        k = min(batch, total - done)
        pts = search.rng.uniform(lo, hi, size=(k, lo.size))
        search.evaluate_many([problem.project(t) for t in pts])
        done += k
    return Outcome(f"evaluated {done} random points")


# ---------------------------------------------------------------------------- local search
def local_search(search, step=0.1):
    """A (1+1) evolution strategy around the search's best answer, until ``max_evals`` is spent.

    Each trial changes the best point by one of three moves, drawn with equal chance: a
    Gaussian step of ``step`` times the search box's width in every parameter (``step`` halved
    after 5 failures in a row, doubled after a success, within ``[1e-6, 1]``); a few
    parameters (on average 3) drawn afresh, uniformly in the box; or a few parameters sent to
    an end of the box or to 0 (the corners where l_inf budgets bind); for BL2 also, with the
    same chance, the whole point scaled down by up to ``step``.  Each is projected onto
    the searched set; a trial is kept when the problem ranks it better.  With nothing evaluated
    yet it starts from a random point of the box.  Without ``max_evals`` nothing runs (no
    budget to spend).
    """
    problem = search.problem
    lo, hi = problem.search_box()
    finite = np.isfinite(lo) & np.isfinite(hi)
    width = np.where(finite, hi - lo, 0.0)
    if search.remaining() is None or not np.any(width > 0):
        return
    rng, p, fails = search.rng, width.size, 0
    if search.best is None:  # nothing evaluated yet: start from a random point of the box
        search.evaluate(problem.project(rng.uniform(np.where(finite, lo, 0.0), np.where(finite, hi, 0.0))))
    while search.remaining() > 0:
        best = search.best
        trial = best.theta.copy()
        move = rng.integers(4 if problem.kind == "BL2" else 3)
        if move == 0:
            trial += step * width * rng.normal(size=p)
        elif move == 3:  # BL2: a smaller perturbation that may still reach the target
            trial *= 1.0 - step * rng.uniform()
        else:
            pick = np.flatnonzero(finite & (rng.uniform(size=p) < min(1.0, 3.0 / p)))
            if move == 1:
                trial[pick] = rng.uniform(lo[pick], hi[pick])
            else:
                trial[pick] = np.choose(rng.integers(3, size=pick.size), [lo[pick], hi[pick], np.zeros(pick.size)])
        search.evaluate(problem.project(trial))
        if search.best is not best:
            step, fails = min(2 * step, 1.0), 0
        else:
            fails += 1
            if fails >= 5:
                step, fails = max(step / 2, 1e-6), 0


# ---------------------------------------------------------------------------- BL2 by bisection
def _largest_norm(problem):
    """BL2's ``max_norm``, capped by the norm of the perturbation box's farthest corner."""
    lo, hi = problem.perturbation.box(None)
    corner = np.where(np.abs(lo) > np.abs(hi), lo, hi)
    top = problem.perturbation.norm(corner) if np.all(np.isfinite(corner)) else math.inf
    top = min(top, problem.norm_limit)
    if not math.isfinite(top):
        raise ValueError("bisection needs a finite range of norms: give the BL2 problem max_norm, "
                         "or the perturbation bounds=(low, high).")
    return top


@register("bisection", problems=("BL2",),
          summary="BL2 by bisection on the budget, an inner BL1 optimizer at each step")
def run_bisection(search, *, inner=None, inner_options=None, inner_evals=None, rtol=1e-3):
    """BL2 as BL1 problems: the smallest budget ``eta`` whose BL1 answer reaches the target.

    ``F(eta) = max { f(theta) : ||E(theta)|| <= eta }`` is non-decreasing in ``eta``, and
    BL2's answer is the smallest ``eta`` with ``F(eta) >= target``. Bisect ``eta`` on
    ``[0, eta_max]`` (``eta_max``: BL2's ``max_norm``, capped by the norm of the farthest
    corner of the perturbation's bounds), solving each BL1 with the ``inner`` optimizer;
    an inner run stops as soon as it reaches the target. The upper end of the bracket is
    the smallest norm found so far that reaches the target; the answer is the best
    evaluation by BL2's order (every inner evaluation is recorded in this search).

    This is a heuristic unless the inner BL1 is solved exactly: an inner search that misses
    a reaching point at some ``eta`` sends the bisection above the true answer. With one
    parameter and an exact inner search (``staircase``, or ``grid`` fine enough), the inner
    answers are ``F`` itself, monotone in ``eta``, and bisection is exact to ``rtol``.

    Options
    -------
    inner : str, optional
        A registered BL1 optimizer; default ``"staircase"`` for one parameter, ``"random"`` for
        an :class:`~advcluster.perturbation.Injection`, else ``"cma"``.
    inner_options : dict, optional
        Options for the inner optimizer.
    inner_evals : int, optional
        Evaluations per inner run; default: with ``max_evals``, an equal share of it over
        the expected number of steps, else the inner optimizer's own default.
    rtol : float, default 1e-3
        Stop when the bracket ``[lo, hi]`` on ``eta`` has ``hi - lo <= rtol * hi``.

    Returns ``extra["trace"]`` (list of ``(eta, best deviation)`` of each inner run, in
    order; a run that reaches the target stops there, so its value is the first reaching
    one), ``extra["bracket"]`` (the final ``(lo, hi)``) and ``extra["inner"]``.
    """
    if not (is_real(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}.")
    if inner_options is None:
        inner_options = {}
    if not isinstance(inner_options, dict):
        raise ValueError(f"inner_options must be a dict of the inner optimizer's options, got {inner_options!r}.")
    problem = search.problem
    if inner is None:
        injected = isinstance(problem.perturbation, Injection)
        inner = "random" if injected else "staircase" if problem.n_params == 1 else "cma"
    eta_max = _largest_norm(problem)
    base = BL1(problem.model, problem.A, problem.perturbation, eta_max, problem.measure)
    opt = check_optimizer(base, inner, inner_options)
    steps = math.ceil(math.log2(1 / rtol)) + 2
    if inner_evals is not None:
        inner_evals = check_int(inner_evals, "inner_evals")
    elif search.remaining() is not None:
        inner_evals = max(search.remaining() // steps, 1)
    trace = []

    def reaches(eta):
        sub = copy.copy(base)
        sub.budget = float(eta)
        inner_search = search.nested(sub, inner_evals, goal=lambda best: best.feasible and best.value >= problem.target)
        try:
            opt.run(inner_search, **inner_options)
        except EndNested:
            pass
        best = inner_search.best
        trace.append((eta, None if best is None else best.value))
        return best is not None and best.feasible and best.value >= problem.target

    if not reaches(eta_max):
        return Outcome(f"bisection: the target was not reached by the inner {inner!r} search at the largest "
                       f"budget eta = {eta_max:.6g}",
                       extra=dict(trace=trace, bracket=(eta_max, math.inf), inner=inner))
    missed = [0.0]  # budgets whose inner search did not reach the target (0: the clean data)
    lo, hi = 0.0, search.best.norm
    for _ in range(200):
        if hi - lo <= rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        if reaches(mid):
            hi = search.best.norm
        else:
            missed.append(mid)
        # An inner search that missed at some eta is contradicted by a reaching point found
        # later below eta: only the misses below hi bound the answer from below.
        lo = max(m for m in missed if m < hi) if hi > 0 else 0.0
    return Outcome(f"bisection: target reached at ||E|| = {hi:.6g}, not within {lo:.6g} by the inner "
                   f"{inner!r} search ({len(trace)} inner runs)",
                   extra=dict(trace=trace, bracket=(lo, hi), inner=inner))
