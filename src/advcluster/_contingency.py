"""Labels as integer codes, the contingency table of two labelings, and the best matching of
their clusters: what the deviation measures are computed from."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

# Contingency tables with at most this many cells (or 4 n) are counted densely
# with np.bincount; larger ones go through a sparse matrix.
DENSE_TABLE_CELLS = 1 << 20
# Hungarian matching on a dense table up to this many cells; beyond, a sparse
# min-weight matching on the nonzero cells only.
DENSE_MATCH_CELLS = 1 << 20


def label_array(labels, name: str) -> np.ndarray:
    """Return ``labels`` as a non-empty 1-D array without missing values."""
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a 1-D sequence of hashable labels ({exc}); "
            "to use tuples as labels, pass a 1-D object array."
        ) from None
    if arr.ndim != 1:
        hint = " Use np.ravel(labels) for a column vector." if arr.ndim == 2 and 1 in arr.shape else ""
        raise ValueError(f"{name} must be 1-D (n_samples,), got {arr.ndim}-D with shape {arr.shape}.{hint}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; a labeling needs at least one sample.")
    kind = arr.dtype.kind
    if kind in "fc":
        bad = np.isnan(arr)
    elif kind in "mM":
        bad = np.isnat(arr)
    elif kind == "O":
        bad = np.fromiter((is_nan_like(x) for x in arr), dtype=bool, count=arr.size)
    else:
        bad = None
    if bad is not None and bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} contains NaN at position {i} ({int(bad.sum())} in all); "
            "labels must not be missing: drop those samples or give them a label."
        )
    return arr


def is_nan_like(x) -> bool:
    try:
        return bool(x != x)
    except Exception:  # elements whose comparison is not a plain bool
        return False


def label_codes(labels, name: str) -> tuple[np.ndarray, int]:
    """Codes ``0..K-1`` (in sorted-label order where labels sort) and ``K``."""
    arr = label_array(labels, name)
    n = arr.size
    if arr.dtype.kind in "biu":
        work = arr.astype(np.int64) if arr.dtype.kind == "b" or arr.dtype.itemsize < 8 else arr
        lo = work.min()
        span = int(work.max()) - int(lo) + 1
        if span <= 2 * n + 1024:  # O(n) coding by a lookup table, no sort
            shifted = (work - lo).astype(np.intp)
            present = np.bincount(shifted, minlength=span) > 0
            lookup = np.cumsum(present, dtype=np.intp) - 1
            return lookup[shifted], int(lookup[-1]) + 1
    try:
        uniq, inverse = np.unique(arr, return_inverse=True)
        return inverse.ravel().astype(np.intp, copy=False), len(uniq)
    except TypeError:  # object labels that do not sort (mixed types): hash them
        pass
    table: dict = {}
    try:
        codes = np.fromiter((table.setdefault(x, len(table)) for x in arr), dtype=np.intp, count=n)
    except TypeError as exc:
        raise ValueError(f"{name} must contain hashable labels: {exc}") from None
    return codes, len(table)


def code_pair(ref, new) -> tuple[np.ndarray, int, np.ndarray, int]:
    ca, ka = label_codes(ref, "ref")
    cb, kb = label_codes(new, "new")
    if ca.size != cb.size:
        raise ValueError(
            f"ref and new must label the same samples: ref has {ca.size} labels, new has {cb.size}."
        )
    return ca, ka, cb, kb


def contingency(ca, ka, cb, kb):
    """Nonzero cells of the contingency table: ``(rows, cols, counts)``, O(n + K K')."""
    n = ca.size
    if ka * kb <= max(4 * n, DENSE_TABLE_CELLS):
        table = np.bincount(ca * kb + cb, minlength=ka * kb)
        cells = np.flatnonzero(table)
        return cells // kb, cells % kb, table[cells].astype(np.int64, copy=False)
    m = sp.csr_array((np.ones(n, dtype=np.int64), (ca, cb)), shape=(ka, kb))
    m.sum_duplicates()
    m = m.tocoo()
    return m.row.astype(np.intp), m.col.astype(np.intp), m.data.astype(np.int64, copy=False)


def delta_of_codes(ca, ka, cb, kb) -> int:
    """``sum_k a_k^2 + sum_l b_l^2 - 2 sum_kl N_kl^2`` as an exact Python int."""
    _, _, counts = contingency(ca, ka, cb, kb)
    a = np.bincount(ca, minlength=ka).astype(np.int64)
    b = np.bincount(cb, minlength=kb).astype(np.int64)
    return int(a @ a) + int(b @ b) - 2 * int(counts @ counts)


def max_matched(rows, cols, counts, ka, kb) -> int:
    """Largest ``sum_k N_{k, sigma(k)}`` over one-to-one (partial) cluster matchings.

    The maximum decomposes over the connected components of the bipartite
    graph whose edges are the nonzero cells.  A component with a single row
    or a single column keeps its largest cell; only the others need an
    assignment solve.  Near-identical fine partitions (many singletons, as
    convex clustering gives for small gamma) are thus ``O(n)``.
    """
    graph = sp.coo_array((np.ones(rows.size), (rows, ka + cols)), shape=(ka + kb, ka + kb))
    n_comp, comp = connected_components(graph, directed=False)
    edge_comp = comp[rows]
    best = np.zeros(n_comp, dtype=np.int64)
    np.maximum.at(best, edge_comp, counts)
    hard = (np.bincount(comp[:ka], minlength=n_comp) > 1) & (np.bincount(comp[ka:], minlength=n_comp) > 1)
    total = int(best[~hard].sum())
    if hard.any():
        order = np.argsort(edge_comp, kind="stable")
        starts = np.searchsorted(edge_comp[order], np.arange(n_comp + 1))
        for c in np.flatnonzero(hard):
            e = order[starts[c] : starts[c + 1]]
            r_uniq, r = np.unique(rows[e], return_inverse=True)
            c_uniq, cc = np.unique(cols[e], return_inverse=True)
            total += assignment(r, cc, counts[e], r_uniq.size, c_uniq.size)
    return total


def assignment(rows, cols, counts, ka, kb) -> int:
    """Maximum-weight matching on one connected contingency table."""
    if ka * kb <= DENSE_MATCH_CELLS:
        table = np.zeros((ka, kb), dtype=np.int64)
        table[rows, cols] = counts
        from scipy.optimize import linear_sum_assignment  # here: scipy.optimize is slow to import

        r, c = linear_sum_assignment(table, maximize=True)
        return int(table[r, c].sum())
    # Sparse: only nonzero cells are edges.  Put the smaller side on the rows and
    # give row k a private dummy column so that a full matching always exists.
    # Cost big - N_kl on real edges and big on dummies: a full matching of cost C
    # keeps exactly k_rows * big - C samples.
    if ka > kb:
        rows, cols, ka, kb = cols, rows, kb, ka
    big = float(counts.max() + 1)
    cost = np.concatenate([big - counts, np.full(ka, big)])
    r_all = np.concatenate([rows, np.arange(ka)])
    c_all = np.concatenate([cols, kb + np.arange(ka)])
    graph = sp.csr_array((cost, (r_all, c_all)), shape=(ka, kb + ka))
    r, c = min_weight_full_bipartite_matching(graph)
    return int(round(ka * big - graph[r, c].sum()))
