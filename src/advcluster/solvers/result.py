"""The one result object every solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._records import Record


@dataclass
class ClusteringResult(Record):
    """Solution of convex clustering with its optimality evidence.

    Attributes
    ----------
    centers : ndarray (n, d)
        The solution ``X*``; row ``i`` is the centre of point ``i``.
    labels : ndarray (n,)
        Clusters read off the centres (see :mod:`advcluster.solvers.labels`).
    n_clusters : int
    dual : ndarray (m, d)
        The dual variable ``Z`` (one row per edge); a warm start for the next solve.
    splitting : ndarray (m, d)
        The splitting variable ``U ~ B(X)`` with exact zeros on fused edges.
    primal_objective, dual_objective, duality_gap : float
        Objectives of (P) and (D) in the data's units, and the relative gap
        ``|P - D| / (1 + |P| + |D|)`` of the problem centred and scaled to unit spread.
    gap_roundoff : float
        Rounding error of the computed gap (relative); it matters only for huge gamma.
    kkt_residual : float
        ``max(eta_P, eta_D, eta)``, the SSNAL paper's relative KKT residual of the problem
        centred and scaled to unit spread (docs/partitions.md, section 5); the three parts are
        ``primal_infeasibility``, ``dual_infeasibility``, ``stationarity``.
    n_iter : int
        Outer iterations (augmented Lagrangian steps for ssnal, iterations for admm).
    n_inner : int
        Inner iterations (semismooth Newton steps for ssnal; 0 otherwise).
    time : float
        Wall-clock seconds spent in the solver.
    success : bool
        True exactly when the returned point's ``kkt_residual`` and ``duality_gap`` are both at
        most ``tol`` (exact1d: exact by construction); the message says why not otherwise.
    message : str
        How the solve ended, in words.
    labels_certified : bool
        The labels are the exact partition, proven (:mod:`advcluster.solvers.certificate`);
        the centres are then the exact fused solution, up to ``backward_error``.
    n_undecided : int
        Pairs of neighbours (edges of positive weight) whose fusion is not proven: 0 when
        certified, -1 when no proof was attempted (``certify=False``).
    backward_error : float
        When certified: the centres and dual satisfy the optimality conditions exactly for
        data within this distance (Frobenius) of ``A``; nan otherwise.
    history : list of dict
        One entry per evaluation of the KKT residual (admm) or per outer iteration (ssnal:
        also ``sigma``, the ``admm`` iterations of its first phase, and the ``newton`` and
        ``cg`` counts so far).
    """

    centers: np.ndarray
    labels: np.ndarray
    n_clusters: int
    gamma: float
    method: str
    p: int
    tol: float
    primal_objective: float
    dual_objective: float
    duality_gap: float
    gap_roundoff: float
    kkt_residual: float
    primal_infeasibility: float
    dual_infeasibility: float
    stationarity: float
    n_iter: int
    n_inner: int
    time: float
    success: bool
    message: str
    labels_certified: bool
    n_undecided: int
    backward_error: float
    dual: np.ndarray = field(repr=False)
    splitting: np.ndarray = field(repr=False)
    history: list = field(default_factory=list, repr=False)

    def __repr__(self):
        return (
            f"ClusteringResult(method={self.method!r}, gamma={self.gamma:g}, n_clusters={self.n_clusters}, "
            f"success={self.success}, kkt_residual={self.kkt_residual:.2e}, "
            f"primal_objective={self.primal_objective:.10g}, n_iter={self.n_iter}, "
            f"n_inner={self.n_inner}, time={self.time:.3g}s, message={self.message!r})"
        )

    def partition_line(self) -> str:
        """One line on what is proven about the labels."""
        if self.labels_certified:
            return f"partition: proven exact (backward error {self.backward_error:.1e})"
        if self.n_undecided < 0:
            return "partition: not proven (certify=False); labels read off the centres"
        return (f"partition: NOT proven, {self.n_undecided} pair(s) of neighbours undecided; "
                "labels read off the centres")

    def summary(self) -> str:
        """A few lines for people: clusters found and how accurate the solve was."""
        sizes = np.bincount(self.labels)
        shown = ", ".join(str(s) for s in sizes[:12]) + (", ..." if len(sizes) > 12 else "")
        return "\n".join(
            [
                f"method {self.method}, gamma = {self.gamma:g}, p = {self.p}",
                f"clusters: {self.n_clusters} (sizes {shown})",
                f"primal objective {self.primal_objective:.10g}, dual objective {self.dual_objective:.10g}, "
                f"relative gap {self.duality_gap:.2e}",
                f"KKT residual {self.kkt_residual:.2e} (tol {self.tol:.0e}): primal {self.primal_infeasibility:.1e}, "
                f"dual {self.dual_infeasibility:.1e}, stationarity {self.stationarity:.1e}",
                f"iterations {self.n_iter} outer, {self.n_inner} inner; {self.time:.3f} s",
                self.partition_line(),
                self.message if self.success else f"NOT CONVERGED: {self.message}",
            ]
        )
