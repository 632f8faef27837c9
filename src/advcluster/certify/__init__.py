r"""Certificates for convex clustering: when is a clustering guaranteed not to change?

Four tools, all about the convex clustering model of docs/model.md, section 1
(``min_X 1/2 ||X - A||_F^2 + gamma sum_{i<j} w_ij ||x_i - x_j||_p``):

* :func:`recovery_bounds`: the recovery conditions of Sun, Toh & Yuan (2021,
  Theorem 5, "the SSNAL paper") for a given partition ``V_1..V_K`` of the rows of ``A``.
* :func:`certify`: the same conditions on perturbed data ``A + E`` with the
  *unperturbed* partition (Zheng & Li 2025, Theorem 2, "the paper"): when they hold, the
  clustering of ``A + E`` is the clustering of ``A``.
* :func:`certified_radius`: the largest perturbation size for which Theorem 2
  certifies *every* perturbation, for fixed weights (closed form) and for Gaussian
  weights recomputed from the perturbed data (a monotone bound, bisection).
* :func:`calmness`: the empirical modulus ``||X*(A+E) - X*(A)||_F / ||E||_F``.

Notation (docs/model.md, section 3).  ``I_a`` are the index sets, ``n_a`` their sizes,
``abar^(a)`` the centroids, ``q`` the conjugate exponent of ``p`` (``p = 2 -> q = 2``,
``p = 1 -> q = inf``, ``p = inf -> q = 1``), and

.. math::

    w_i^{(b)} = \sum_{j \in I_b} w_{ij},\qquad
    w^{(a,b)} = \sum_{i \in I_a, j \in I_b} w_{ij},\qquad
    \mu_{ij}^{(a)} = \sum_{b \ne a} |w_i^{(b)} - w_j^{(b)}|,\quad i, j \in I_a.

(C1): ``w_ij > 0`` and ``n_a w_ij > mu_ij`` for all ``i != j`` in the same ``I_a``.

.. math::

    \gamma_{\min} = \max_a \max_{i \ne j \in I_a}
        \frac{\|a_i - a_j\|_q}{n_a w_{ij} - \mu^{(a)}_{ij}},\qquad
    \gamma_{\max} = \min_{a < b} \frac{\|\bar a^{(a)} - \bar a^{(b)}\|_q}
        {\frac{1}{n_a}\sum_{l \ne a} w^{(a,l)} + \frac{1}{n_b}\sum_{l \ne b} w^{(b,l)}}.

(C2): ``gamma_min < gamma_max``.  With (C1), (C2) and distinct centroids, every
``gamma`` in ``[gamma_min, gamma_max)`` recovers the partition exactly.

Weights: everywhere a ``weights`` argument appears it is either

* a :class:`~advcluster.graph.Graph`: the weights are *fixed*, the clean graph is
  kept for the perturbed data; or
* a callable ``A -> Graph`` (a *builder*): the weights are *recomputed* from the
  perturbed data, e.g. ``functools.partial(knn_graph, k=10, phi=0.5)``.
  :func:`certify` and :func:`calmness` accept any builder.  :func:`certified_radius`
  must know how the weights depend on the data, so it accepts exactly
  :func:`~advcluster.graph.complete_graph` and :func:`~advcluster.graph.knn_graph`,
  bare or wrapped in ``functools.partial`` with keyword arguments (``phi``, ``k``).
  Uniform weights do not depend on the data: pass ``uniform_graph(n)`` itself.

Modules: :mod:`.recovery` (Theorem 5), :mod:`.certificate` (Theorem 2), :mod:`.radius`
(the certified radius), :mod:`.calmness`; ``_inputs`` (norms, partitions, weights) and
``_structure`` (the graph's edges split by a partition) are shared by the first three.

Nothing here builds an ``n x n`` array: pairs inside a cluster are visited through
the graph's edges (when (C1) holds every such pair is an edge; when a cluster misses
some, the count of its internal edges shows it), the point-to-cluster weights
``w_i^(b)``, ``b != a(i)``, form the sparse ``n x K`` matrix ``W_cross Y`` (``Y`` the
membership matrix, ``W_cross`` the edges between clusters), and pairs of clusters are
visited in blocks of about a million (all of them up to ~4 million pairs; beyond, a
k-d tree in the q-metric prunes the pairs that cannot attain a minimum).
"""

from .calmness import calmness
from .certificate import Certificate, certify
from .radius import CertifiedRadius, certified_radius
from .recovery import RecoveryBounds, recovery_bounds

__all__ = [
    "RecoveryBounds",
    "recovery_bounds",
    "Certificate",
    "certify",
    "CertifiedRadius",
    "certified_radius",
    "calmness",
]
