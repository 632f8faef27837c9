"""The staircase search against the exact partition along the attack line, in rationals.

For uniform weights in one feature and ``Additive`` (one ``eps`` added to rows ``index``), the
partition as a function of ``eps`` is piecewise constant, and ``rational.exact_breakpoints``
describes it exactly on ``[-budget, budget]``: every point where the partition changes
(breakpoint), the partition on every open piece between candidate points, and isolated points
(a partition different from both neighbouring pieces).  The reference is independent of
advcluster: rational PAV on exact data ``a_i + Fraction(eps)``.

Floating point.  advcluster solves the float data ``fl(a_i + eps)``, each entry within half an
ulp of the exact ``a_i + eps``.  A partition changes where two adjacent-range means of the
shifted values tie; such a mean difference moves with ``eps`` at a rate of at least
``1 / (m1 m2) >= 4 / n^2``, so the rounding moves a breakpoint by at most about
``n^2 / 4 * ulp(max |a_i + eps|)``, below 1e-13 here.  Statements that compare with the exact
data therefore allow a slack of ``1e-12 (hi - lo)`` around breakpoints; statements about the
float data advcluster actually solved are checked exactly, with no slack, by running the
rational PAV on that float data.

Asserted on 30 random instances (n from 6 to 12, a random index set, gamma giving a few
clusters, budget with at least three breakpoints inside, grids of 21 to 41 points):

(a) every reported bracket ``[l, r]`` has ``r - l <= xtol (1 + 1e-9)``; the exact partitions of
    the float data at ``l`` and ``r`` differ; and a true breakpoint or isolated point lies in
    ``[l - slack, r + slack]``;
(b) completeness: every true breakpoint strictly inside the range (farther than the slack from
    its ends) lies in some reported bracket, within the slack.  For fixed uniform weights in
    one feature the partition together with the order of the clusters is constant on an
    interval (the data for which a given ordered partition is optimal form a convex set, and
    the data move along a line), so no change can hide between two evaluated points with the
    same state.  Isolated points are exempt: they have no width and a grid hits them only by
    chance;
(c) every evaluation's value is the exact delta between the exact clean partition and the
    exact partition of the float data it solved (no slack), and, farther than the slack from
    every breakpoint and isolated point, that of the exact data ``a_i + Fraction(eps)``;
(d) every plateau's value (and cluster count) is the exact deviation of the exact partition at
    an interior point of the plateau (its midpoint, in rationals);
(e) BL2: for targets among the deviations of the pieces in range, the answer is feasible and
    successful, its exact deviation reaches the target (on the float data, and on the exact
    data away from breakpoints), and ``|theta|`` lies between the true least ``|eps|`` whose
    exact deviation reaches the target (minus the slack) and that plus ``xtol`` (plus the
    slack); isolated points are exempt from the upper bound;
(f) BL1: the answer's deviation is at least that of every piece wider than ``xtol`` (no wide
    piece is missed), and it is the answer closest to 0 among those pieces, within ``xtol``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import rational
from rational import F, first_appearance

from advcluster.attacks import BL1, BL2, attack
from advcluster.models import ConvexClusteringModel
from advcluster.perturbation import Additive

N_INSTANCES = 30


def make_instance(seed):
    """``(a, index, gamma, budget, num, staircase)`` with at least 3 exact breakpoints inside."""
    rng = np.random.default_rng(seed)
    while True:
        n = int(rng.integers(6, 13))
        k = int(rng.integers(2, 4))
        centres = np.array([0.0, 2.0, 3.5])[:k]
        a = centres[rng.integers(0, k, n)] + rng.normal(0, 0.3, n)
        index = np.sort(rng.choice(n, size=int(rng.integers(1, n // 2 + 1)), replace=False))
        gamma = float(rng.uniform(0.02, 0.12))
        budget = float(rng.uniform(1.0, 3.0))
        num = int(rng.choice([21, 31, 41]))
        stair = rational.exact_breakpoints(a, index, gamma, -budget, budget)
        if len(stair.breakpoints) >= 3:
            return a, index, gamma, budget, num, stair


def float_data(a, index, eps):
    """The data advcluster solves: ``fl(a_i + eps)`` on rows ``index`` (numpy's addition)."""
    b = np.array(a, dtype=float)
    b[index] = b[index] + float(eps)
    return b


def exact_float_partition(a, index, gamma, eps):
    """The exact partition of the float data ``fl(a + eps 1_index)``."""
    return rational.rational_pav_partition(float_data(a, index, eps), gamma)


def _within(x, lo, hi):
    return lo <= x <= hi


@pytest.fixture(scope="module", params=range(N_INSTANCES), ids=lambda s: f"seed{s}")
def case(request):
    seed = request.param
    a, index, gamma, budget, num, stair = make_instance(seed)
    model = ConvexClusteringModel(gamma, weights="uniform")
    pert = Additive(index=index, features=[0], ord="inf")
    res = attack(BL1(model, a[:, None], pert, budget), "staircase", num=num)
    assert model.graph.weights[0] == 1.0  # the reference uses w = 1
    clean = rational.rational_pav_partition(a, gamma)
    return dict(a=a, index=index, gamma=gamma, budget=budget, num=num, stair=stair, res=res, clean=clean,
                slack=1e-12 * 2 * budget)


def test_brackets_are_narrow_and_hold_a_true_breakpoint(case):
    """(a)"""
    res, stair, slack = case["res"], case["stair"], case["slack"]
    xtol = res.extra["xtol"]
    assert xtol == pytest.approx(1e-8 * 2 * case["budget"], rel=1e-12)
    changes = stair.breakpoints + stair.isolated
    brackets = res.extra["breakpoints"]
    assert len(brackets) >= 1
    for l, r in brackets:
        assert l < r and r - l <= xtol * (1 + 1e-9)
        left = exact_float_partition(case["a"], case["index"], case["gamma"], l)
        right = exact_float_partition(case["a"], case["index"], case["gamma"], r)
        assert left != right, f"bracket [{l!r}, {r!r}]: the same exact partition at both ends"
        lo, hi = F(l) - F(slack), F(r) + F(slack)
        assert any(_within(p, lo, hi) for p in changes), f"no true breakpoint in [{l!r}, {r!r}]"


def test_every_true_breakpoint_is_bracketed(case):
    """(b) completeness; isolated points exempt."""
    res, stair, slack = case["res"], case["stair"], F(case["slack"])
    brackets = [(F(l) - slack, F(r) + slack) for l, r in res.extra["breakpoints"]]
    missed = [p for p in stair.breakpoints
              if stair.lo + slack < p < stair.hi - slack and not any(_within(p, lo, hi) for lo, hi in brackets)]
    assert not missed, f"true breakpoints not bracketed: {[float(p) for p in missed]}"


def test_every_evaluation_value_is_exact(case):
    """(c)"""
    res, stair, slack, clean = case["res"], case["stair"], case["slack"], case["clean"]
    a, index, gamma = case["a"], case["index"], case["gamma"]
    checked = 0
    for e in res.history:
        eps = float(e.theta[0])
        on_floats = exact_float_partition(a, index, gamma, eps)
        assert first_appearance(e.labels.tolist()) == on_floats
        assert e.value == rational.delta(clean, on_floats)
        if stair.nearest_change(eps) > slack:
            assert e.value == rational.delta(clean, rational.partition_at(a, index, gamma, eps))
            checked += 1
    assert checked >= len(res.history) // 2


def test_every_plateau_value_is_exact(case):
    """(d)"""
    res, stair, slack, clean = case["res"], case["stair"], case["slack"], case["clean"]
    table = res.extra["plateaus"]
    assert sum(p.n_points for p in table) == len(res.history)
    assert all(p.lower <= p.upper for p in table)
    assert all(q.lower > p.upper for p, q in zip(table, table[1:]))
    for p in table:
        mid = (F(p.lower) + F(p.upper)) / 2
        if p.lower == p.upper and stair.nearest_change(mid) <= slack:
            continue
        part = rational.partition_at(case["a"], case["index"], case["gamma"], mid)
        assert p.value == rational.delta(clean, part)
        assert p.n_clusters == len(set(part))


def _least_reaching(stair, clean, target):
    """The true least ``|eps|`` whose exact deviation reaches ``target``: over open pieces (an
    infimum) and over all candidate points (pieces and single points)."""
    pieces = [min(abs(u), abs(v)) if u * v > 0 else Fraction(0)
              for u, v, part in stair.intervals() if rational.delta(clean, part) >= target]
    points = [abs(c) for c, part in zip(stair.cuts, stair.at) if rational.delta(clean, part) >= target]
    return min(pieces, default=math.inf), min(pieces + points, default=math.inf)


def test_bl2_answer_is_minimal_and_reaches_the_target(case):
    """(e)"""
    stair, clean, slack = case["stair"], case["clean"], F(case["slack"])
    a, index, gamma, budget = case["a"], case["index"], case["gamma"], case["budget"]
    values = sorted({rational.delta(clean, part) for part in stair.pieces} - {0})
    assert values, "no deviation in range"
    targets = sorted({values[len(values) // 2], values[-1], values[0]})
    pert = Additive(index=index, features=[0], ord="inf")
    for target in targets:
        res = attack(BL2(ConvexClusteringModel(gamma, weights="uniform"), a[:, None], pert, target, max_norm=budget),
                     "staircase", num=case["num"])
        assert res.feasible and res.success, res.message
        theta = float(res.theta[0])
        assert rational.delta(clean, exact_float_partition(a, index, gamma, theta)) == res.deviation >= target
        if stair.nearest_change(theta) > slack:
            assert rational.delta(clean, rational.partition_at(a, index, gamma, theta)) >= target
        best_piece, best = _least_reaching(stair, clean, target)
        xtol = F(res.extra["xtol"])
        assert F(abs(theta)) >= best - slack
        assert F(abs(theta)) <= best_piece + xtol + slack, (
            f"target {target}: |theta| = {abs(theta)!r}, exact least |eps| = {float(best_piece)!r}")


def test_bl1_finds_every_wide_piece(case):
    """(f)"""
    res, stair, clean, slack = case["res"], case["stair"], case["clean"], F(case["slack"])
    xtol = F(res.extra["xtol"])
    wide = [(u, v, rational.delta(clean, part)) for u, v, part in stair.intervals() if v - u > xtol]
    best = max(value for _, _, value in wide)
    assert res.feasible and res.success
    assert res.deviation >= best
    if res.deviation == best:
        nearest = min(min(abs(u), abs(v)) if u * v > 0 else Fraction(0) for u, v, value in wide if value == best)
        assert F(abs(float(res.theta[0]))) <= nearest + xtol + slack


# ----------------------------------------------------------------------------------------
# Dyadic data with ties: exact for the float data, not for the exact line
# ----------------------------------------------------------------------------------------


# Flickers of the float data far from every exact breakpoint: 28 of the 49 brackets here hold no
# breakpoint of the exact line a + eps (e.g. [2.384185791015627e-08, 4.768371582031254e-08]).
FLICKER = (np.array([1.0, 0.25, 1.0, 1.5, 0.25, 0.5, 0.5, 1.5, 1.0, 0.75]), np.array([1, 2, 6, 8]), 0.0625, 2.0, 41)


def tied_instance(seed):
    """Values on a grid of 1/4, dyadic gamma: block means can tie identically along the line."""
    if seed == "flicker":
        return FLICKER
    rng = np.random.default_rng(1_000 + seed)
    n = int(rng.integers(6, 11))
    a = rng.integers(0, 8, n) * 0.25
    index = np.sort(rng.choice(n, size=int(rng.integers(1, n // 2 + 1)), replace=False))
    gamma = float(rng.choice([0.03125, 0.0625, 0.125]))
    return a, index, gamma, 2.0, int(rng.choice([21, 33, 41]))


@pytest.mark.parametrize("seed", [*range(8), "flicker"], ids=lambda s: f"tied{s}")
def test_tied_dyadic_data_exact_for_the_float_data(seed):
    """On such data two block means can be exactly equal for every ``eps`` of an interval (both
    move with slope 1, or neither), so the exact partition of ``a + eps`` is the tied one all
    along, while the float data ``fl(a_i + eps)`` breaks the tie one way or the other depending
    on the rounding of each entry: its partition flickers between grid points far from any
    breakpoint of the exact line, and the staircase brackets those flickers.  What holds
    exactly is the statement about the float data it solves: each evaluation's labels and value
    are the exact ones of that data, and each bracket's ends have different exact partitions.
    Completeness (b) against the exact line still holds."""
    a, index, gamma, budget, num = tied_instance(seed)
    stair = rational.exact_breakpoints(a, index, gamma, -budget, budget)
    res = attack(BL1(ConvexClusteringModel(gamma, weights="uniform"), a[:, None],
                     Additive(index=index, features=[0], ord="inf"), budget), "staircase", num=num)
    clean = rational.rational_pav_partition(a, gamma)
    for e in res.history:
        on_floats = exact_float_partition(a, index, gamma, float(e.theta[0]))
        assert first_appearance(e.labels.tolist()) == on_floats
        assert e.value == rational.delta(clean, on_floats)
    for l, r in res.extra["breakpoints"]:
        assert exact_float_partition(a, index, gamma, l) != exact_float_partition(a, index, gamma, r)
    case = dict(res=res, stair=stair, slack=1e-12 * 2 * budget)
    test_every_true_breakpoint_is_bracketed(case)
