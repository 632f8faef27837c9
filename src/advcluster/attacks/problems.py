"""The bilevel attack problems BL1 and BL2 (Zheng & Li 2025; docs/model.md, section 5).

With perturbed data ``A + E(theta)``, lower-level labels ``y(theta)`` and the deviation
``f(theta) = D(y(theta), y(0))``::

    (BL1)  max_theta f(theta)          s.t.  ||E(theta)|| <= budget
    (BL2)  min_theta ||E(theta)||      s.t.  f(theta) >= target

``f`` is piecewise constant in ``theta``. A problem evaluates ``f`` (one lower-level solve
per new ``theta``) and says which of two evaluations is better; optimizers search.
Similarity measures (``"nmi"``, ``"ari"``) enter as ``identical - value`` (``1 - NMI``,
``1 - ARI``) so that larger always means more damage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .._records import Record
from .._validation import WordedValueError, check_data, is_real
from ..deviation import MEASURES, Reference
from ..graph import first_appearance
from ..models import LowerLevel, Response
from ..perturbation import Injection, Perturbation

__all__ = ["BL1", "BL2", "Evaluation"]

# Evaluations are warm-started in blocks of this many points from the model's state at the
# start of the batch, so a batch gives the same answers serially and in parallel.
BLOCK = 16


@dataclass(frozen=True, eq=False)
class Evaluation(Record):
    """One upper-level evaluation ``theta -> f(theta)``.

    Attributes
    ----------
    theta : ndarray (n_params,)
    norm : float
        ``||E(theta)||``.
    value : float
        The deviation ``f(theta)`` (for similarities, ``identical - similarity``).
    n_changed : int
        The paper's ``N_c``: samples whose label changed (first-appearance numbering).
    n_clusters : int
        Distinct labels in the answer.
    feasible : bool
        BL1: ``norm <= budget``; BL2: ``value >= target``.
    solver_ok : bool
        The lower-level solve met its accuracy test.
    certified : bool
        The labels are the lower level's proven partition (:attr:`Response.certified`).
    labels : ndarray (n,)
    response : Response
        The lower level's whole answer (centres, message), where the evaluation solved it.
    """

    theta: np.ndarray
    norm: float
    value: float
    n_changed: int
    n_clusters: int
    feasible: bool
    solver_ok: bool
    labels: np.ndarray = field(repr=False)
    certified: bool = True
    response: Response | None = field(repr=False, default=None)

    @cached_property
    def order(self) -> np.ndarray | None:
        """For one-feature data with centres: the clusters sorted by centre value (exactly, where
        the lower level knows it), else None. Two clusters can only swap order by fusing, which
        the staircase uses to find excursions between grid points."""
        r = self.response
        if r is None:
            return None
        return r.order if r.order is not None else _cluster_order(self.labels, r.centers)

    def row(self) -> dict:
        """A flat dict for tables (theta entries as ``theta_0, theta_1, ...``)."""
        out = {f"theta_{j}": float(t) for j, t in enumerate(self.theta)}
        out.update(norm=self.norm, value=self.value, n_changed=self.n_changed, n_clusters=self.n_clusters,
                   feasible=self.feasible, solver_ok=self.solver_ok, certified=self.certified)
        return out


def _check_measure(deviation, model):
    name = model.default_deviation if deviation is None else deviation
    if not isinstance(name, str) or name not in MEASURES:
        raise ValueError(f"unknown deviation {deviation!r}; choose one of {sorted(MEASURES)}.")
    return name


class _Problem:
    kind = ""

    def __init__(self, model, A, perturbation, deviation):
        if not isinstance(model, LowerLevel):
            raise ValueError(
                f"model must be an advcluster lower-level model (ConvexClusteringModel, SklearnClusterer, "
                f"SklearnClassifier), got {type(model).__name__}."
            )
        if not isinstance(perturbation, Perturbation):
            raise ValueError(
                f"perturbation must be an advcluster Perturbation (Additive, Pointwise, Multiplicative, "
                f"FeatureShift, Injection), got {type(perturbation).__name__}."
            )
        why = model.why_not_injection() if isinstance(perturbation, Injection) else ""
        if why:
            raise ValueError(f"{type(model).__name__} cannot take injected points: {why}.")
        self.A = check_data(A)
        self.model = model
        self.measure = _check_measure(deviation, model)
        self._measure = MEASURES[self.measure]
        self.perturbation = perturbation.bind(self.A)
        self.reference = model.reference(self.A)
        self._ref = Reference(self.reference.labels)

    @property
    def n_params(self) -> int:
        return self.perturbation.n_params

    @property
    def largest_value(self) -> float:
        """The largest deviation ``f`` there can be on these samples (the evaluation set for a
        classifier), in the problem's units (``identical - similarity`` for similarities)."""
        m = self._measure
        n = len(self.reference.labels)
        return float(m.bounds(n)[1] if m.is_deviation else m.identical - m.bounds(n)[0])

    def compare(self, labels) -> tuple[float, int, int]:
        """``(f, N_c, clusters)`` for lower-level labels: ``f`` the deviation from the clean labels
        (larger = more damage), ``N_c`` the changed labels, and the number of clusters."""
        m = self._measure
        v, n_changed, k = self._ref.compare(labels, self.measure)
        return (float(v) if m.is_deviation else float(m.identical - v)), n_changed, k

    def evaluate(self, theta) -> Evaluation:
        """``f(theta)`` with its norm and feasibility (one lower-level solve unless cached)."""
        theta = self.perturbation.check_theta(theta)
        response = self.model.respond(self.perturbation.apply(self.A, theta))
        return self._evaluation(theta, response)

    def evaluate_many(self, thetas, n_jobs=None) -> list[Evaluation]:
        """Evaluate many points; the same answers serially and in parallel (``n_jobs``, joblib),
        by :meth:`LowerLevel.respond_many` in blocks of :data:`BLOCK`."""
        thetas = [self.perturbation.check_theta(t) for t in thetas]
        responses = self.model.respond_many([self.perturbation.apply(self.A, t) for t in thetas], n_jobs, BLOCK)
        return [self._evaluation(theta, response) for theta, response in zip(thetas, responses)]

    def _evaluation(self, theta, response):
        labels = response.labels
        if len(labels) > len(self.reference.labels):  # the clean points' labels (Injection appends others)
            labels = first_appearance(labels[:len(self.reference.labels)])
        norm = self.perturbation.norm(theta)
        value, n_changed, k = self.compare(labels)
        return Evaluation(
            theta=theta, norm=norm, value=value, n_changed=n_changed, n_clusters=k,
            feasible=self.is_feasible(norm, value), solver_ok=bool(response.success), labels=labels,
            certified=bool(response.certified), response=response,
        )

    def search_box(self):
        """The smallest box on ``theta`` holding the searched set ``||E|| <= norm_limit`` within the bounds."""
        return self.perturbation.box(None if math.isinf(self.norm_limit) else self.norm_limit)

    def bounded_box(self, who):
        """:meth:`search_box`, or a ``ValueError`` saying how to bound it when it is unbounded."""
        lo, hi = self.search_box()
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            limit = "a budget" if self.kind == "BL1" else "max_norm"
            raise WordedValueError(
                f"{who} needs a bounded search range, but it is unbounded (norm {self.perturbation.ord!r} "
                f"with {limit} gives no box); give $bounds" + ("" if self.kind == "BL1" else " or $max_norm") + ".",
                bounds="the perturbation bounds=(low, high)", max_norm="the problem max_norm")
        return lo, hi

    def project(self, theta):
        """A point of the searched set near ``theta`` (:meth:`Perturbation.project`)."""
        return self.perturbation.project(theta, self.norm_limit)

    def better(self, a: Evaluation, b: Evaluation | None) -> bool:
        """True when ``a`` is a better answer than ``b`` (None: anything is better)."""
        return b is None or self._score(a) > self._score(b)

    def describe(self) -> str:
        return (f"{self.kind}: {self.model.describe()}; {self.perturbation.describe()}; "
                f"deviation {self.measure!r}; {self._constraint()}")


