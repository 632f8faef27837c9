"""The paper's direct method: evaluate ``f`` on a grid of parameters and keep the best."""

from __future__ import annotations

import numpy as np

from .._validation import is_integer
from .core import Outcome, register

DEFAULT_NUM = {1: 321, 2: 41}


def grid_points(problem, num=None, points=None) -> np.ndarray:
    """The grid as an array (k, n_params): ``points`` as given, or ``num`` per axis over the search box."""
    p = problem.n_params
    if points is not None:
        pts = np.asarray(points, dtype=float)
        if pts.ndim <= 1 and p == 1:
            pts = pts.reshape(-1, 1)
        if pts.ndim != 2 or pts.shape[1] != p or pts.shape[0] == 0 or not np.all(np.isfinite(pts)):
            raise ValueError(f"points must be a finite non-empty array of shape (k, {p}), got shape {pts.shape}.")
        return pts
    num = DEFAULT_NUM.get(p, 0) if num is None else num
    if not is_integer(num) or num < 2:
        raise ValueError(f"num must be an integer >= 2 (grid points per parameter), got {num!r}.")
    lo, hi = problem.bounded_box("the grid (without points=)")
    axes = [np.linspace(a, b, int(num)) for a, b in zip(lo, hi)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, p)


@register("grid", dims="1-2", summary="the paper's direct method: a 1-D or 2-D grid, keep the best")
def run(search, *, num=None, points=None):
    """Evaluate every grid point and keep the best.

    Options
    -------
    num : int
        Points per parameter over the search box (default 321 in 1-D, 41 per axis in 2-D).
    points : array (k, n_params), optional
        Explicit grid (any dimension).

    BL1 grid points outside the budget are skipped (they are infeasible).
    """
    problem = search.problem
    pts = grid_points(problem, num, points)
    skipped = 0
    if problem.kind == "BL1":
        inside = np.array([problem.perturbation.norm(t) <= problem.budget * (1 + 1e-12) for t in pts])
        skipped = int((~inside).sum())
        pts = pts[inside]
    if len(pts) == 0:
        raise ValueError("no grid point is within the budget; widen the grid or raise the budget.")
    search.evaluate_many(pts)
    note = f" ({skipped} outside the budget skipped)" if skipped else ""
    return Outcome(f"evaluated a grid of {len(pts)} points{note}")
