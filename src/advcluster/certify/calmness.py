"""The empirical calmness modulus ``||X*(A + E) - X*(A)||_F / ||E||_F`` along given directions."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_data, check_gamma
from ..graph import same_partition
from ..solvers import solve
from ._inputs import build, check_like, resolve_weights


def calmness(A, weights, gamma, directions, radii, method="auto", **solve_options) -> list[dict]:
    r"""Empirical calmness modulus ``||X*(A + E) - X*(A)||_F / ||E||_F``.

    For each direction ``D`` and radius ``r``, ``E = r D / ||D||_F`` and the problem is
    solved on ``A + E`` (weights fixed, or recomputed on ``A + E`` by a builder).

    With fixed weights ``X*(A) = prox_{gamma P}(A)`` and proximal maps are firmly
    nonexpansive, so the modulus is at most exactly 1 for every ``E``
    (``||X*(A) - X*(A')||_F <= ||A - A'||_F``), up to the solver's accuracy.  With
    recomputed weights no such bound holds.

    Parameters
    ----------
    A : array (n_samples, n_features)
    weights : Graph or callable A -> Graph
    gamma : float >= 0
    directions : array (n_samples, n_features) or (n_directions, n_samples, n_features)
        Nonzero directions.
    radii : float or 1-D array of floats > 0
        Frobenius norms of the perturbations.
    method : str
        Passed to :func:`advcluster.solvers.solve`, with ``solve_options`` (e.g. ``tol``).

    Returns
    -------
    list of dict
        One row per (direction, radius): ``direction`` (index), ``radius``, ``ratio``,
        ``bound`` (1.0 for fixed weights, ``nan`` for recomputed), ``labels_changed``
        (the partition differs from the clean one), ``success`` (both solves met their
        tolerance).
    """
    A = check_data(A)
    gamma = check_gamma(gamma)
    graph, builder = resolve_weights(weights, A)
    try:
        Ds = np.asarray(directions, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"directions must be arrays of the shape of A, {A.shape} ({exc}).") from None
    if Ds.shape == A.shape:
        Ds = Ds[None]
    if Ds.ndim != 3 or Ds.shape[1:] != A.shape or Ds.shape[0] == 0:
        raise ValueError(
            f"directions must have shape {A.shape} or (n_directions, {A.shape[0]}, {A.shape[1]}), got {Ds.shape}."
        )
    for k, Dk in enumerate(Ds):
        check_like(Dk, A.shape, f"directions[{k}]", "one direction row per sample")
    nrm = np.sqrt(np.einsum("kij,kij->k", Ds, Ds))
    if np.any(nrm == 0):
        raise ValueError(f"direction {int(np.flatnonzero(nrm == 0)[0])} is zero; give nonzero directions.")
    radii = np.atleast_1d(np.asarray(radii, dtype=float))
    if radii.ndim != 1 or radii.size == 0 or not np.all(np.isfinite(radii)) or np.any(radii <= 0):
        raise ValueError(f"radii must be a non-empty 1-D sequence of finite numbers > 0, got {radii!r}.")
    clean = solve(A, graph, gamma, method, **solve_options)
    rows = []
    for k, Dk in enumerate(Ds):
        for r in radii:
            E = (r / nrm[k]) * Dk
            Ap = A + E
            g = graph if builder is None else build(builder, Ap)
            res = solve(Ap, g, gamma, method, **solve_options)
            diff = res.centers - clean.centers
            rows.append(dict(
                direction=k,
                radius=float(r),
                ratio=float(np.sqrt(np.sum(diff * diff)) / np.sqrt(np.sum(E * E))),
                bound=1.0 if builder is None else math.nan,
                labels_changed=not same_partition(res.labels, clean.labels),
                success=bool(res.success and clean.success),
            ))
    return rows
