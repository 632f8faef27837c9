"""Deviation measures and the paper's closed forms, against brute force and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import pair_confusion_matrix, rand_score
from sklearn.metrics.cluster import contingency_matrix

import advcluster._contingency as contingency_module
from advcluster.closed_forms import (
    delta_k_way,
    delta_three_way,
    delta_two_way,
    k_way_is_monotone,
    symmetric_three_way_is_monotone,
    two_way_is_monotone,
)
from advcluster.deviation import (
    MEASURES,
    ari,
    biggio_distance,
    changed_labels,
    delta,
    deviation,
    nmi,
    prediction_changes,
    rand_deviation,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARTITION_MEASURES = [name for name, m in MEASURES.items() if m.relabel_invariant]


# --------------------------------------------------------------------------
# independent reference implementations
# --------------------------------------------------------------------------


def brute_delta(ref, new):
    """||Y Y^T - Y' Y'^T||_F^2 with explicit n x n co-membership matrices."""
    ref, new = np.asarray(ref), np.asarray(new)
    same_ref = ref[:, None] == ref[None, :]
    same_new = new[:, None] == new[None, :]
    return int(np.sum((same_ref.astype(int) - same_new.astype(int)) ** 2))


def first_appearance(labels):
    seen = {}
    return [seen.setdefault(x, len(seen)) for x in labels]


def brute_matched(ref, new):
    """min over injective relabellings of ref of the Hamming distance to new."""
    r, s = first_appearance(ref), first_appearance(new)
    k, kk = max(r) + 1, max(s) + 1
    best = len(r)
    for perm in itertools.permutations(range(max(k, kk)), k):
        best = min(best, sum(perm[a] != b for a, b in zip(r, s)))
    return best


def spill_delta(sizes, moves):
    """Brute-force delta of :func:`spill` (no samples: nothing changed)."""
    return delta(*spill(sizes, moves)) if sum(sizes) else 0


def spill(sizes, moves):
    """Explicit labelings: clusters of ``sizes``; moves[k] points of cluster 0 go to k."""
    ref = np.repeat(np.arange(len(sizes)), sizes)
    new = ref.copy()
    start = 0
    for k, mk in enumerate(moves):
        new[start : start + mk] = k
        start += mk
    return ref, new


def random_pair(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    ka, kb = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    return rng.integers(0, ka, n), rng.integers(0, kb, n)


# --------------------------------------------------------------------------
# hypothesis strategies
# --------------------------------------------------------------------------


@st.composite
def labelings(draw, min_size=1, max_size=30):
    n = draw(st.integers(min_size, max_size))
    k = draw(st.integers(1, 6))
    ref = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    k2 = draw(st.integers(1, 6))
    new = draw(st.lists(st.integers(0, k2 - 1), min_size=n, max_size=n))
    return np.array(ref), np.array(new)


def string_relabel(labels, seed):
    """A random bijective renaming of the labels to strings."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(labels)
    names = np.array([f"c{p}" for p in rng.permutation(len(uniq) + 3)[: len(uniq)]], dtype=object)
    return names[np.searchsorted(uniq, labels)]


