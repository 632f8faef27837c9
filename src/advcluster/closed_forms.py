r"""The paper's closed forms for the delta-measure when points leave one cluster.

Setting (Zheng & Li 2025, Sec. 4): clusters ``C_1, ..., C_K`` of sizes
``n_1, ..., n_K`` (``n = sum n_k``); only ``C_1`` spills, ``m_k`` of its points
moving to ``C_k`` (``k >= 2``), ``m = sum m_k <= n_1``.  Counting ordered pairs
whose co-membership changes (moved/stayed within ``C_1``, moved/moved to
different targets, moved/members of the target),

.. math::

    \delta = 2 m (n_1 - m) + 2 \sum_{k<l} m_k m_l + 2 \sum_k m_k n_k
           = 2 m n_1 - m^2 - \sum_k m_k^2 + 2 \sum_k m_k n_k .

Special cases: two clusters, ``delta = 2 m (n - m)``; three clusters,
``delta = 2 [m (n_1 - m) + m_2 m_3 + m_2 n_2 + m_3 n_3]``; with ``m_2 = m_3 = t``,
``delta = 2 t (2 n_1 + n_2 + n_3) - 6 t^2`` (balanced, ``n_k = N``:
``8 N t - 6 t^2``).

Monotonicity (when is delta a deviation function of the number of moved
points?).  Moving one more point to ``C_k`` changes delta by
``2 (n_1 + n_k - m - m_k - 1)``, so

* two clusters: ``delta`` is nondecreasing in ``m`` over ``0..n_1`` iff
  ``n_1 <= ceil(n / 2)`` (equivalently ``n_1 <= n_2 + 1``);
* any ``K``: ``delta`` is nondecreasing along every path that moves points
  out of ``C_1`` one at a time (every coordinate ``m_k``, over the admissible
  region ``m <= n_1``) iff ``n_1 <= min_{k >= 2} n_k + 1``.  Balanced clusters
  always satisfy it;
* three clusters, symmetric split ``m_2 = m_3 = t``, ``t = 0..floor(n_1/2)``:
  nondecreasing in ``t`` iff ``6 floor(n_1 / 2) <= 2 n_1 + n_2 + n_3 + 3``.
  Balanced clusters always satisfy it (``8 N t - 6 t^2`` peaks at
  ``t = 2N/3 > N/2``).

Proofs are in the docstrings; the tests check every statement by brute force.
All functions use exact Python integers.
"""

from __future__ import annotations

from ._validation import is_integer

__all__ = [
    "delta_k_way",
    "delta_three_way",
    "delta_two_way",
    "k_way_is_monotone",
    "symmetric_three_way_is_monotone",
    "two_way_is_monotone",
]


def _count(value, name: str) -> int:
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer count, got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
    return int(value)


def _counts(values, name: str) -> list[int]:
    try:
        seq = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of integer counts, got {values!r}.") from None
    return [_count(v, f"{name}[{i}]") for i, v in enumerate(seq)]


def _check_moves(n1: int, moved: int) -> None:
    if moved > n1:
        raise ValueError(f"cannot move {moved} points out of cluster 1, which has only n1 = {n1}.")


def delta_two_way(n1, n2, m) -> int:
    r"""Delta after ``m`` points move from cluster 1 (size ``n1``) to cluster 2 (size ``n2``).

    .. math:: \delta = 2 m (n - m), \qquad n = n_1 + n_2 .

    Parameters
    ----------
    n1, n2 : int
        Cluster sizes, ``>= 0``.
    m : int
        Points moved, ``0 <= m <= n1``.

    Returns
    -------
    int

    Examples
    --------
    >>> delta_two_way(50, 50, 6), delta_two_way(70, 70, 25)
    (1128, 5750)
    """
    n1, n2, m = _count(n1, "n1"), _count(n2, "n2"), _count(m, "m")
    _check_moves(n1, m)
    return 2 * m * (n1 + n2 - m)


def delta_three_way(n1, n2, n3, m2, m3) -> int:
    r"""Delta after ``m2`` points move from cluster 1 to 2 and ``m3`` from 1 to 3.

    .. math::

        \delta = 2 \left[ m (n_1 - m) + m_2 m_3 + m_2 n_2 + m_3 n_3 \right],
        \qquad m = m_2 + m_3 .

    With ``m2 = m3 = t`` this is ``2 t (2 n1 + n2 + n3) - 6 t^2``.

    Parameters
    ----------
    n1, n2, n3 : int
        Cluster sizes, ``>= 0``.
    m2, m3 : int
        Points moved to clusters 2 and 3, ``m2 + m3 <= n1``.

    Returns
    -------
    int

    Examples
    --------
    >>> delta_three_way(10, 10, 10, 3, 3), delta_three_way(10, 4, 7, 2, 2)
    (186, 100)
    """
    n1, n2, n3 = _count(n1, "n1"), _count(n2, "n2"), _count(n3, "n3")
    m2, m3 = _count(m2, "m2"), _count(m3, "m3")
    m = m2 + m3
    _check_moves(n1, m)
    return 2 * (m * (n1 - m) + m2 * m3 + m2 * n2 + m3 * n3)


