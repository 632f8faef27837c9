"""``exact1d`` against an independent rational reference, on many instances with ties.

The reference (``rational.py``) is PAV in exact rational arithmetic on the shifted sorted
values ``a_(k) + lam (n - 1 - 2k)`` with ``lam = Fraction(gamma) * Fraction(w)`` (the exact
product, not the rounded one); it is itself checked against the min-max formula of isotonic
regression and against the KKT conditions of the original (un-sorted, pairwise) problem.

Asserted on every instance (over 300, fixed seeds):

* ``exact_partition(A, gamma, w).labels`` is the reference partition, numbered by first
  appearance, and ``solve(..., method="exact1d")`` returns the same labels with
  ``labels_certified`` and ``success`` True (``p = 1`` and, for one column, ``p = 2``);
* the centres are within 4 ulp (times ``max(1, |mean|)``) of the exact block means;
* every column whose exact PAV pools on an exact equality of means (an exact tie, which
  floating point cannot decide) is counted in ``n_exact`` (the rational path ran).

Families: integer data with many repeated values; constructed exact ties (two adjacent blocks
whose exact means are equal, data and ``lam`` dyadic); near ties one ulp away from those (data
point or gamma moved by ``np.nextafter``, both directions); ``gamma = 0``; ``n = 1, 2``;
weights not representable in binary (0.1, 1/3, ...), where ``fl(gamma w)`` differs from the
exact product, including near ties built on the exact product; magnitudes 1e-8 to 1e8 with
offsets; ``p = 1`` with 2 to 4 columns.  Plus the Iris instance of the issue.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import load_iris

import rational
from rational import F, first_appearance

from advcluster import solve, uniform_graph
from advcluster.solvers.exact1d import exact_partition

ULP = np.finfo(float).eps
LAMS = (0.25, 0.5, 0.125, 0.375, 1.0, 0.0625, 0.75)  # dyadic lam for exact ties
EXACT_WEIGHTS = (1.0, 0.5, 2.0, 0.25, 4.0)
INEXACT_WEIGHTS = (0.1, 1 / 3, 0.7, 1 / 7, 3.3, 0.01)


# ----------------------------------------------------------------------------------------
# The check applied to every instance
# ----------------------------------------------------------------------------------------


def check_instance(A, gamma, w=1.0, *, expect_tie=False):
    """All assertions of the module docstring for data ``A`` (n, d), ``gamma`` and weight ``w``.

    Returns the ``ExactPartition`` (for instance-specific checks)."""
    A = np.asarray(A, dtype=float)
    if A.ndim == 1:
        A = A[:, None]
    n, d = A.shape
    lam = F(gamma) * F(w)
    ref = rational.rational_partition(A, gamma, w)
    cols = [[F(v) for v in A[:, c]] for c in range(d)]
    ties = sum(rational.has_exact_tie(col, lam) for col in cols)
    if expect_tie:
        assert ties >= 1, "the constructed instance has no exact tie: the construction is wrong"

    ex = exact_partition(A, gamma, w)
    labels = tuple(int(v) for v in ex.labels)
    assert labels == first_appearance(labels), "exact_partition's labels are not numbered by first appearance"
    assert labels == ref, f"exact_partition's partition differs from the exact one (gamma={gamma!r}, w={w!r})"
    assert ex.n_exact >= ties, f"{ties} column(s) with an exact tie, but n_exact={ex.n_exact}"
    _check_centres(ex.centers, rational.rational_centres(A, gamma, w))

    g = uniform_graph(n, weight=w)
    for p in ((1, 2) if d == 1 else (1,)):
        res = solve(A, g, gamma, method="exact1d", p=p)
        assert first_appearance(res.labels.tolist()) == ref, f"solve(exact1d, p={p}) partition differs"
        assert res.labels_certified is True and res.success is True
        _check_centres(res.centers, rational.rational_centres(A, gamma, w))
    return ex


def _check_centres(X, exact):
    mean = np.array([[float(v) for v in row] for row in exact])
    tol = 4 * ULP * np.maximum(1.0, np.abs(mean))
    err = np.abs(np.asarray(X) - mean)
    assert np.all(err <= tol), f"centre off by {float((err / tol).max()):.3g} x the allowed 4 ulp"


# ----------------------------------------------------------------------------------------
# Generators
# ----------------------------------------------------------------------------------------


def _composition(rng, n, g):
    """``g`` positive block sizes summing to ``n``."""
    cuts = np.sort(rng.choice(np.arange(1, n), size=g - 1, replace=False)) if g > 1 else np.array([], int)
    return np.diff(np.r_[0, cuts, n]).astype(int)


def _offsets(m, d):
    """``m`` offsets with sum exactly 0 and spread at most ``2 d`` (d a dyadic)."""
    base = {1: [0], 2: [-1, 1], 3: [-1, 0, 1], 4: [-1, -1, 1, 1], 5: [-1, -1, 0, 1, 1]}
    out = base.get(m)
    if out is None:
        out = [-1, 1] * (m // 2) + [0] * (m % 2)
    return [o * d for o in out]


def tie_column(rng, n, lam):
    """A column of ``n`` dyadic values with two adjacent blocks whose exact means tie at ``lam``.

    Groups of points, each tight (offsets summing to 0, spread <= lam), far apart, except one
    adjacent pair whose means differ by exactly ``lam (m1 + m2)``: then
    ``mean_R(y) - mean_L(y) = mean_R(a) - mean_L(a) - lam (m1 + m2) = 0`` exactly (the shift
    ``lam (n - 1 - 2k)`` averages to ``lam (n - 1 - first - last)`` over a block).
    Returns a list of Fractions (exact floats), shuffled.
    """
    lam = F(lam)
    g = int(rng.integers(2, min(5, n) + 1))
    sizes = _composition(rng, n, g)
    tie = int(rng.integers(0, g - 1))
    d = lam * Fraction(int(rng.integers(0, 3)), 4)  # 0, lam/4, lam/2
    centre = F(int(rng.integers(-8, 9)))
    values = []
    for b, m in enumerate(sizes):
        values += [centre + o for o in _offsets(int(m), d)]
        if b + 1 < g:
            gap = lam * int(m + sizes[b + 1]) if b == tie else lam * (4 * n + int(rng.integers(1, 9)))
            centre += gap
    rng.shuffle(values)
    return values


def _as_floats(values):
    out = np.array([float(v) for v in values])
    assert all(F(x) == v for x, v in zip(out, values)), "construction not exact in floating point"
    return out


def integers_instance(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 26))
    a = rng.integers(0, int(rng.integers(2, 7)), n) * float(rng.choice([1, 0.5, 3, 1024, 0.1]))
    gamma = float(rng.choice([0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 0.1, 0.3, 1 / 3])) / 2 ** int(rng.integers(0, 4))
    w = float(rng.choice([1.0, 0.5, 2.0, 0.1]))
    return a, gamma, w


def tie_instance(seed):
    """An exact tie, scaled by a power of two and translated by a dyadic offset (both exact)."""
    rng = np.random.default_rng(10_000 + seed)
    n = int(rng.integers(2, 21))
    lam = F(float(rng.choice(LAMS)))
    w = float(rng.choice(EXACT_WEIGHTS))
    scale = Fraction(2) ** int(rng.integers(-27, 28))  # about 1e-8 to 1e8
    offset = F(int(rng.integers(-2**20, 2**20))) * scale * int(rng.choice([0, 1, 64]))
    values = [v * scale + offset for v in tie_column(rng, n, lam)]
    gamma = float(lam * scale / F(w))
    assert F(gamma) * F(w) == lam * scale
    return _as_floats(values), gamma, w


def near_tie_instance(seed):
    """A tie instance moved by one ulp: a data point of the tied blocks, or gamma, either way."""
    a, gamma, w = tie_instance(seed // 4)
    rng = np.random.default_rng(20_000 + seed)
    kind = seed % 4
    direction = np.inf if kind % 2 else -np.inf
    if kind < 2:
        gamma = float(np.nextafter(gamma, direction))
    else:
        i = int(rng.integers(0, len(a)))
        a = a.copy()
        a[i] = np.nextafter(a[i], direction)
    return a, gamma, w


def gamma_zero_instance(seed):
    rng = np.random.default_rng(30_000 + seed)
    n = int(rng.integers(1, 20))
    a = rng.integers(0, 4, n).astype(float) if seed % 2 else rng.normal(size=n)
    if seed % 3 == 0:
        a[: n // 2] = np.nextafter(a[: n // 2], np.inf)  # near-equal values stay apart
    return a, 0.0, float(rng.choice([1.0, 0.1]))


def small_n_instance(seed):
    """n = 1 or 2, at, near and away from the fusion threshold ``a1 - a0 = 2 lam``."""
    rng = np.random.default_rng(40_000 + seed)
    if seed % 5 == 0:
        return np.array([float(rng.normal())]), float(rng.uniform(0, 2)), 1.0
    a0 = float(rng.integers(-5, 6))
    gap = float(rng.choice([0.0, 0.5, 1.0, 2.0, 3.0]))
    gamma = gap / 2 if seed % 2 else float(rng.uniform(0.1, 2))
    a1 = a0 + gap
    if seed % 3 == 0:
        a1 = float(np.nextafter(a1, np.inf if seed % 4 else -np.inf))
    a = np.array([a1, a0]) if seed % 7 == 0 else np.array([a0, a1])
    return a, gamma, 1.0


def inexact_weight_instance(seed):
    """``w`` not representable: ``fl(gamma w) != gamma w``.  Even seeds: random data.  Odd seeds:
    two adjacent groups of equal values, 0 and ``x``, with ``x`` a float next to the threshold
    ``lam (m1 + m2)`` of the exact product, chosen where possible between that threshold and
    the one of the rounded product (so using ``fl(gamma w)`` gives the wrong partition)."""
    rng = np.random.default_rng(50_000 + seed)
    w = float(rng.choice(INEXACT_WEIGHTS))
    n = int(rng.integers(2, 16))
    while True:
        gamma = float(rng.uniform(0.05, 1.0)) / n
        if F(gamma) * F(w) != F(gamma * w):
            break
    lam = F(gamma) * F(w)
    if seed % 2 == 0:
        a = np.sort(rng.normal(size=n)) * float(rng.choice([0.1, 1, 10]))
        return rng.permutation(a), gamma, w
    g = int(rng.integers(2, min(4, n) + 1))
    sizes = _composition(rng, n, g)
    tie = int(rng.integers(0, g - 1))
    m1, m2 = int(sizes[tie]), int(sizes[tie + 1])
    far = float(lam) * (4 * n + 3)

    def column(x):
        centres = [0.0] * g
        centres[tie + 1] = x
        for b in range(tie - 1, -1, -1):
            centres[b] = centres[b + 1] - far
        for b in range(tie + 2, g):
            centres[b] = centres[b - 1] + far
        return np.repeat(centres, sizes)

    near = []
    for t in (lam * (m1 + m2), F(gamma * w) * (m1 + m2)):
        x = float(t)
        near += [np.nextafter(x, -np.inf), x, np.nextafter(x, np.inf)]
    wrong = [x for x in near
             if rational.rational_partition(column(x), gamma, w) != rational.rational_partition(column(x), gamma * w)]
    x = wrong[0] if wrong and seed % 4 == 1 else near[int(rng.integers(0, len(near)))]
    return rng.permutation(column(x)), gamma, w


def magnitude_instance(seed):
    """Random data at scales 1e-8 to 1e8, translated by up to 1e6 times the scale."""
    rng = np.random.default_rng(60_000 + seed)
    n = int(rng.integers(2, 30))
    scale = 10.0 ** rng.uniform(-8, 8)
    offset = scale * float(rng.choice([0, 1, 1e3, 1e6])) * float(rng.choice([-1, 1]))
    centres = rng.normal(0, 3, int(rng.integers(1, 5)))
    a = (centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.3, n)) * scale + offset
    if seed % 3 == 0:
        a[: n // 3] = a[n // 3: 2 * (n // 3)]  # repeated values
    gamma = float(rng.uniform(0.005, 0.3)) * scale
    w = float(rng.choice([1.0, 0.1, 1 / 3]))
    return a, gamma, w


def p1_instance(seed):
    """2 to 4 columns sharing ``gamma`` and ``w``: integer columns and exact-tie columns."""
    rng = np.random.default_rng(70_000 + seed)
    n = int(rng.integers(2, 20))
    d = int(rng.integers(2, 5))
    lam = F(float(rng.choice(LAMS)))
    w = float(rng.choice(EXACT_WEIGHTS))
    cols = []
    for _ in range(d):
        if rng.random() < 0.5:
            cols.append(_as_floats(tie_column(rng, n, lam)))
        else:
            cols.append(rng.integers(0, 4, n) * float(rng.choice([0.25, 0.5, 1.0])))
    return np.column_stack(cols), float(lam / F(w)), w


FAMILIES = {
    "integers": (integers_instance, 60),
    "tie": (tie_instance, 50),
    "near_tie": (near_tie_instance, 60),
    "gamma0": (gamma_zero_instance, 20),
    "small_n": (small_n_instance, 25),
    "inexact_w": (inexact_weight_instance, 40),
    "magnitude": (magnitude_instance, 40),
    "p1": (p1_instance, 40),
}
CASES = [(name, seed) for name, (_, count) in FAMILIES.items() for seed in range(count)]


@pytest.mark.parametrize("family, seed", CASES, ids=[f"{f}-{s}" for f, s in CASES])
def test_exact1d_equals_the_rational_partition(family, seed):
    A, gamma, w = FAMILIES[family][0](seed)
    ex = check_instance(A, gamma, w, expect_tie=family == "tie")
    if family == "tie":
        assert ex.n_exact >= 1
    if family == "inexact_w":
        assert F(gamma) * F(w) != F(gamma * w)


def test_the_families_exercise_the_rational_path_and_both_outcomes():
    """The instances are not all easy: many need the rational path, and a near tie ends fused
    (as at the tie) or split, depending on its side."""
    exact_ran = same = changed = 0
    for seed in range(60):
        a, gamma, w = near_tie_instance(seed)
        t, gamma_t, _ = tie_instance(seed // 4)
        if rational.rational_partition(a, gamma, w) == rational.rational_partition(t, gamma_t, w):
            same += 1
        else:
            changed += 1
        exact_ran += exact_partition(a[:, None], gamma, w).n_exact > 0
    assert exact_ran >= 10 and same >= 5 and changed >= 5, (exact_ran, same, changed)
    # Inexact weights: on some instances the rounded product fl(gamma w) gives another partition.
    rounded_wrong = 0
    for seed in range(FAMILIES["inexact_w"][1]):
        a, gamma, w = inexact_weight_instance(seed)
        rounded_wrong += rational.rational_partition(a, gamma * w) != rational.rational_partition(a, gamma, w)
    assert rounded_wrong >= 3


# ----------------------------------------------------------------------------------------
# Hand-made cases
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, gamma, clusters",
    [
        ([-1.0, 1.0], 1.0, 1),  # y = (0, 0): tied, fused at 0
        ([-1.0, 1.0], np.nextafter(1.0, 0), 2),  # one ulp short of the threshold
        ([-1.0, -1.0, 1.0, 1.0], 0.5, 1),  # y = (.5, -.5, .5, -.5): two tied pairs, then one block
        ([-1.0, -1.0, 1.0, 1.0], np.nextafter(0.5, 0), 2),
        ([-3.0, -1.0, 1.0, 3.0], 1.0, 1),  # symmetric, everything tied at the threshold
        ([-3.0, -1.0, 1.0, 3.0], np.nextafter(1.0, 0), 4),  # y strictly increasing just below it
        ([0.0, 1.0, 2.0], 0.5, 1),
        ([5.0], 3.0, 1),
        ([2.0, 2.0, 2.0], 0.0, 1),
        ([2.0, np.nextafter(2.0, 3), 2.0], 0.0, 2),
    ],
    ids=lambda v: repr(v) if not isinstance(v, list) else "/".join(f"{x:g}" for x in v),
)
def test_symmetric_and_threshold_cases(a, gamma, clusters):
    ex = check_instance(np.array(a), float(gamma))
    assert len(set(ex.labels.tolist())) == clusters
    assert len(set(rational.rational_pav_partition(a, gamma))) == clusters


def test_iris_instance_of_the_issue():
    """Iris rows 0-99, petal width, gamma 0.01, +0.39995 on rows 0-9: two exact blocks."""
    a = load_iris().data[:100, 3].copy()
    a[:10] += 0.39995
    labels, centre = rational.rational_pav([F(v) for v in a], F(0.01))
    assert len(set(labels)) == 2
    assert labels == (0,) * 50 + (1,) * 50
    assert rational.kkt_holds(a, F(0.01), labels)
    assert rational.minmax_partition(a, F(0.01)) == labels
    check_instance(a[:, None], 0.01, 1.0)


# ----------------------------------------------------------------------------------------
# The reference checked on its own
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_reference_pav_meets_minmax_formula_and_kkt(seed):
    """The reference PAV equals the min-max formula of isotonic regression and satisfies the
    KKT conditions of the original problem exactly; a merged or split partition does not."""
    rng = np.random.default_rng(90_000 + seed)
    for _ in range(40):
        n = int(rng.integers(1, 10))
        if rng.random() < 0.5:
            a = [F(v) for v in rng.integers(0, 5, n).astype(float)]
        else:
            a = [F(v) for v in rng.normal(size=n)]
        lam = F(float(rng.choice([0.0, 0.125, 0.25, 0.5, 0.1, 1 / 3])))
        if n >= 2 and rng.random() < 0.4:
            a = tie_column(rng, n, lam if lam else F(0.25))
            lam = lam if lam else F(0.25)
        labels = rational.rational_pav(a, lam)[0]
        assert labels == rational.minmax_partition(a, lam)
        assert rational.kkt_holds(a, lam, labels)
        k = len(set(labels))
        if k >= 2:
            merged = first_appearance([0 if v == 1 else v for v in labels])
            assert not rational.kkt_holds(a, lam, merged)
        if k < n:
            big = max(set(labels), key=labels.count)
            first = labels.index(big)
            split = first_appearance([(v, i == first) for i, v in enumerate(labels)])
            assert not rational.kkt_holds(a, lam, split)