def close(x, y):
    return x == pytest.approx(y, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------------
# delta
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_delta_matches_brute_force_and_rand_score(seed):
    ref, new = random_pair(seed)
    n = len(ref)
    d = delta(ref, new)
    assert isinstance(d, int)
    assert d == brute_delta(ref, new)
    assert d == round(n * (n - 1) * (1 - rand_score(ref, new)))
    assert close(rand_deviation(ref, new), 1 - rand_score(ref, new))
    assert close(biggio_distance(ref, new), math.sqrt(brute_delta(ref, new)))


def test_delta_paper_numbers():
    iris = np.repeat([0, 1], 50)
    moved = iris.copy()
    moved[44:50] = 1  # six points of cluster 0 join cluster 1
    assert delta(iris, moved) == 1128
    assert changed_labels(iris, moved) == changed_labels(iris, moved, match=True) == 6

    seeds = np.repeat([0, 1], 70)
    moved = seeds.copy()
    moved[45:70] = 1
    assert delta(seeds, moved) == 5750

    fused = np.zeros(100, dtype=int)
    assert delta(iris, fused) == 5000
    assert round(1 - rand_deviation(iris, fused), 5) == 0.49495
    assert nmi(iris, fused) == 0.0


def test_delta_extremes():
    n = 12
    assert delta(np.zeros(n), np.arange(n)) == n * (n - 1)
    assert rand_deviation(np.zeros(n), np.arange(n)) == 1.0
    assert delta([7], ["x"]) == 0
    assert rand_deviation([7], ["x"]) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_sparse_contingency_path_agrees(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    ref, new = rng.integers(0, 30, 200), rng.integers(0, 40, 200)
    expected = (delta(ref, new), changed_labels(ref, new, match=True))
    monkeypatch.setattr(contingency_module, "DENSE_TABLE_CELLS", 0)
    monkeypatch.setattr(contingency_module, "DENSE_MATCH_CELLS", 0)
    assert (delta(ref, new), changed_labels(ref, new, match=True)) == expected
    assert expected[0] == brute_delta(ref, new)


def test_label_types_do_not_matter():
    ref = np.array([3, 3, -1, 10**12, -1, 3])  # wide integer range: the np.unique path
    names = np.array(["b", "b", "a", "z", "a", "b"])
    objs = np.array([None, None, 2.5, (1, "x"), 2.5, None], dtype=object)  # unsortable mix
    new = np.array([0, 1, 1, 2, 2, 0], dtype=np.uint8)
    for name in PARTITION_MEASURES:
        values = [MEASURES[name](lab, new) for lab in (ref, names, objs)]
        assert values[0] == pytest.approx(values[1]) == pytest.approx(values[2]), (name, values)
        assert MEASURES[name]([True, True, False], [1, 1, 0]) == MEASURES[name].identical


def test_large_n_smoke():
    rng = np.random.default_rng(0)
    n = 10**6
    ref = rng.integers(0, 50, n)
    new = np.where(rng.random(n) < 0.1, rng.integers(0, 60, n), ref)
    c = pair_confusion_matrix(ref, new)
    assert delta(ref, new) == int(c[0, 1]) + int(c[1, 0])
    assert 0 <= changed_labels(ref, new, match=True) <= changed_labels(ref, new)


# --------------------------------------------------------------------------
# properties of every registered measure
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MEASURES))
@SETTINGS
@given(pair=labelings())
def test_identical_value_and_bounds(name, pair):
    m = MEASURES[name]
    ref, new = pair
    assert close(m(ref, ref), m.identical)
    low, high = m.bounds(len(ref))
    value = m(ref, new)
    assert low - 1e-12 <= value <= high + 1e-12
    if m.is_deviation:
        assert value >= 0


@pytest.mark.parametrize("name", sorted(MEASURES))
@SETTINGS
@given(pair=labelings())
def test_symmetry(name, pair):
    m = MEASURES[name]
    assert m.symmetric
    ref, new = pair
    assert close(m(ref, new), m(new, ref))


@pytest.mark.parametrize("name", PARTITION_MEASURES)
@SETTINGS
@given(pair=labelings(), seed=st.integers(0, 2**32 - 1))
def test_invariance_to_relabelling(name, pair, seed):
    m = MEASURES[name]
    ref, new = pair
    rng = np.random.default_rng(seed)
    perm_ref = rng.permutation(10)[ref]
    str_new = string_relabel(new, seed)
    value = m(ref, new)
    assert close(m(perm_ref, new), value)
    assert close(m(ref, str_new), value)
    assert close(m(perm_ref, str_new), value)
    assert close(m(perm_ref, ref), m.identical)  # same partition, other names


@pytest.mark.parametrize("name", [n for n in PARTITION_MEASURES if MEASURES[n].metric])
@SETTINGS
@given(pair=labelings(min_size=2), seed=st.integers(0, 2**32 - 1))
def test_metric_zero_only_on_identical_and_triangle(name, pair, seed):
    m = MEASURES[name]
    ref, new = pair
    third = np.random.default_rng(seed).integers(0, 4, len(ref))
    same_partition = delta(ref, new) == 0  # checked against brute force above
    assert (m(ref, new) == 0) == same_partition
    assert m(ref, new) <= m(ref, third) + m(third, new) + 1e-9


