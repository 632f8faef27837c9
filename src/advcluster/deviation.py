"""Deviation measures between two labelings of the same samples.

A labeling is a 1-D sequence of hashable labels (ints, strings, any objects);
only the partition it induces matters, never the label values, except for
:func:`prediction_changes`, which compares classifier outputs as they are.
Labels are mapped internally to codes ``0..K-1``.

Notation (Zheng & Li 2025, "the paper", Sec. 4; Biggio et al. 2013):
``Y`` in ``{0,1}^{n x K}`` is the membership matrix of a labeling, so
``(Y Y^T)_ij = 1`` iff samples ``i`` and ``j`` share a cluster.  For two
labelings, ``N`` is their contingency table (``N_kl`` = number of samples in
cluster ``k`` of ``ref`` and cluster ``l`` of ``new``), ``a`` its row sums and
``b`` its column sums.

A *deviation function* in the paper's sense is ``>= 0``, ``0`` when nothing
changed, and nondecreasing in the size of the change.  ``delta`` and its
rescalings count changed pairs, so they are nondecreasing in that size by
construction; how ``delta`` grows with the number of *moved points* is a
separate question, answered by :mod:`advcluster.closed_forms`.

Every measure is registered in :data:`MEASURES` with its range, symmetry,
value on identical partitions and invariance to relabelling;
:func:`deviation` is the front door that dispatches by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from ._contingency import code_pair, contingency, delta_of_codes, label_array, label_codes, max_matched
from .graph import first_appearance

__all__ = [
    "MEASURES",
    "Measure",
    "ari",
    "biggio_distance",
    "changed_labels",
    "delta",
    "deviation",
    "nmi",
    "prediction_changes",
    "rand_deviation",
]

_NMI_AVERAGES = ("arithmetic", "geometric", "min", "max")


# --------------------------------------------------------------------------
# measures
# --------------------------------------------------------------------------


def delta(ref, new) -> int:
    r"""The paper's delta-measure: ordered pairs whose co-membership changed.

    .. math::

        \delta(Y, Y') = \|Y Y^T - Y' Y'^T\|_F^2
                      = \sum_k a_k^2 + \sum_l b_l^2 - 2 \sum_{k,l} N_{kl}^2
                      = n (n - 1) (1 - \mathrm{RI}),

    with ``N`` the contingency table of the two labelings, ``a`` its row sums
    and ``b`` its column sums (Zheng & Li 2025, Sec. 4; Biggio et al. 2013
    use the unsquared norm, see :func:`biggio_distance`).

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples; any hashable labels.

    Returns
    -------
    int
        Exact count, in ``[0, n (n - 1)]``; always even (each unordered pair
        counts twice).  ``n (n - 1)`` is reached by one cluster against ``n``
        singletons.

    Notes
    -----
    - Symmetric: ``delta(ref, new) == delta(new, ref)``.
    - ``0`` on identical partitions, and only there; invariant to relabelling
      either side.
    - A deviation function in the paper's sense: ``>= 0``, ``0`` when nothing
      changed, and it *is* the number of changed pairs.  As a function of the
      number of moved points it is nondecreasing only under conditions, see
      :func:`advcluster.closed_forms.two_way_is_monotone`.
    - A metric on partitions (Hamming distance between co-membership sets).
    - Cost ``O(n + K K')`` time from the contingency table (sparse when
      ``K K'`` is large), never an ``n x n`` matrix.  Integer arithmetic is
      exact for ``n < 3 * 10**9``.

    Examples
    --------
    Two clusters of 50, six points moved to the other cluster:

    >>> ref = [0] * 50 + [1] * 50
    >>> new = [0] * 44 + [1] * 56
    >>> delta(ref, new)
    1128
    """
    return delta_of_codes(*code_pair(ref, new))


def biggio_distance(ref, new) -> float:
    r"""Biggio et al.'s distance ``||Y Y^T - Y' Y'^T||_F = sqrt(delta)``.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples; any hashable labels.

    Returns
    -------
    float
        In ``[0, sqrt(n (n - 1))]``.

    Notes
    -----
    Symmetric, ``0`` on identical partitions (only there), invariant to
    relabelling, a metric, and a deviation function in the paper's sense
    (a monotone transform of :func:`delta`).
    """
    return math.sqrt(delta(ref, new))


def rand_deviation(ref, new) -> float:
    r"""The paper's RI-based deviation ``1 - RI = delta / (n (n - 1))``.

    .. math::

        1 - \mathrm{RI} = \frac{\delta(Y, Y')}{n (n - 1)},

    the fraction of (ordered) pairs whose co-membership changed.  For
    ``n = 1`` there are no pairs and nothing can change: the value is ``0``.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples; any hashable labels.

    Returns
    -------
    float
        In ``[0, 1]``.

    Notes
    -----
    Symmetric, ``0`` on identical partitions (only there), invariant to
    relabelling, a metric, and a deviation function in the paper's sense:
    :func:`delta` rescaled by the constant ``n (n - 1)``.
    ``1 - sklearn.metrics.rand_score(ref, new)`` up to rounding.
    """
    ca, ka, cb, kb = code_pair(ref, new)
    n = ca.size
    if n < 2:
        return 0.0
    return delta_of_codes(ca, ka, cb, kb) / (n * (n - 1))


def ari(ref, new) -> float:
    r"""Adjusted Rand index (Hubert & Arabie 1985), a similarity.

    .. math::

        \mathrm{ARI} = \frac{\sum_{kl} \binom{N_{kl}}{2} - E}{\tfrac12 \left(
            \sum_k \binom{a_k}{2} + \sum_l \binom{b_l}{2}\right) - E},
        \qquad E = \frac{\sum_k \binom{a_k}{2} \sum_l \binom{b_l}{2}}{\binom{n}{2}}.

    Computed by :func:`sklearn.metrics.adjusted_rand_score` on the label codes.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples; any hashable labels.

    Returns
    -------
    float
        In ``[-1/2, 1]`` (Chacon & Rastrojo 2023); ``1`` on identical
        partitions (including ``n = 1`` and two single-cluster labelings),
        about ``0`` for independent random labelings.

    Notes
    -----
    Symmetric and invariant to relabelling.  Not a deviation function in
    the paper's sense: it is a similarity (larger means closer), equal to
    ``1``, not ``0``, when nothing changed, and it can be negative.
    """
    ca, _, cb, _ = code_pair(ref, new)
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(ca, cb))


def nmi(ref, new, average_method: str = "arithmetic") -> float:
    r"""Normalized mutual information, a similarity.

    .. math::

        \mathrm{NMI} = \frac{I(U; V)}{\mathrm{mean}(H(U), H(V))},

    with the mean chosen by ``average_method`` (``"arithmetic"``, the
    scikit-learn default and the paper's choice, ``"geometric"``, ``"min"``
    or ``"max"``).  Computed by
    :func:`sklearn.metrics.normalized_mutual_info_score` on the label codes.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples; any hashable labels.
    average_method : {"arithmetic", "geometric", "min", "max"}
        How the two entropies are averaged in the denominator.

    Returns
    -------
    float
        In ``[0, 1]``; ``1`` on identical partitions.

    Notes
    -----
    Symmetric (for every ``average_method``) and invariant to relabelling.
    Not a deviation function in the paper's sense: it is a similarity, and
    it is not monotone in the size of the change.  It is ``0`` whenever one
    side is a single cluster and the other is not (``I = 0``), however few
    points were fused, and ``1`` when both are a single cluster; this is
    why NMI drops to ``0`` and jumps back in the paper's experiments.
    """
    if average_method not in _NMI_AVERAGES:
        raise ValueError(f"unknown average_method {average_method!r}; choose one of {_NMI_AVERAGES}.")
    ca, _, cb, _ = code_pair(ref, new)
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(ca, cb, average_method=average_method))


def changed_labels(ref, new, match: bool = False) -> int:
    r"""Number of samples whose cluster changed, the paper's ``N_c``.

    ``match=False`` (the paper's count): number both labelings by first
    appearance (the cluster of sample 0 is ``0``, the next new cluster ``1``,
    ...) and count the positions where the numbers differ,

    .. math:: N_c = \#\{i : \mathrm{fa}(y)_i \ne \mathrm{fa}(y')_i\}.

    ``match=True``: the count after the best one-to-one matching of the
    clusters of ``ref`` to those of ``new`` (Hungarian algorithm on the
    contingency table; clusters left unmatched count as changed),

    .. math:: N_c^{\mathrm{match}} = n - \max_\sigma \sum_k N_{k \sigma(k)},

    the *transfer distance* between partitions.  ``N_c^match <= N_c``, and
    the raw count can be large when few points moved: if sample 0 changes
    cluster, the first-appearance numbering of ``new`` swaps.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples; any hashable labels.
    match : bool, default False
        Count after the best matching of clusters instead of after
        first-appearance numbering.

    Returns
    -------
    int
        In ``[0, n - 1]`` (sample 0 is always ``0`` in both first-appearance
        numberings; a matching keeps at least one sample).

    Notes
    -----
    Both variants are symmetric, ``0`` on identical partitions (and only
    there), invariant to relabelling, and metrics on partitions (Hamming
    distance of the canonical numberings; transfer distance).  Both are
    deviation functions in the paper's sense, counting moved samples.
    Cost: ``O(n)`` raw; the matched variant adds a Hungarian solve on each
    connected block of the contingency table (dense up to about a million
    cells, sparse beyond); blocks with one row or one column are free.
    """
    ca, ka, cb, kb = code_pair(ref, new)
    if not match:
        return int(np.count_nonzero(first_appearance(ca, ka) != first_appearance(cb, kb)))
    rows, cols, counts = contingency(ca, ka, cb, kb)
    return ca.size - max_matched(rows, cols, counts, ka, kb)


def prediction_changes(ref, new, ord: float = 0) -> float:
    r"""Changed predictions of a classifier on a fixed evaluation set.

    ``ord = 0``: the number of changed predictions,
    ``#{i : ref_i != new_i}`` (any hashable labels; returned as ``int``).
    ``ord = q > 0``: the :math:`\ell_q` size of the change for numeric
    predictions (class indices, scores),
    ``(sum_i |new_i - ref_i|^q)^(1/q)``; ``ord = inf`` gives
    ``max_i |new_i - ref_i|``.  For ``0 < q < 1`` this is a quasi-norm.

    Unlike the partition measures, the label *values* matter: a classifier
    whose outputs are swapped has changed every prediction.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Predictions before and after the perturbation.
    ord : float, default 0
        ``0`` to count changes, ``q > 0`` (or ``np.inf``) for an
        :math:`\ell_q` norm of ``new - ref``.

    Returns
    -------
    int or float
        ``int`` in ``[0, n]`` for ``ord = 0``; a float ``>= 0`` otherwise.

    Notes
    -----
    Symmetric, ``0`` when no prediction changed, not invariant to
    relabelling (by design), and a deviation function in the paper's sense
    (the paper's SVM example uses the ``l0`` count).
    """
    try:
        q = float(ord)
    except (TypeError, ValueError):
        q = math.nan
    if isinstance(ord, bool) or not q >= 0:
        raise ValueError(f"ord must be 0, a number q > 0, or np.inf; got {ord!r}.")
    r = label_array(ref, "ref")
    s = label_array(new, "new")
    if r.size != s.size:
        raise ValueError(
            f"ref and new must predict the same samples: ref has {r.size} predictions, new has {s.size}."
        )
    if q == 0:
        return int(np.count_nonzero(r != s))
    if r.dtype.kind not in "biuf" or s.dtype.kind not in "biuf":
        raise ValueError(
            f"ord={ord!r} needs numeric predictions, got dtypes {r.dtype} and {s.dtype}; "
            "use ord=0 to count changed labels."
        )
    diff = np.abs(s.astype(float) - r.astype(float))
    if math.isinf(q):
        return float(diff.max())
    if q == 1:
        return float(diff.sum())
    return float(np.sum(diff**q) ** (1.0 / q))


class Reference:
    """A reference labeling encoded once, for comparing many labelings to it (attacks).

    :meth:`compare` returns ``(value, n_changed, n_clusters)``: the measure, the paper's
    ``N_c`` (:func:`changed_labels`) and the number of clusters of ``new``, from one
    encoding of ``new``.
    """

    def __init__(self, ref):
        self.codes, self.k = label_codes(ref, "ref")
        self.first = first_appearance(self.codes, self.k)
        self.labels = ref

    def compare(self, new, measure="delta", **options):
        cb, kb = label_codes(new, "new")
        if cb.size != self.codes.size:
            raise ValueError(f"new has {cb.size} labels but the reference has {self.codes.size}.")
        n_changed = int(np.count_nonzero(self.first != first_appearance(cb, kb)))
        if measure == "delta" and not options:
            value = delta_of_codes(self.codes, self.k, cb, kb)
        else:
            value = deviation(self.labels, new, measure, **options)
        return value, n_changed, kb


# --------------------------------------------------------------------------
# registry and front door
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A registered deviation measure and its documented properties.

    Attributes
    ----------
    name : str
        Registry key.
    func : callable
        ``func(ref, new, **options)``.
    range : str
        The range in words, e.g. ``"[0, n(n-1)]"``.
    bounds : callable
        ``bounds(n) -> (low, high)``, the range for ``n`` samples (default
        options).
    identical : float
        Value on two labelings of the same partition.
    symmetric : bool
        ``func(a, b) == func(b, a)``.
    relabel_invariant : bool
        Unchanged when either side's labels are renamed bijectively.
    metric : bool
        A metric on partitions (symmetric, zero only on identical
        partitions, triangle inequality).
    is_deviation : bool
        A deviation function in the paper's sense (``>= 0``, ``0`` when
        nothing changed, larger for larger changes); ``False`` for
        similarities.
    """

    name: str
    func: Callable
    range: str
    bounds: Callable[[int], tuple]
    identical: float
    symmetric: bool
    relabel_invariant: bool
    metric: bool
    is_deviation: bool

    def __call__(self, ref, new, **options):
        return self.func(ref, new, **options)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("delta", delta, "[0, n(n-1)]", lambda n: (0, n * (n - 1)), 0, True, True, True, True),
        Measure(
            "biggio", biggio_distance, "[0, sqrt(n(n-1))]",
            lambda n: (0.0, math.sqrt(n * (n - 1))), 0.0, True, True, True, True,
        ),
        Measure("rand_deviation", rand_deviation, "[0, 1]", lambda n: (0.0, 1.0), 0.0, True, True, True, True),
        Measure("ari", ari, "[-1/2, 1]", lambda n: (-0.5, 1.0), 1.0, True, True, False, False),
        Measure("nmi", nmi, "[0, 1]", lambda n: (0.0, 1.0), 1.0, True, True, False, False),
        Measure("changed_labels", changed_labels, "[0, n-1]", lambda n: (0, n - 1), 0, True, True, True, True),
        Measure(
            "changed_labels_matched", partial(changed_labels, match=True), "[0, n-1]",
            lambda n: (0, n - 1), 0, True, True, True, True,
        ),
        Measure(
            "prediction_changes", prediction_changes, "[0, n] (ord=0)",
            lambda n: (0, n), 0, True, False, True, True,
        ),
    )
}
"""Registered measures by name; each entry is a callable :class:`Measure`."""


def deviation(ref, new, measure: str = "delta", **options):
    """Deviation between two labelings by measure name.

    Parameters
    ----------
    ref, new : array-like of shape (n_samples,)
        Two labelings of the same samples.
    measure : str, default "delta"
        A key of :data:`MEASURES`: ``"delta"``, ``"biggio"``,
        ``"rand_deviation"``, ``"ari"``, ``"nmi"``, ``"changed_labels"``,
        ``"changed_labels_matched"``, ``"prediction_changes"``.
    **options
        Passed to the measure (``average_method`` for ``"nmi"``, ``ord`` for
        ``"prediction_changes"``, ``match`` for ``"changed_labels"``).

    Returns
    -------
    int or float
        The measure's value; see its function for formula and range.
    """
    try:
        m = MEASURES[measure]
    except (KeyError, TypeError):
        raise ValueError(f"unknown measure {measure!r}; choose one of {sorted(MEASURES)}.") from None
    return m(ref, new, **options)