class BL1(_Problem):
    """Most damage within a budget: ``max f(theta)`` s.t. ``||E(theta)|| <= budget``.

    Parameters
    ----------
    model : LowerLevel
        The lower level (:mod:`advcluster.models`).
    A : array (n, d)
        Clean data.
    perturbation : Perturbation
        How ``theta`` becomes ``E`` (:mod:`advcluster.perturbation`); its ``ord`` is the norm.
    budget : float >= 0
    deviation : str, optional
        A key of :data:`advcluster.MEASURES`; default: the model's (``"delta"`` for
        clusterers, ``"prediction_changes"`` for classifiers).

    Ties in ``f`` go to the smaller norm.
    """

    kind = "BL1"

    def __init__(self, model, A, perturbation, budget, deviation=None):
        if not is_real(budget) or not math.isfinite(budget) or budget < 0:
            raise ValueError(f"budget must be a finite number >= 0, got {budget!r}.")
        self.budget = float(budget)
        super().__init__(model, A, perturbation, deviation)

    def is_feasible(self, norm, value):
        """Whether a perturbation of this norm and deviation meets the problem's constraint."""
        return norm <= self.budget * (1 + 1e-12)

    def _score(self, e):
        return (e.feasible, e.value, -e.norm)

    @property
    def norm_limit(self) -> float:
        """The largest ``||E||`` searched: the budget."""
        return self.budget

    def _constraint(self):
        return f"budget ||E||_{self.perturbation.ord} <= {self.budget:g}"