@SETTINGS
@given(pair=labelings())
def test_delta_identities(pair):
    ref, new = pair
    n = len(ref)
    d = delta(ref, new)
    assert d == brute_delta(ref, new)
    assert d % 2 == 0
    assert close(rand_deviation(ref, new), d / (n * (n - 1)) if n > 1 else 0.0)
    assert close(biggio_distance(ref, new) ** 2, d)


def test_nmi_not_monotone_and_average_methods():
    ref = np.repeat([0, 1, 2], 10)
    one_moved = ref.copy()
    one_moved[0] = 1
    assert nmi(ref, one_moved) < 1
    assert nmi(ref, np.zeros(30)) == 0.0  # everything fused: NMI at its minimum ...
    assert nmi(np.zeros(30), np.zeros(30)) == 1.0  # ... and single vs single is "identical"
    for method in ("arithmetic", "geometric", "min", "max"):
        assert 0 <= nmi(ref, one_moved, average_method=method) <= 1
        assert deviation(ref, one_moved, "nmi", average_method=method) == nmi(ref, one_moved, method)
    with pytest.raises(ValueError, match="average_method"):
        nmi(ref, ref, average_method="median")


def test_ari_known_values():
    assert ari([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)


# --------------------------------------------------------------------------
# changed labels
# --------------------------------------------------------------------------


def test_changed_labels_hand_checked():
    ref = [0, 0, 0, 1, 1, 1]
    # sample 0 moves: first-appearance numbering of new swaps, raw count explodes
    assert changed_labels(ref, [1, 0, 0, 1, 1, 1]) == 5
    assert changed_labels(ref, [1, 0, 0, 1, 1, 1], match=True) == 1
    # a later sample moves: both count 1
    assert changed_labels(ref, [0, 0, 1, 1, 1, 1]) == 1
    assert changed_labels(ref, [0, 0, 1, 1, 1, 1], match=True) == 1
    # pure relabelling: nothing changed
    assert changed_labels(ref, ["b", "b", "b", "a", "a", "a"]) == 0
    assert changed_labels(ref, ["b", "b", "b", "a", "a", "a"], match=True) == 0
    # a new cluster: unmatched clusters count as changed
    assert changed_labels(ref, [0, 0, 2, 1, 1, 3], match=True) == 2
    assert changed_labels([0] * 5, list(range(5)), match=True) == 4


@pytest.mark.parametrize("seed", range(30))
def test_changed_labels_matched_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    ref = rng.integers(0, int(rng.integers(1, 6)), n)
    new = rng.integers(0, int(rng.integers(1, 6)), n)
    raw, matched = changed_labels(ref, new), changed_labels(ref, new, match=True)
    assert matched == brute_matched(ref, new)
    assert raw == sum(a != b for a, b in zip(first_appearance(ref), first_appearance(new)))
    assert matched <= raw
    assert changed_labels(ref, rng.permutation(8)[ref], match=True) == 0


@pytest.mark.parametrize("seed", range(15))
def test_changed_labels_matched_against_full_assignment(seed):
    # fine partitions: the contingency graph falls apart into many blocks
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    ref = rng.integers(0, int(rng.integers(n // 4, n)), n)
    new = np.where(rng.random(n) < 0.3, rng.integers(0, n, n), ref)
    table = contingency_matrix(ref, new)
    r, c = linear_sum_assignment(table, maximize=True)
    assert changed_labels(ref, new, match=True) == n - table[r, c].sum()


@SETTINGS
@given(pair=labelings(), seed=st.integers(0, 2**32 - 1))
def test_changed_labels_matched_le_raw_and_relabel_zero(pair, seed):
    ref, new = pair
    assert changed_labels(ref, new, match=True) <= changed_labels(ref, new)
    assert changed_labels(ref, string_relabel(ref, seed), match=True) == 0


# --------------------------------------------------------------------------
# prediction changes
# --------------------------------------------------------------------------


def test_prediction_changes():
    ref = np.array([0, 1, 2, 2, 1])
    new = np.array([0, 2, 2, 0, 1])
    diff = new - ref
    assert prediction_changes(ref, new) == 2
    assert prediction_changes(ref, new, ord=1) == pytest.approx(np.linalg.norm(diff, 1))
    assert prediction_changes(ref, new, ord=2) == pytest.approx(np.linalg.norm(diff, 2))
    assert prediction_changes(ref, new, ord=3) == pytest.approx(np.linalg.norm(diff, 3))
    assert prediction_changes(ref, new, ord=np.inf) == 2.0
    # values matter: swapped classes are changed predictions
    assert prediction_changes(["a", "b"], ["b", "a"]) == 2
    assert changed_labels(["a", "b"], ["b", "a"]) == 0
    with pytest.raises(ValueError, match="numeric"):
        prediction_changes(["a", "b"], ["b", "a"], ord=2)
    for bad in (-1, np.nan, "l2", True):
        with pytest.raises(ValueError, match="ord"):
            prediction_changes(ref, new, ord=bad)


# --------------------------------------------------------------------------
# registry and bad input
# --------------------------------------------------------------------------


def test_registry_front_door():
    ref, new = [0, 0, 1, 1], [0, 1, 1, 1]
    for name, m in MEASURES.items():
        assert deviation(ref, new, measure=name) == m(ref, new) == m.func(ref, new)
    assert deviation(ref, new) == delta(ref, new)
    with pytest.raises(ValueError, match="unknown measure 'rand'.*'delta'"):
        deviation(ref, new, measure="rand")


BAD_INPUTS = [
    ([0, 1, 1], [0, 1], "same samples"),
    ([], [], "empty"),
    (np.zeros((3, 2)), np.zeros((3, 2)), "1-D"),
    ([[0], [1]], [0, 1], "1-D"),
    ([0.0, np.nan, 1.0], [0, 1, 1], "NaN at position 1"),
    ([0, 1, 1], np.array(["a", float("nan"), "b"], dtype=object), "NaN at position 1"),
    (np.array([{}, {}], dtype=object), [0, 1], "hashable"),
]


@pytest.mark.parametrize(
    ("name", "ref", "new", "message"),
    [
        (name, *case)
        for name in sorted(MEASURES)
        for case in BAD_INPUTS
        if not (name == "prediction_changes" and case[2] == "hashable")  # compared, not hashed
    ],
)
def test_bad_input(name, ref, new, message):
    with pytest.raises(ValueError, match=message):
        MEASURES[name](ref, new)


@SETTINGS
@given(pair=labelings(), data=st.data())
def test_nan_anywhere_is_rejected(pair, data):
    ref, new = pair
    i = data.draw(st.integers(0, len(ref) - 1))
    bad = ref.astype(float)
    bad[i] = np.nan
    with pytest.raises(ValueError, match=f"NaN at position {i}"):
        delta(bad, new)
    with pytest.raises(ValueError, match=f"NaN at position {i}"):
        changed_labels(new, bad, match=True)


# --------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------


def test_closed_forms_paper_examples():
    assert delta_two_way(50, 50, 6) == 1128
    assert delta_two_way(70, 70, 25) == 5750
    assert delta_three_way(10, 10, 10, 3, 3) == 186
    assert delta_three_way(10, 4, 7, 2, 2) == 100
    assert spill_delta([10, 10, 10], [0, 3, 3]) == 186
    assert spill_delta([10, 4, 7], [0, 2, 2]) == 100


@pytest.mark.parametrize("seed", range(25))
def test_closed_forms_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n1, n2, n3 = (int(x) for x in rng.integers(0, 20, 3))
    m = int(rng.integers(0, n1 + 1))
    assert delta_two_way(n1, n2, m) == spill_delta([n1, n2], [0, m]) == delta_k_way([n1, n2], [0, m])
    m2 = int(rng.integers(0, n1 + 1))
    m3 = int(rng.integers(0, n1 - m2 + 1))
    three = delta_three_way(n1, n2, n3, m2, m3)
    assert three == spill_delta([n1, n2, n3], [0, m2, m3]) == delta_k_way([n1, n2, n3], [0, m2, m3])
    sizes = [int(x) for x in rng.integers(0, 12, int(rng.integers(1, 7)))]
    moves = [0] + [0] * (len(sizes) - 1)
    for _ in range(sizes[0]):
        if len(sizes) > 1 and rng.random() < 0.7:
            moves[int(rng.integers(1, len(sizes)))] += 1
    assert delta_k_way(sizes, moves) == spill_delta(sizes, moves)


@pytest.mark.parametrize(("n1", "n2", "n3"), [(10, 10, 10), (10, 4, 7), (9, 1, 0), (6, 13, 2)])
def test_symmetric_three_way_formula(n1, n2, n3):
    for t in range(n1 // 2 + 1):
        expected = 2 * t * (2 * n1 + n2 + n3) - 6 * t * t
        assert delta_three_way(n1, n2, n3, t, t) == expected == spill_delta([n1, n2, n3], [0, t, t])
        if n1 == n2 == n3:
            assert expected == 8 * n1 * t - 6 * t * t


def test_two_way_monotonicity_exhaustive():
    for n1 in range(16):
        for n2 in range(16):
            values = [spill_delta([n1, n2], [0, m]) for m in range(n1 + 1)]
            monotone = all(a <= b for a, b in zip(values, values[1:]))
            assert two_way_is_monotone(n1, n2) == monotone == (n1 <= math.ceil((n1 + n2) / 2)), (n1, n2)


def test_symmetric_three_way_monotonicity_exhaustive():
    for n1, n2, n3 in itertools.product(range(13), repeat=3):
        values = [delta_three_way(n1, n2, n3, t, t) for t in range(n1 // 2 + 1)]
        monotone = all(a <= b for a, b in zip(values, values[1:]))
        assert symmetric_three_way_is_monotone(n1, n2, n3) == monotone, (n1, n2, n3)
    assert all(symmetric_three_way_is_monotone(n, n, n) for n in range(200))


def test_k_way_monotonicity_exhaustive():
    # every single move from every admissible state, for K = 2, 3, 4 and small sizes
    for k in (2, 3, 4):
        top = {2: 12, 3: 7, 4: 4}[k]
        for sizes in itertools.product(range(top), repeat=k):
            monotone = True
            for rest in itertools.product(range(sizes[0] + 1), repeat=k - 1):
                if sum(rest) >= sizes[0]:
                    continue  # no further move possible
                moves = [0, *rest]
                here = delta_k_way(sizes, moves)
                for j in range(1, k):
                    step = moves.copy()
                    step[j] += 1
                    monotone &= delta_k_way(sizes, step) >= here
            assert k_way_is_monotone(sizes) == monotone, sizes
            if k == 2:
                assert monotone == two_way_is_monotone(*sizes)
    assert k_way_is_monotone([5]) and all(k_way_is_monotone([n] * 3) for n in range(50))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: delta_two_way(-1, 3, 0), "n1 must be >= 0"),
        (lambda: delta_two_way(3, 3, 4), "cannot move 4 points"),
        (lambda: delta_two_way(3, 3, 1.5), "m must be an integer"),
        (lambda: delta_two_way(3, True, 1), "n2 must be an integer"),
        (lambda: delta_three_way(5, 5, 5, 3, 3), "cannot move 6 points"),
        (lambda: delta_three_way(5, 5, -2, 1, 1), "n3 must be >= 0"),
        (lambda: delta_three_way(5, 5, 5, -1, 1), "m2 must be >= 0"),
        (lambda: delta_k_way([5, 5], [0, 1, 2]), "one entry per cluster"),
        (lambda: delta_k_way([5, 5], [1, 1]), r"moves\[0\] must be 0"),
        (lambda: delta_k_way([5, 5, 5], [0, 3, 3]), "cannot move 6 points"),
        (lambda: delta_k_way([5, -5], [0, 1]), r"sizes\[1\] must be >= 0"),
        (lambda: delta_k_way([], []), "sizes is empty"),
        (lambda: delta_k_way(5, [0]), "sequence"),
        (lambda: two_way_is_monotone(-1, 2), "n1 must be >= 0"),
        (lambda: k_way_is_monotone([3, -1]), r"sizes\[1\]"),
        (lambda: symmetric_three_way_is_monotone(3, 3, 2.0), "n3 must be an integer"),
    ],
)
def test_closed_forms_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
