"""Proofs that double precision cannot settle, redone in extended precision
(docs/partitions.md, section 3), against the exact rational reference.

The instances sit just above a fusion threshold, where a freshly fused group's in-group flow has
room of about ``delta`` (relative) and double's rounding needs more.  Data on the line through
``(3, 4)``: with ``x_i = s_i (3, 4)`` the 2-D problem with ``p = 2`` and uniform weights is
``25`` times the 1-D problem of the ``s_i`` with ``lam = gamma / 5`` (rational for float gamma),
whose exact partition the reference computes with pool-adjacent-violators in rationals.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from advcluster import solve, uniform_graph
from advcluster.solvers import certificate
from rational import F, first_appearance, rational_pav

DIRECTION = np.array([3.0, 4.0])  # length 5, exact
EXTENDED = np.finfo(np.longdouble).eps < np.finfo(float).eps


def partition(t, lam):
    return tuple(rational_pav([F(v) for v in t], lam)[0])


def just_above_threshold(seed):
    """``(A, gamma, exact labels)``: a float gamma a relative ``delta`` in [1e-14.5, 1e-12.5] above
    the exact threshold where the plateau holding a random lam begins (bisection in rationals)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 20))
    t = rng.integers(-40, 40, n) / 4.0
    lo, hi = Fraction(0), Fraction(int(rng.integers(1, 8)), 8)
    top = partition(t, hi)
    for _ in range(120):  # the threshold to about 2^-120 relative
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if partition(t, mid) == top else (mid, hi)
    gamma = float(5 * hi * (1 + Fraction(10 ** rng.uniform(-14.5, -12.5))))
    exact = partition(t, F(gamma) / 5)
    return t[:, None] * DIRECTION, gamma, exact, exact == top and partition(t, lo) != top


SEEDS = range(40)


@pytest.fixture(scope="module")
def cases():
    out = []
    for seed in SEEDS:
        A, gamma, exact, above = just_above_threshold(seed)
        if above and len(set(exact)) < len(exact):
            out.append((seed, A, gamma, exact))
    assert len(out) >= 30
    return out


def test_certified_labels_are_the_exact_partition_next_to_a_threshold(cases):
    certified = by_extended = 0
    for seed, A, gamma, exact in cases:
        res = solve(A, uniform_graph(len(A)), gamma, "ssnal")
        if res.labels_certified:
            certified += 1
            by_extended += "in extended precision" in res.message
            assert first_appearance(res.labels) == exact, seed
        else:
            assert res.n_undecided > 0
    assert certified >= 0.9 * len(cases)
    if EXTENDED:  # the instances are close enough to need it, some of them
        assert by_extended >= 5


@pytest.mark.skipif(not EXTENDED, reason="longdouble is double on this platform")
def test_without_extended_precision_those_proofs_fail(cases, monkeypatch):
    """The same instances with the extended step switched off: what it proved is then near
    threshold (not certified), so the step, not a change elsewhere, made the proofs."""
    needed = []
    for seed, A, gamma, exact in cases:
        res = solve(A, uniform_graph(len(A)), gamma, "ssnal")
        if "in extended precision" in res.message:
            needed.append((A, gamma))
    monkeypatch.setattr(certificate, "_columns", lambda extended, cols: None)
    for A, gamma in needed:
        res = solve(A, uniform_graph(len(A)), gamma, "ssnal")
        assert not res.labels_certified and "close to a fusion threshold" in res.message
