"""Input checks shared by the public entry points: each error names the problem and the fix."""

from __future__ import annotations

import numbers

import numpy as np


def check_data(A, name: str = "A") -> np.ndarray:
    """Return ``A`` as a float 2-D array (n_samples, n_features), or raise ``ValueError``."""
    try:
        A = np.asarray(A, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (n_samples, n_features): {exc}") from None
    if A.ndim != 2:
        hint = " Use A.reshape(-1, 1) for a single feature." if A.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {A.ndim}-D with shape {A.shape}.{hint}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {A.shape}); it needs at least one sample and one feature.")
    if not np.all(np.isfinite(A)):
        r, c = np.argwhere(~np.isfinite(A))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {r}, column {c}); remove or impute it.")
    return A


def is_real(value) -> bool:
    """A real number (Python or numpy scalar), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_nonnegative(value, name: str) -> float:
    """Return ``value`` as a float >= 0, or raise ``ValueError``."""
    if not is_real(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def check_gamma(gamma) -> float:
    """Return ``gamma`` as a float >= 0, or raise ``ValueError``."""
    return check_nonnegative(gamma, "gamma")


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float > 0, or raise ``ValueError``."""
    if not is_real(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


def check_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)
