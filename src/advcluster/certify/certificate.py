"""Theorem 2 of Zheng & Li (2025): Theorem 5's conditions on perturbed data ``A + E`` with the
unperturbed partition; when they hold, the clustering of ``A + E`` is that of ``A``."""

from __future__ import annotations

from dataclasses import dataclass

from .._records import Record
from .._validation import check_data, check_gamma
from ._inputs import check_like, partition, resolve_weights
from .recovery import RecoveryBounds, bounds_for


@dataclass(frozen=True, eq=False)
class Certificate(Record):
    """Theorem 2 of Zheng & Li (2025) for one perturbation ``E``.

    Attributes
    ----------
    holds : bool
        True: the clustering of ``A + E`` at ``gamma`` is guaranteed to be the
        unperturbed partition.  False: the sufficient conditions fail (the clustering
        may or may not change).
    gamma : float
    bounds : RecoveryBounds
        The tilde quantities: Theorem 5 on ``A + E`` with the unperturbed partition and
        the weights of the pipeline (fixed, or recomputed on ``A + E``).
    gamma_min_margin : float
        ``gamma - gamma~_min`` (needs ``>= 0``).
    gamma_max_margin : float
        ``gamma~_max - gamma`` (needs ``> 0``).
    c1_slack : float
        ``min (n_a w~_ij - mu~_ij)`` over internal edges (needs ``> 0`` and no missing pair).
    c2_margin : float
        ``gamma~_max - gamma~_min`` (needs ``> 0``).
    recomputed : bool
        Whether the weights were recomputed from ``A + E``.
    reason : str
        Which condition fails and by how much ('' when it holds).
    """

    holds: bool
    gamma: float
    bounds: RecoveryBounds
    gamma_min_margin: float
    gamma_max_margin: float
    c1_slack: float
    c2_margin: float
    recomputed: bool
    reason: str

    def __str__(self):
        head = "holds: the clustering is guaranteed unchanged" if self.holds else f"does not hold: {self.reason}"
        return "\n".join([
            f"Certificate (Zheng & Li 2025, Thm 2) at gamma = {self.gamma:g}, weights "
            f"{'recomputed on A + E' if self.recomputed else 'fixed'}: {head}",
            f"  margins: gamma - gamma~_min = {self.gamma_min_margin:.6g}, gamma~_max - gamma = "
            f"{self.gamma_max_margin:.6g}, (C1) slack = {self.c1_slack:.6g}, (C2) gamma~_max - gamma~_min = "
            f"{self.c2_margin:.6g}",
        ])


def certify(A, labels, weights, gamma, E, p=2) -> Certificate:
    r"""Is the clustering of ``A`` guaranteed to survive the perturbation ``E``?

    The paper's Theorem 2: compute the quantities of Theorem 5 on ``A + E`` with the
    unperturbed partition ``labels`` (tilde quantities).  If (C1~), (C2~), distinct
    centroids and ``gamma~_min <= gamma < gamma~_max`` hold, convex clustering of
    ``A + E`` at ``gamma`` recovers ``labels`` exactly.

    Parameters
    ----------
    A : array (n_samples, n_features)
    labels : array-like (n_samples,)
        The unperturbed partition (typically the clustering of ``A`` at ``gamma``).
    weights : Graph or callable
        A Graph: fixed weights (the clean graph is kept).  A callable ``A -> Graph``:
        weights recomputed on ``A + E``.
    gamma : float >= 0
    E : array (n_samples, n_features)
        The perturbation.
    p : {2, 1, np.inf}

    Returns
    -------
    Certificate
        ``holds`` and the margins of every condition.
    """
    A = check_data(A)
    part = partition(labels, A.shape[0])
    gamma = check_gamma(gamma)
    E = check_like(E, A.shape, "E", "one perturbation row per sample")
    Ap = A + E
    graph, builder = resolve_weights(weights, Ap)
    b = bounds_for(Ap, part, graph, p)
    return Certificate(
        holds=b.recovers(gamma),
        gamma=gamma,
        bounds=b,
        gamma_min_margin=gamma - b.gamma_min,
        gamma_max_margin=b.gamma_max - gamma,
        c1_slack=b.c1_slack if not b.missing_pairs.any() else min(b.c1_slack, 0.0),
        c2_margin=b.gamma_max - b.gamma_min,
        recomputed=builder is not None,
        reason=b.why_not(gamma, mark="~"),
    )