def delta_k_way(sizes, moves) -> int:
    r"""Delta after points of the first cluster move to the others.

    .. math::

        \delta = 2 m n_1 - m^2 - \sum_{k \ge 2} m_k^2 + 2 \sum_{k \ge 2} m_k n_k,
        \qquad m = \sum_{k \ge 2} m_k .

    Parameters
    ----------
    sizes : sequence of int
        Cluster sizes ``n_1, ..., n_K`` (``sizes[0]`` is the cluster that
        spills), each ``>= 0``.
    moves : sequence of int
        Same length as ``sizes``: ``moves[k]`` points move from cluster
        ``sizes[0]`` to cluster ``k``.  ``moves[0]`` must be ``0``, and
        ``sum(moves) <= sizes[0]``.

    Returns
    -------
    int

    Examples
    --------
    >>> delta_k_way([50, 50], [0, 6])
    1128
    """
    sizes = _counts(sizes, "sizes")
    moves = _counts(moves, "moves")
    if not sizes:
        raise ValueError("sizes is empty; give the size of every cluster.")
    if len(moves) != len(sizes):
        raise ValueError(
            f"moves must have one entry per cluster (len(sizes) = {len(sizes)}), got {len(moves)}; "
            "moves[k] is the number of points moved from cluster 0 to cluster k."
        )
    if moves[0] != 0:
        raise ValueError(f"moves[0] must be 0 (cluster 0 is the one that spills), got {moves[0]}.")
    n1, m = sizes[0], sum(moves)
    _check_moves(n1, m)
    return 2 * m * n1 - m * m - sum(mk * mk for mk in moves) + 2 * sum(mk * nk for mk, nk in zip(moves, sizes))


def two_way_is_monotone(n1, n2) -> bool:
    r"""Whether :func:`delta_two_way` is nondecreasing in ``m`` over ``0..n1``.

    True iff ``n1 <= ceil(n / 2)``, ``n = n1 + n2``.  Proof: one more moved
    point changes ``2 m (n - m)`` by ``2 (n - 2 m - 1)``, which is ``>= 0``
    for every ``m <= n1 - 1`` iff ``n1 - 1 <= (n - 1) / 2``, i.e.
    ``n1 <= floor((n + 1) / 2) = ceil(n / 2)``.

    Parameters
    ----------
    n1, n2 : int
        Sizes of the cluster that spills and of the one that receives.

    Returns
    -------
    bool
    """
    n1, n2 = _count(n1, "n1"), _count(n2, "n2")
    n = n1 + n2
    return n1 <= (n + 1) // 2


def k_way_is_monotone(sizes) -> bool:
    r"""Whether :func:`delta_k_way` is nondecreasing along every path of single moves.

    A path moves the points of cluster 0 out one at a time, each to any
    cluster ``k >= 1``; the question is whether delta never decreases, for
    every such path and every admissible state (``m <= n_1``).  True iff
    ``n_1 <= min_{k >= 1} n_k + 1`` (vacuously true for one cluster).

    Proof: moving one more point to cluster ``k`` changes delta by
    ``2 (n_1 + n_k - m - m_k - 1)``.  With ``m_k <= m <= n_1 - 1`` this is
    at least ``2 (n_k - n_1 + 1)``, which is ``>= 0`` under the condition;
    conversely, moving all ``n_1`` points to a cluster with
    ``n_k < n_1 - 1`` decreases delta at the last step.  For two clusters
    this is :func:`two_way_is_monotone`; equal sizes always satisfy it.

    Parameters
    ----------
    sizes : sequence of int
        Cluster sizes; ``sizes[0]`` is the cluster that spills.

    Returns
    -------
    bool
    """
    sizes = _counts(sizes, "sizes")
    if not sizes:
        raise ValueError("sizes is empty; give the size of every cluster.")
    if len(sizes) == 1:
        return True
    return sizes[0] <= min(sizes[1:]) + 1


def symmetric_three_way_is_monotone(n1, n2, n3) -> bool:
    r"""Whether delta is nondecreasing in ``t`` when ``m2 = m3 = t``, ``t = 0..floor(n1/2)``.

    Along this path ``delta(t) = 2 t (2 n1 + n2 + n3) - 6 t^2``, whose step
    ``delta(t + 1) - delta(t) = 2 (2 n1 + n2 + n3) - 6 (2 t + 1)`` is smallest
    at the last step ``t = floor(n1/2) - 1``.  So the answer is True iff
    ``6 floor(n1 / 2) <= 2 n1 + n2 + n3 + 3`` (i.e. ``n1 <= n2 + n3 + 3`` for
    even ``n1``, ``n1 <= n2 + n3 + 6`` for odd ``n1``).  The balanced case
    ``n1 = n2 = n3 = N`` (``delta = 8 N t - 6 t^2``) always satisfies it.

    Parameters
    ----------
    n1, n2, n3 : int
        Cluster sizes; cluster 1 spills equally into clusters 2 and 3.

    Returns
    -------
    bool
    """
    n1, n2, n3 = _count(n1, "n1"), _count(n2, "n2"), _count(n3, "n3")
    return 6 * (n1 // 2) <= 2 * n1 + n2 + n3 + 3
