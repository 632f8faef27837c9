"""Plain ADMM for convex clustering, p = 1 or 2: the cross-check and the benchmark baseline.

Splitting (docs/model.md, section 2, with ``r_e = gamma w_e``)::

    min_{X, U}  1/2 ||X - A||^2 + sum_e r_e ||U_e||_p   s.t.  B(X) = U

Augmented Lagrangian with multiplier ``Z`` (m, d) and penalty ``sigma > 0``::

    L(X, U; Z) = 1/2 ||X - A||^2 + sum_e r_e ||U_e||_p + <Z, B(X) - U> + sigma/2 ||B(X) - U||^2

One iteration minimises over ``X``, then over ``U``, then ascends in ``Z``
(Boyd et al. 2011, section 3; Chi & Lange 2015 for convex clustering)::

    X <- (I + sigma L)^{-1} (A + B*(sigma U - Z))       L = J J^T, the unweighted Laplacian
    U <- Prox_{(r / sigma) ||.||_p}(B(X) + Z / sigma)   group / plain soft-thresholding
    Z <- Z + sigma (B(X) - U)

computed in the scaled form ``Y = Z / sigma`` (:func:`run`).  ``I + sigma L`` is
factorised once (:mod:`.linear`) and again only when ``sigma`` changes.  After every
``Z``-update, ``Z_e`` lies in ``r_e`` times the subdifferential of ``||.||_p`` at
``U_e``, so dual feasibility and complementarity hold exactly; what remains is the primal residual
``B(X) - U`` and the stationarity residual ``X - A + B*(Z) = sigma B*(U_old - U)``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int, check_positive
from . import problem
from .core import Iterate, converged_message, meets_tol, register, stopped_message
from .linear import ShiftedLaplacian

DEFAULT_MAX_ITER = 20000
FACTOR_BALANCE_EVERY = 50  # fewest iterations between two changes of sigma while P is factorised


@register("admm", norms=(1, 2), summary="plain ADMM with residual balancing, p = 1 or 2 (cross-check, baseline)")
def run(
    A,
    graph,
    gamma,
    *,
    p,
    tol,
    max_iter,
    x0,
    z0,
    verbose,
    sigma=None,
    adapt_sigma=True,
    balance_every=50,
    check_every=10,
    max_jacobi=0,
    cg_tol=None,
    callback=None,
    stop_when=None,
):
    """Solve convex clustering by the alternating direction method of multipliers.

    Iteration (``B(X)_e = x_i - x_j``, ``B*(Z) = J Z``, ``L = J J^T``,
    ``r_e = gamma w_e``)::

        X <- (I + sigma L)^{-1} (A + sigma B*(U - Y))
        U <- Prox_{(r / sigma) ||.||_p}(B(X) + Y)
        Y <- Y + B(X) - U

    in the scaled form (Boyd et al. 2011, section 3.1.1) of the multiplier ``Z = sigma Y``,
    which saves passes over the edges.

    Stops when the SSNAL paper's relative KKT residual and the relative
    duality gap (:func:`problem.evidence`) are both at most ``tol``; they are evaluated every
    ``check_every`` iterations in which the primal infeasibility ``eta_P`` (part of the KKT
    residual, one pass over the edges) is at most ``tol``, and at the last iteration.

    Parameters
    ----------
    A : ndarray (n, d)
    graph : Graph
    gamma : float >= 0
    p : {1, 2}
    tol : float > 0
    max_iter : int or None
        Iteration limit, default 20000.
    x0 : ndarray (n, d) or None
        Warm start for the centres; it sets the first splitting variable
        ``U = B(x0)``.
    z0 : ndarray (m, d) or None
        Warm start for the multiplier ``Z`` (default 0).  When both ``x0`` and
        ``z0`` are given and already meet ``tol``, no iteration is run.
    verbose : bool
        Print the residuals at every check.
    sigma : float > 0, optional
        Initial penalty (default 1; the problem is scale-free in ``sigma``
        since ``Z`` has the units of ``X``).
    adapt_sigma : bool
        Residual balancing (Boyd et al. 2011, section 3.4.1): every
        ``balance_every`` iterations, multiply ``sigma`` by 2 when the relative
        primal residual exceeds 5 times the relative dual residual, divide it
        by 2 in the opposite case.
    balance_every : int
        Iterations between two balancing steps (default 50).  A factorised
        system is refactorised at each change of ``sigma``: while one is in
        use, the interval is at least :data:`FACTOR_BALANCE_EVERY`.
    check_every : int
        Iterations between two evaluations of the KKT residual.
    max_jacobi : int
        0 (default) solves with the sparse factor of ``I + sigma L``; a positive
        value first tries that many Jacobi-CG iterations warm-started at the
        last ``X`` and factorises only if they do not reach ``cg_tol``
        (:class:`~advcluster.solvers.linear.ShiftedLaplacian`): faster on
        kNN graphs of high-dimensional data, whose factor fills in.
    cg_tol : float, optional
        Relative residual of those CG solves; default ``min(1e-10, tol / 100)``: the errors of
        inexact ``X``-updates accumulate in the multiplier, so looser solves stall above ``tol``.
    callback : callable, optional
        Called with each ``history`` record as it is made (:func:`advcluster.solve` adds the
        method and the seconds since the solve began).
    stop_when : callable, optional
        ``stop_when(X, Z, ev)`` at each evaluation of the evidence short of ``tol``; True ends
        the run there (:func:`advcluster.solve` passes one that tries one proof of the partition).

    Returns
    -------
    Iterate
        ``history`` holds one dict per evaluation of the evidence: ``iteration``,
        ``sigma``, ``kkt_residual``, ``duality_gap``, ``primal_objective``.
    """
    sigma = 1.0 if sigma is None else check_positive(sigma, "sigma")
    check_every = check_int(check_every, "check_every")
    balance_every = check_int(balance_every, "balance_every")
    max_jacobi = check_int(max_jacobi, "max_jacobi", low=0)
    cg_tol = min(1e-10, 1e-2 * tol) if cg_tol is None else check_positive(cg_tol, "cg_tol")
    max_iter = DEFAULT_MAX_ITER if max_iter is None else max_iter
    n, d = A.shape
    m = graph.n_edges
    radius = gamma * graph.weights

    if m == 0 or not np.any(radius > 0):
        # Nothing couples the points: X = A, with the exact dual Z = 0.
        X = A.copy()
        return Iterate(
            X=X,
            U=problem.edge_diff(graph, X),
            Z=np.zeros((m, d)),
            n_iter=0,
            converged=True,
            message="no fusion penalty (gamma = 0, all weights 0 or no edges): X = A exactly",
            exact=True,
        )

    U = problem.edge_diff(graph, A if x0 is None else x0)
    Z = np.zeros((m, d)) if z0 is None else z0.copy()
    X = A.copy() if x0 is None else x0.copy()
    history = []

    def check(k):
        ev = problem.evidence(A, graph, gamma, X, U, sigma * Y, p)
        history.append(
            dict(
                iteration=k,
                sigma=sigma,
                kkt_residual=ev["kkt_residual"],
                duality_gap=ev["duality_gap"],
                primal_objective=ev["primal_objective"],
            )
        )
        if callback is not None:
            callback(history[-1])
        if verbose:
            print(
                f"admm {k:6d}  sigma {sigma:8.2e}  kkt {ev['kkt_residual']:.3e}  "
                f"(P {ev['primal_infeasibility']:.1e}, D {ev['dual_infeasibility']:.1e}, "
                f"S {ev['stationarity']:.1e})  primal {ev['primal_objective']:.12g}"
            )
        return ev

    Y = Z / sigma
    if x0 is not None and z0 is not None and meets_tol(check(0), tol):
        return Iterate(
            X=X, U=U, Z=Z, n_iter=0, converged=True, message="warm start already meets tol", history=history
        )

    system = ShiftedLaplacian(graph, max_jacobi).update(sigma)
    normA = problem.fro(A)
    ev = dict(kkt_residual=np.inf, duality_gap=np.inf)
    for k in range(1, max_iter + 1):
        X = system.solve(A + sigma * problem.edge_adjoint(graph, U - Y), X, cg_tol)
        BX = problem.edge_diff(graph, X)
        U_old = U
        Y += BX  # B(X) + Y, the point the prox is taken at
        U = problem.prox(Y, radius / sigma, p)
        Y -= U

        if k % check_every == 0 and k < max_iter:
            # eta_P, one pass over the edges, is part of the KKT residual: above tol, the full
            # evidence cannot meet tol and is not computed.
            eta_p = problem.fro(BX - U) / (1 + problem.fro(U))
            if eta_p > tol and verbose:
                print(f"admm {k:6d}  sigma {sigma:8.2e}  primal infeasibility {eta_p:.1e} > tol")
            due = eta_p <= tol
        else:
            due = k == max_iter
        if due:
            ev = check(k)
            if meets_tol(ev, tol):
                return Iterate(
                    X=X,
                    U=U,
                    Z=sigma * Y,
                    n_iter=k,
                    converged=True,
                    message=f"{converged_message(ev, tol)} after {k} iterations",
                    history=history,
                    resume=dict(sigma=sigma),
                )
            if stop_when is not None and stop_when(X, sigma * Y, ev):
                return Iterate(X=X, U=U, Z=sigma * Y, n_iter=k, converged=False, message=stopped_message(ev, tol, k),
                               history=history, resume=dict(sigma=sigma), stopped=True)
        if adapt_sigma and k % (max(balance_every, FACTOR_BALANCE_EVERY) if system.direct else balance_every) == 0:
            normU = problem.fro(U)
            r_primal = problem.fro(BX - U) / (1 + normU)
            r_dual = sigma * problem.fro(problem.edge_adjoint(graph, U - U_old)) / (1 + normA + normU)
            factor = 2.0 if r_primal > 5 * r_dual else 0.5 if r_dual > 5 * r_primal else 1.0
            if factor != 1.0:
                sigma *= factor
                Y /= factor  # the same Z = sigma Y
                system.update(sigma)

    return Iterate(
        X=X,
        U=U,
        Z=sigma * Y,
        n_iter=max_iter,
        converged=False,
        message=(
            f"stopped at max_iter = {max_iter} with KKT residual {ev['kkt_residual']:.2e} and duality gap "
            f"{ev['duality_gap']:.2e} (tol {tol:.0e}); "
            "raise max_iter, loosen tol, or use method='ssnal'"
        ),
        history=history,
    )