class BL2(_Problem):
    """Least perturbation for a given damage: ``min ||E(theta)||`` s.t. ``f(theta) >= target``.

    Parameters
    ----------
    model, A, perturbation, deviation
        As for :class:`BL1`.
    target : float > 0
        The deviation ``kappa`` to reach (in the measure's units; ``1 - NMI`` for ``"nmi"``).
    max_norm : float, optional
        Search only ``||E|| <= max_norm``; needed unless the perturbation has finite bounds.

    Ties in norm go to the larger ``f``.
    """

    kind = "BL2"

    def __init__(self, model, A, perturbation, target, deviation=None, max_norm=None):
        if not is_real(target) or not math.isfinite(target) or target <= 0:
            raise ValueError(f"target must be a finite number > 0 (the deviation to reach), got {target!r}.")
        if max_norm is not None and (not is_real(max_norm) or not math.isfinite(max_norm) or max_norm <= 0):
            raise ValueError(f"max_norm must be a finite number > 0, got {max_norm!r}.")
        self.target = float(target)
        self.max_norm = None if max_norm is None else float(max_norm)
        super().__init__(model, A, perturbation, deviation)
        high = self.largest_value
        n = len(self.reference.labels)
        if self.target > high:
            raise ValueError(
                f"target {self.target:g} exceeds the largest possible {self.measure!r} deviation ({high:g}) "
                f"for {n} samples; choose target <= {high:g}."
            )

    def is_feasible(self, norm, value):
        """Whether a perturbation of this norm and deviation meets the problem's constraint."""
        return value >= self.target

    def _score(self, e):
        return (e.feasible, -e.norm, e.value)

    @property
    def norm_limit(self) -> float:
        """The largest ``||E||`` searched: ``max_norm`` (inf when None)."""
        return math.inf if self.max_norm is None else self.max_norm

    def _constraint(self):
        limit = "" if self.max_norm is None else f", searching ||E|| <= {self.max_norm:g}"
        return f"target {self.measure} >= {self.target:g}{limit}"


def _cluster_order(labels, centers):
    """Cluster labels sorted by centre value, for one-feature centres (else None)."""
    if centers is None or centers.shape[1] != 1:
        return None
    k = int(labels.max()) + 1
    value = np.empty(k)
    value[labels] = centers[:, 0]
    return np.argsort(value, kind="stable")
