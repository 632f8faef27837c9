"""Input checks shared by the public entry points: each error names the problem and the fix.

Parameters are checked declaratively (in the spirit of scikit-learn's parameter constraints):
an entry point states one :class:`Rule` per parameter and calls :func:`validate`. The rules
that several entry points share are stated once, beside what they describe
(:data:`advcluster.graph.GRAPH_RULES`, :data:`advcluster.solvers.core.SOLVE_RULES`).

Errors whose message names parameters that another interface spells differently (the
command line says ``--bounds LO,HI`` where the library says ``bounds=(low, high)``) are
:class:`Worded`: the message is a template, and :meth:`Worded.say` renders it in the
caller's words.
"""

from __future__ import annotations

import math
import numbers
import string
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


def is_real(value) -> bool:
    """A real number (Python or numpy scalar), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value) -> bool:
    """An integer (Python or numpy scalar), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class Rule:
    """What one parameter may be: ``rule(value, name)`` returns the value, converted, or raises
    ``ValueError`` naming ``name``, the value and what is allowed."""

    def __call__(self, value, name: str):  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Real(Rule):
    """A finite real number ``>= low`` (``> low`` when ``strict``); returned as float."""

    low: float = 0.0
    strict: bool = False

    def __call__(self, value, name):
        if not is_real(value) or not math.isfinite(value) or value < self.low or (self.strict and value == self.low):
            raise ValueError(f"{name} must be a finite number {'>' if self.strict else '>='} {self.low:g}, "
                             f"got {value!r}.")
        return float(value)


@dataclass(frozen=True)
class Integer(Rule):
    """An integer ``>= low``; returned as int."""

    low: int = 1

    def __call__(self, value, name):
        if not is_integer(value) or value < self.low:
            raise ValueError(f"{name} must be an integer >= {self.low}, got {value!r}.")
        return int(value)


@dataclass(frozen=True)
class OneOf(Rule):
    """One of ``options``: a tuple, or a registry (a mapping, shown sorted) read when checked;
    ``also`` are further values allowed (e.g. ``"auto"``)."""

    options: tuple | Mapping
    also: tuple = ()

    def __call__(self, value, name):
        opts = self.options
        shown = sorted(opts) if isinstance(opts, Mapping) else opts
        allowed = (*self.also, *shown)
        hashable = isinstance(value, (str, numbers.Number)) and not isinstance(value, (bool, np.bool_))
        if hashable and value in allowed:
            return value
        if all(isinstance(o, str) for o in allowed):
            either = "".join(f"{a!r} or " for a in self.also)
            raise ValueError(f"unknown {name} {value!r}; choose {either}one of {shown}.")
        raise ValueError(f"{name} must be one of {shown}, got {value!r}.")


@dataclass(frozen=True)
class Flag(Rule):
    """True or False (numpy booleans too); returned as bool."""

    def __call__(self, value, name):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}.")
        return bool(value)


@dataclass(frozen=True)
class Optional(Rule):
    """None, or what ``rule`` allows."""

    rule: Rule

    def __call__(self, value, name):
        return None if value is None else self.rule(value, name)


def validate(rules: Mapping[str, Rule], **values) -> dict:
    """``values`` checked and converted by their ``rules`` (in the order given), as a dict."""
    return {name: rules[name](value, name) for name, value in values.items()}


def renamed(values: dict, renames: Mapping[str, str], where: str) -> dict:
    """``values`` with each old name in ``renames`` (old -> new) replaced by its new name, with a
    ``FutureWarning``; both names given is an error. For one release after a rename."""
    out = dict(values)
    for old, new in renames.items():
        if old in out:
            if new in out:
                raise ValueError(f"{where}: give {new}= only ({old}= is its old name).")
            warnings.warn(f"{where}: {old}= is now called {new}=; the old name will be removed.", FutureWarning,
                          stacklevel=3)
            out[new] = out.pop(old)
    return out


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


def check_nonnegative(value, name: str) -> float:
    """Return ``value`` as a float >= 0, or raise ``ValueError``."""
    return Real(0.0)(value, name)


def check_gamma(gamma) -> float:
    """Return ``gamma`` as a float >= 0, or raise ``ValueError``."""
    return Real(0.0)(gamma, "gamma")


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float > 0, or raise ``ValueError``."""
    return Real(0.0, strict=True)(value, name)


def check_int(value, name: str, low: int = 1) -> int:
    """Return ``value`` as an int >= ``low``, or raise ``ValueError``."""
    return Integer(low)(value, name)


class Worded:
    """An error whose message names parameters through ``$placeholders``, so that each interface
    can name them its own way: ``words`` maps each placeholder to the library's phrase."""

    template: str = ""
    words: dict = {}

    def _word(self, template: str, words: Mapping[str, str]) -> str:
        self.template, self.words = template, dict(words)
        return string.Template(template).safe_substitute(self.words)

    def say(self, words: Mapping[str, str]) -> str:
        """The message with the placeholders in ``words`` phrased as given there, the rest as the library's."""
        return string.Template(self.template).safe_substitute({**self.words, **{k: words[k] for k in self.words
                                                                           if k in words}})


class WordedValueError(Worded, ValueError):
    """A ``ValueError`` with a :class:`Worded` message."""

    def __init__(self, template: str, **words: str):
        super().__init__(self._word(template, words))


def in_words(exc: BaseException, words: Mapping[str, str]) -> str:
    """``exc``'s message, in ``words`` where it is :class:`Worded`."""
    return exc.say(words) if isinstance(exc, Worded) else str(exc)
