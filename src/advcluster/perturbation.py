"""How a parameter vector ``theta`` becomes a perturbation ``E`` of the data (docs/model.md, section 5).

Every perturbation here is linear in ``theta``: ``E(theta) = sum_j theta_j C_j`` with fixed
matrices ``C_j`` of the data's shape on disjoint sets of entries (one ``C`` for
:class:`Additive`). The attacker's data is ``A + E(theta)``; ``theta = 0`` is the clean data.

A perturbation is a specification (rows, features, norm, bounds) until :meth:`bind` attaches
it to a data matrix, which checks the rows and features against the data's shape. The BL1 and
BL2 problems bind it for you.

Norms of ``E`` (``ord``): ``"fro"`` (Frobenius, the default), ``"inf"`` (largest absolute
entry), ``"l1"`` (sum of absolute entries), ``"l0"`` (number of non-zero entries), ``"point"``
(the largest Euclidean norm of a row: a budget ``eps`` lets every point move by at most ``eps``,
the threat model of :func:`advcluster.certified_radius`).

:class:`Injection` is the one perturbation that is not added to the data: it appends new
points (poisoning), ``theta`` holding their coordinates.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from ._validation import check_data, is_real

__all__ = ["NORMS", "matrix_norm", "Perturbation", "Additive", "Pointwise", "Multiplicative", "FeatureShift",
           "Injection"]

NORMS = ("fro", "inf", "l1", "l0", "point")


def matrix_norm(E, ord="fro") -> float:
    """``||E||``: ``"fro"`` sqrt(sum E^2), ``"inf"`` max |E|, ``"l1"`` sum |E|, ``"l0"`` #nonzero,
    ``"point"`` max_i ||E_i||_2 (rows)."""
    E = np.asarray(E, dtype=float)
    if ord == "point":
        return float(np.sqrt(np.einsum("ij,ij->i", E, E).max(initial=0.0))) if E.ndim == 2 else float(np.linalg.norm(E))
    if ord == "fro":
        return float(np.sqrt(np.einsum("ij,ij->", E, E)))
    if ord == "inf":
        return float(np.abs(E).max(initial=0.0))
    if ord == "l1":
        return float(np.abs(E).sum())
    if ord == "l0":
        return float(np.count_nonzero(E))
    raise ValueError(f"unknown norm {ord!r}; choose one of {NORMS}.")


def _check_ord(ord):
    if not isinstance(ord, str) or ord not in NORMS:
        raise ValueError(f"unknown norm ord={ord!r}; choose one of {NORMS}.")
    return ord


def _positions(values, size, what, axis_name):
    """0-based positions along an axis of length ``size`` from ints, a boolean mask or None (all)."""
    if values is None:
        return np.arange(size)
    arr = np.atleast_1d(np.asarray(values))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D list of 0-based {axis_name} or a boolean mask, got {values!r}.")
    if arr.dtype == bool:
        if arr.size != size:
            raise ValueError(f"{what} as a boolean mask needs length {size} (the number of {axis_name}), got {arr.size}.")
        arr = np.flatnonzero(arr)
        if arr.size == 0:
            raise ValueError(f"{what} selects no {axis_name}; the mask is all False.")
        return arr
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{what} must hold integer 0-based {axis_name}, got {values!r}.")
    bad = arr[(arr < 0) | (arr >= size)]
    if bad.size:
        raise ValueError(
            f"{what} has {axis_name[:-1]} {int(bad[0])} out of range: the data has {size} {axis_name} "
            f"(valid 0..{size - 1})."
        )
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{what} repeats a {axis_name[:-1]}; list each one once.")
    return arr.astype(np.int64)


class Perturbation:
    """Base class: ``E(theta) = (M theta).reshape(n, d)`` for a sparse ``M`` built by :meth:`_operator`.

    Parameters
    ----------
    ord : {"fro", "inf", "l1", "l0"}, default "fro"
        The norm of ``E`` that budgets (BL1) and objectives (BL2) measure.
    bounds : (low, high), optional
        Box on each parameter (scalars or arrays of length ``n_params``); it must contain 0,
        the clean data. Default: unbounded.
    """

    def __init__(self, ord="fro", bounds=None):
        self.ord = _check_ord(ord)
        self.bounds = bounds
        self._M = None
        self.shape = None

    # -------------------------------------------------------------- binding
    def bind(self, A) -> "Perturbation":
        """A copy attached to data ``A``: rows and features checked, operator built."""
        A = check_data(A)
        bound = copy.copy(self)
        bound._M = sp.csc_array(self._operator(A))
        bound.shape = A.shape
        bound._lo, bound._hi = self._check_bounds(bound._M.shape[1])
        bound._unit = _column_norms(bound._M, self.ord, A.shape[1])
        if np.any(bound._unit == 0):
            j = int(np.flatnonzero(bound._unit == 0)[0])
            raise ValueError(
                f"parameter {j} of {type(self).__name__} changes nothing (its entries are zero); "
                "choose rows and features where it has an effect."
            )
        return bound

    def _require_bound(self):
        if self.shape is None:
            raise ValueError(f"{type(self).__name__} is not bound to data; call perturbation.bind(A) first.")

    def _check_bounds(self, p):
        if self.bounds is None:
            return np.full(p, -np.inf), np.full(p, np.inf)
        try:
            lo, hi = self.bounds
            lo = np.broadcast_to(np.asarray(lo, dtype=float), (p,)).copy()
            hi = np.broadcast_to(np.asarray(hi, dtype=float), (p,)).copy()
        except (TypeError, ValueError):
            raise ValueError(
                f"bounds must be (low, high) with scalars or arrays of length {p}, got {self.bounds!r}."
            ) from None
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > 0) or np.any(hi < 0):
            raise ValueError(f"bounds must satisfy low <= 0 <= high (theta = 0 is the clean data), got {self.bounds!r}.")
        return lo, hi

    @property
    def n_params(self) -> int:
        self._require_bound()
        return self._M.shape[1]

    @property
    def entrywise(self) -> bool:
        """Whether every parameter acts on one entry of ``E`` alone (:class:`Pointwise`,
        :class:`Multiplicative`), so that any ``E`` on the selected entries is some ``theta``."""
        self._require_bound()
        return bool(np.all(np.diff(self._M.indptr) == 1))

    @property
    def operator(self) -> sp.csc_array:
        """The sparse matrix ``C`` with ``vec(E(theta)) = C theta`` (row-major ``vec``), shape (n d, n_params)."""
        self._require_bound()
        return self._M

    # -------------------------------------------------------------- the map and its norm
    def check_theta(self, theta) -> np.ndarray:
        """``theta`` as a float vector of length ``n_params`` (a scalar when there is one parameter)."""
        self._require_bound()
        if (isinstance(theta, np.ndarray) and theta.dtype == np.float64 and theta.shape == (self.n_params,)
                and np.isfinite(theta).all()):
            return theta
        if is_real(theta):
            theta = [theta]
        try:
            t = np.asarray(theta, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"theta must be numbers, got {theta!r}.") from None
        if t.size != self.n_params:
            raise ValueError(f"theta needs {self.n_params} value(s) for this perturbation, got {t.size}.")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"theta must be finite, got {theta!r}.")
        return t

    def matrix(self, theta) -> np.ndarray:
        """``E(theta)``, of the data's shape."""
        t = self.check_theta(theta)
        return (self._M @ t).reshape(self.shape)

    def apply(self, A, theta) -> np.ndarray:
        """The data the model sees: ``A + E(theta)`` (its first ``len(A)`` rows are the clean
        points, perturbed; :class:`Injection` appends more)."""
        return A + self.matrix(theta)

    def norm(self, theta) -> float:
        """``||E(theta)||`` in the perturbation's norm ``ord``."""
        t = self.check_theta(theta)
        if self.ord == "l0":
            return float(np.sum(self._unit[t != 0]))
        if self.ord == "inf":
            return float(np.max(np.abs(t) * self._unit))
        if self.ord == "l1":
            return float(np.sum(np.abs(t) * self._unit))
        if self.ord == "point":
            return matrix_norm(self.matrix(t), "point")
        return float(np.sqrt(np.sum((t * self._unit) ** 2)))

    def box(self, budget=None) -> tuple[np.ndarray, np.ndarray]:
        """The smallest box on ``theta`` holding every point with ``||E|| <= budget`` within ``bounds``.

        Along parameter ``j`` alone, ``||E|| = |theta_j| u_j`` with ``u_j = ||C_j||``, so the
        box is ``|theta_j| <= budget / u_j`` (no limit for ``ord="l0"``).
        """
        self._require_bound()
        lo, hi = self._lo.copy(), self._hi.copy()
        if budget is not None and self.ord != "l0":
            r = budget / self._unit
            lo, hi = np.maximum(lo, -r), np.minimum(hi, r)
        return lo, hi

    def project(self, theta, budget) -> np.ndarray:
        """A feasible point near ``theta``: inside ``bounds`` and ``||E|| <= budget``.

        Clip to the bounds, then scale back along the ray to 0 (``fro``, ``inf``, ``l1``: the
        norms are homogeneous; this is the Euclidean projection for ``fro`` when all ``u_j``
        are equal), or for ``l0`` keep the largest ``|theta_j|`` that fit the entry count.
        For ``point``, each row of ``E`` longer than ``budget`` is shrunk onto the ball: every
        parameter is scaled by the smallest factor its rows need (exactly the projection of each
        row when every parameter acts on one row, as for :class:`Pointwise`).
        """
        t = np.clip(self.check_theta(theta), self._lo, self._hi)
        size = self.norm(t)
        if size <= budget:
            return t
        if self.ord == "point":
            E = self.matrix(t)
            rows = np.sqrt(np.einsum("ij,ij->i", E, E))
            with np.errstate(divide="ignore"):
                factor = np.minimum(1.0, budget / rows)
            scale = np.ones(t.size)
            np.minimum.at(scale, _parameter_of(self._M), factor[self._M.indices // self.shape[1]])
            return t * scale
        if self.ord == "l0":
            keep = np.zeros(t.size, dtype=bool)
            used = 0.0
            for j in np.argsort(-np.abs(t), kind="stable"):
                if t[j] != 0 and used + self._unit[j] <= budget:
                    keep[j] = True
                    used += self._unit[j]
            return np.where(keep, t, 0.0)
        return t * (budget / size)

    def describe(self) -> str:
        """One line for reports."""
        return f"{type(self).__name__}({self._spec()}, ord={self.ord!r})"

    def __repr__(self):
        return self.describe()

    def _operator(self, A) -> sp.sparray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _spec(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _parameter_of(M):
    """The parameter (column) of each stored entry of the CSC operator ``M``."""
    return np.repeat(np.arange(M.shape[1]), np.diff(M.indptr))


def _column_norms(M, ord, d):
    """``u_j = ||C_j||`` for every column ``C_j`` of the CSC operator ``M`` (rows of ``E``:
    ``d`` consecutive entries), from its stored entries."""
    p = M.shape[1]
    param = _parameter_of(M)
    v = np.abs(M.data)
    if ord == "fro":
        return np.sqrt(np.bincount(param, v**2, minlength=p))
    if ord == "l1":
        return np.bincount(param, v, minlength=p)
    if ord == "l0":
        return np.bincount(param, (v != 0).astype(float), minlength=p)
    out = np.zeros(p)
    if ord == "inf":
        np.maximum.at(out, param, v)
        return out
    # "point": per column, the largest Euclidean norm over the rows of E it touches.
    key = param.astype(np.int64) * (M.shape[0] // d + 1) + M.indices // d
    keys, inverse = np.unique(key, return_inverse=True)
    np.maximum.at(out, keys // (M.shape[0] // d + 1), np.sqrt(np.bincount(inverse, v**2)))
    return out


def _entries(rows, cols, d):
    """Flat indices (row-major) of the entries rows x cols, parameter-major by row then column."""
    return (rows[:, None] * d + cols[None, :]).ravel()


def _selection_operator(A, rows, cols, values, groups):
    """Sparse ``(n d, p)``: entry ``k`` of the selection gets ``values[k]`` in column ``groups[k]``."""
    n, d = A.shape
    flat = _entries(rows, cols, d)
    return sp.coo_array((values, (flat, groups)), shape=(n * d, int(groups.max()) + 1))


class Additive(Perturbation):
    """The paper's model: one scalar ``eps`` added to rows ``index`` in columns ``features``.

    ``E = eps * D`` with ``D`` the indicator of ``index x features``, or a given
    ``direction`` ``D`` of the data's shape (then ``index`` and ``features`` must be None).
    ``||E||_F = |eps| sqrt(|index| |features|)``; with ``ord="inf"`` the norm is ``|eps|``.
    """

    def __init__(self, index=None, features=None, direction=None, ord="fro", bounds=None):
        super().__init__(ord, bounds)
        if direction is not None and (index is not None or features is not None):
            raise ValueError("give either a direction or index/features for Additive, not both.")
        self.index, self.features, self.direction = index, features, direction

    def _operator(self, A):
        n, d = A.shape
        if self.direction is not None:
            D = np.asarray(self.direction, dtype=float)
            if D.shape != A.shape:
                raise ValueError(f"direction has shape {D.shape}, but the data has shape {A.shape}; they must match.")
            D = check_data(D, "direction")
            return sp.csc_array(D.reshape(-1, 1))
        rows = _positions(self.index, n, "index", "rows")
        cols = _positions(self.features, d, "features", "columns")
        k = rows.size * cols.size
        return _selection_operator(A, rows, cols, np.ones(k), np.zeros(k, dtype=np.int64))

    def _spec(self):
        if self.direction is not None:
            return "direction=<matrix>"
        return f"index={_show(self.index)}, features={_show(self.features)}"


class Pointwise(Perturbation):
    """One free value per selected entry: ``E[i, f] = theta_(i, f)`` for ``i`` in ``index``, ``f`` in ``features``.

    Parameters are ordered row by row (``theta.reshape(len(index), len(features))``).
    """

    def __init__(self, index=None, features=None, ord="fro", bounds=None):
        super().__init__(ord, bounds)
        self.index, self.features = index, features

    def _operator(self, A):
        n, d = A.shape
        rows = _positions(self.index, n, "index", "rows")
        cols = _positions(self.features, d, "features", "columns")
        return _selection_operator(A, rows, cols, self._scale(A, rows, cols), np.arange(rows.size * cols.size))

    def _scale(self, A, rows, cols):
        """The entry each parameter multiplies (1 here)."""
        return np.ones(rows.size * cols.size)

    def _spec(self):
        return f"index={_show(self.index)}, features={_show(self.features)}"


class Multiplicative(Pointwise):
    """Selected entries scaled by ``1 + theta``: ``E[i, f] = theta_(i, f) A[i, f]``.

    One parameter per selected entry, ordered as in :class:`Pointwise`. Entries equal to
    zero cannot be scaled; selecting one is an error.
    """

    def _scale(self, A, rows, cols):
        return A[np.ix_(rows, cols)].ravel()


class FeatureShift(Perturbation):
    """One shift per feature for all rows: ``E[:, f_j] = theta_j``."""

    def __init__(self, features=None, ord="fro", bounds=None):
        super().__init__(ord, bounds)
        self.features = features

    def _operator(self, A):
        n, d = A.shape
        rows = np.arange(n)
        cols = _positions(self.features, d, "features", "columns")
        groups = np.tile(np.arange(cols.size), n)
        return _selection_operator(A, rows, cols, np.ones(n * cols.size), groups)

    def _spec(self):
        return f"features={_show(self.features)}"


class Injection(Perturbation):
    """Poisoning by adding points (Biggio et al. 2013): ``n_points`` new points appended to the
    data, ``theta`` their coordinates, row by row (``theta.reshape(n_points, d)``).

    The model is fitted on the clean points followed by the injected ones; the deviation is
    measured on the clean points alone, which are never moved.

    Parameters
    ----------
    n_points : int >= 1
        How many points are added.
    box : (low, high), optional
        Where they may go: coordinates, scalars or arrays of length ``d``.  Default: the clean
        data's bounding box.
    ord : {"distance", "count"}, default "distance"
        ``"distance"``: the norm of an injection is the largest distance from an injected point
        to its nearest clean point, so a budget ``eps`` keeps every injected point within ``eps``
        of the data (and BL2 asks how close to the data they can stay).  ``"count"``: the number
        of injected points, always ``n_points``; the budget then says how many points (at least
        ``n_points`` for any feasible answer) and the box where.

    :meth:`matrix` returns the injected points, shape ``(n_points, d)``; there is no linear
    operator (:attr:`operator` raises), so gradient attacks through it do not apply.
    """

    ORDS = ("distance", "count")

    def __init__(self, n_points, box=None, ord="distance"):
        if not isinstance(ord, str) or ord not in self.ORDS:
            raise ValueError(f"unknown norm ord={ord!r} for Injection; choose one of {self.ORDS}.")
        if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 1:
            raise ValueError(f"n_points must be an integer >= 1 (how many points are injected), got {n_points!r}.")
        self.ord, self.bounds = ord, None
        self.n_points, self.box_spec = int(n_points), box
        self._M = None
        self.shape = None

    def bind(self, A) -> "Injection":
        """A copy attached to the clean data ``A``: the box checked, a k-d tree of the points built."""
        from scipy.spatial import cKDTree

        A = check_data(A)
        bound = copy.copy(self)
        d = A.shape[1]
        bound.shape = A.shape
        bound.data_low, bound.data_high = A.min(axis=0), A.max(axis=0)
        if self.box_spec is None:
            low, high = bound.data_low, bound.data_high
        else:
            try:
                low, high = (np.broadcast_to(np.asarray(v, dtype=float), (d,)).copy() for v in self.box_spec)
            except (TypeError, ValueError):
                raise ValueError(f"box must be (low, high) with scalars or arrays of length {d} (the data's "
                                 f"features), got {self.box_spec!r}.") from None
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low <= high)):
                raise ValueError(f"box must be finite with low <= high in every feature, got {self.box_spec!r}.")
        bound._lo, bound._hi = np.tile(low, self.n_points), np.tile(high, self.n_points)
        bound._tree = cKDTree(A)
        return bound

    @property
    def n_params(self) -> int:
        self._require_bound()
        return self.n_points * self.shape[1]

    @property
    def entrywise(self) -> bool:
        return False

    @property
    def operator(self):
        raise ValueError("Injection appends points: it is not a linear map of the data, so it has no operator; "
                         "use a black-box optimizer ('random', 'cma', 'biggio-bridge', 'capture-bridge').")

    def matrix(self, theta) -> np.ndarray:
        """The injected points, shape ``(n_points, d)``."""
        return self.check_theta(theta).reshape(self.n_points, self.shape[1])

    def apply(self, A, theta) -> np.ndarray:
        """The clean points followed by the injected ones."""
        return np.vstack([A, self.matrix(theta)])

    def distances(self, theta) -> np.ndarray:
        """Each injected point's distance to its nearest clean point, and that point's row."""
        return self._tree.query(self.matrix(theta), k=1)

    def norm(self, theta) -> float:
        """``"distance"``: the largest distance of an injected point from the clean data;
        ``"count"``: ``n_points``."""
        if self.ord == "count":
            self._require_bound()
            return float(self.n_points)
        return float(self.distances(theta)[0].max())

    def box(self, budget=None) -> tuple[np.ndarray, np.ndarray]:
        """The box of the coordinates: the given box, for ``"distance"`` cut to the data's
        bounding box widened by ``budget``."""
        self._require_bound()
        lo, hi = self._lo.copy(), self._hi.copy()
        if budget is not None and self.ord == "distance":
            lo = np.maximum(lo, np.tile(self.data_low - budget, self.n_points))
            hi = np.minimum(hi, np.tile(self.data_high + budget, self.n_points))
        return lo, hi

    def project(self, theta, budget) -> np.ndarray:
        """Into the box, and (``"distance"``) each point farther than ``budget`` from the data
        moved onto the sphere of that radius around its nearest clean point: the projection
        onto the union of the balls.  Clipped to the box again, which brings no point farther
        from a clean point inside the box."""
        t = np.clip(self.check_theta(theta), self._lo, self._hi)
        if self.ord == "count":
            return t
        dist, nearest = self.distances(t)
        far = dist > budget
        if not np.any(far):
            return t
        P = self.matrix(t).copy()
        centre = self._tree.data[nearest[far]]
        P[far] = centre + (P[far] - centre) * (budget / dist[far])[:, None]
        return np.clip(P.ravel(), self._lo, self._hi)

    def _spec(self):
        box = "data" if self.box_spec is None else repr(self.box_spec)
        return f"n_points={self.n_points}, box={box}"


def _show(values):
    if values is None:
        return "all"
    arr = np.atleast_1d(np.asarray(values))
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    if arr.size > 6:
        return f"[{', '.join(map(str, arr[:3]))}, ..., {arr[-1]}] ({arr.size})"
    return "[" + ", ".join(map(str, arr)) + "]"
