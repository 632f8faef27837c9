"""Convex clustering as a scikit-learn estimator: thin glue over :func:`advcluster.solve`."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import ConvergenceWarning

from ._validation import validate
from .choose import choose_gamma, major_clusters, scaled_phi
from .graph import GRAPH_RULES, build_graph
from .solvers import solve
from .solvers.core import SOLVE_RULES

from sklearn.utils.validation import validate_data as _validate_data

__all__ = ["ConvexClustering", "UnprovenLabelsWarning"]

_RULES = {**GRAPH_RULES, **SOLVE_RULES}


class UnprovenLabelsWarning(UserWarning):
    """The partition a fit reports is not proven exact: some pairs of neighbouring samples may
    be fused or separated wrongly (``result_.n_undecided`` of them are undecided)."""



class ConvexClustering(ClusterMixin, BaseEstimator):
    r"""Convex clustering (sum-of-norms clustering, clusterpath).

    Each sample :math:`a_i` (row ``i`` of ``X``) gets a centre :math:`x_i`; the centres solve

    .. math::

        \min_{X}\; \frac12 \sum_{i=1}^{n} \|x_i - a_i\|_2^2
        \;+\; \gamma \sum_{(i,j) \in E,\, i<j} w_{ij}\, \|x_i - x_j\|_p ,

    a strongly convex problem with a unique solution. Samples whose centres coincide form a
    cluster; larger ``gamma`` fuses more. The problem is solved by :func:`advcluster.solve`,
    which proves the partition it reports where it can (``labels_certified_``), and the full
    result, with its optimality evidence (objective, dual objective, KKT residual), is kept in
    ``result_``. Clustering is transductive: there
    is ``fit_predict`` but no ``predict``.

    Parameters
    ----------
    gamma : float or "auto", default=1.0
        Fusion penalty :math:`\gamma \ge 0`. ``gamma = 0`` leaves every sample alone.
        ``"auto"``: chosen from the clusterpath (:func:`advcluster.choose.choose_gamma`): the
        gamma with ``target_clusters`` major clusters when that is given, else the most stable
        clustering of the path; ``gamma_choice_`` says what was chosen and why.
    weights : {"knn", "complete", "uniform"}, Graph or array of shape (n_samples, n_samples), \
default="knn"
        The weight graph :math:`(E, w)`.

        - ``"knn"``: union k-nearest-neighbour graph with Gaussian weights
          :math:`w_{ij} = \exp(-\phi \|a_i - a_j\|^2)` (:func:`advcluster.knn_graph`, the
          SSNAL paper's default);
        - ``"complete"``: all pairs, Gaussian weights (:func:`advcluster.complete_graph`);
        - ``"uniform"``: all pairs, :math:`w_{ij} = 1` (:func:`advcluster.uniform_graph`);
        - a precomputed :class:`advcluster.Graph` on ``n_samples`` nodes;
        - a symmetric non-negative dense or sparse matrix of shape (n_samples, n_samples)
          (:meth:`advcluster.Graph.from_matrix`; the diagonal is ignored).

        ``"knn"`` and ``"complete"`` are recomputed from ``X`` at every ``fit``.
    k : int, default=10
        Neighbours per sample for ``weights="knn"``. Must be smaller than ``n_samples``:
        ``k >= n_samples`` raises ``ValueError`` (the graph would not be the one asked for;
        it is never shrunk silently). Ignored by the other weights.
    phi : float or "auto", default=0.5
        Gaussian bandwidth :math:`\phi \ge 0` for ``"knn"`` and ``"complete"``. ``"auto"``:
        ``0.5 / m``, ``m`` the median squared distance of a sample to its ``k`` nearest
        neighbours (:func:`advcluster.choose.scaled_phi`): weights on the data's scale.
    method : {"auto", "ssnal", "admm", "exact1d"}, default="auto"
        The solver (:data:`advcluster.METHODS`). ``"exact1d"`` needs ``weights="uniform"``
        and one feature (or ``p=1``); ``"auto"`` takes it there, else ``"ssnal"`` (``"admm"``
        for ``p=1``).
    tol : float, default=1e-6
        Stop when the relative KKT residual and duality gap are at most ``tol`` (measured on
        the data centred and scaled to unit spread).
    p : {1, 2}, default=2
        Norm on the centre differences.
    max_iter : int, default=None
        Outer iteration limit of the solver (``None``: the method's default).
    label_tol : float, default=1e-5
        Where the partition cannot be proven: the tolerance, relative to the data's spread,
        under which two centres count as equal.
    label_rule : {"components", "greedy"}, default="components"
        How clusters are read off the centres where the partition cannot be proven
        (:mod:`advcluster.solvers.labels`).
    target_clusters : int, default=None
        With ``gamma="auto"``: the number of major clusters (each at least 2 % of the samples,
        and 2) to choose gamma for. A ``ValueError`` when the clusterpath has no such clustering.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each sample, 0-based, numbered by first appearance.
    centers_ : ndarray of shape (n_samples, n_features)
        The solution :math:`X^*`: row ``i`` is the centre of sample ``i``.
    n_clusters_ : int
        Number of clusters found.
    n_major_clusters_ : int
        Clusters holding at least 2 % of the samples (and 2): the rest are small groups,
        outliers (:func:`advcluster.choose.major_clusters`).
    gamma_, phi_ : float
        The gamma and phi used (chosen, where ``"auto"``).
    gamma_choice_ : GammaChoice or None
        With ``gamma="auto"``: the gamma chosen, the run of the clusterpath it comes from, the
        path scanned (gammas, clusters, major clusters) and the reason, in words.
    labels_certified_ : bool
        The partition is proven exact (``result_.labels_certified``).
    n_iter_ : int
        Outer iterations the solver ran (``result_.n_iter``); where ssnal's ADMM phase settled
        the answer (it met ``tol``, or the partition was proven there), that phase's iterations.
    result_ : ClusteringResult
        Everything the solver returned: objective, dual objective, KKT residual,
        ``success``, ``message``, iterations, time (see ``result_.summary()``).
    graph_ : Graph
        The weight graph used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` has string column names (e.g. a DataFrame).

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When the solver stops before meeting ``tol`` (``result_.success`` is False); the
        warning carries the solver's message.
    UnprovenLabelsWarning
        When the partition could not be proven (``labels_certified_`` is False).

    See Also
    --------
    advcluster.solve : the function behind this estimator.
    advcluster.clusterpath : solutions along a grid of ``gamma``, warm-started.

    References
    ----------
    D. Sun, K.-C. Toh, Y. Yuan. Convex clustering: model, theoretical guarantee and efficient
    algorithm. JMLR 22(9), 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from advcluster import ConvexClustering
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1],
    ...               [5.0, 5.0], [5.1, 5.0], [5.0, 5.1]])
    >>> model = ConvexClustering(gamma=0.5, weights="uniform").fit(X)
    >>> model.labels_
    array([0, 0, 0, 1, 1, 1])
    >>> model.n_clusters_
    2
    >>> model.result_.success
    True
    >>> ConvexClustering(gamma=0.5, k=2).fit_predict(X)
    array([0, 0, 0, 1, 1, 1])
    """

    def __init__(
        self,
        gamma=1.0,
        weights="knn",
        k=10,
        phi=0.5,
        method="auto",
        tol=1e-6,
        p=2,
        max_iter=None,
        label_tol=1e-5,
        label_rule="components",
        target_clusters=None,
    ):
        self.gamma = gamma
        self.weights = weights
        self.k = k
        self.phi = phi
        self.method = method
        self.tol = tol
        self.p = p
        self.max_iter = max_iter
        self.label_tol = label_tol
        self.label_rule = label_rule
        self.target_clusters = target_clusters

    def fit(self, X, y=None):
        """Solve convex clustering on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data; rows are samples. At least two samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : ConvexClustering
            The fitted estimator.
        """
        self._check_params()
        X = _validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self.phi_ = scaled_phi(X, self.k) if self.phi == "auto" else float(self.phi)
        graph = build_graph(X, self.weights, self.k, self.phi_)
        self.gamma_choice_ = None
        if self.gamma == "auto":
            self.gamma_choice_ = choose_gamma(X, graph, self.target_clusters, self.method, self.tol)
        self.gamma_ = self.gamma_choice_.gamma if self.gamma_choice_ is not None else float(self.gamma)
        result = solve(
            X,
            graph,
            self.gamma_,
            self.method,
            p=self.p,
            tol=self.tol,
            max_iter=self.max_iter,
            label_tol=self.label_tol,
            label_rule=self.label_rule,
            progress=None,  # a bar for a long fit, where stderr is a terminal
        )
        if not result.success:
            warnings.warn(
                f"convex clustering did not converge (method {result.method!r}, tol {result.tol:.0e}, "
                f"KKT residual {result.kkt_residual:.2e}): {result.message}",
                ConvergenceWarning,
                stacklevel=2,
            )
        if not result.labels_certified:
            warnings.warn(
                f"the partition is not proven exact: {result.n_undecided} pair(s) of neighbouring samples "
                f"undecided at tol {result.tol:.0e} (gamma {result.gamma:g} may sit at a fusion threshold); "
                "labels_ reads the centres with label_tol. A smaller tol or a gamma further from the "
                "threshold usually settles it.",
                UnprovenLabelsWarning,
                stacklevel=2,
            )
        self.graph_ = graph
        self.result_ = result
        self.labels_certified_ = bool(result.labels_certified)
        self.centers_ = result.centers
        self.labels_ = result.labels
        self.n_clusters_ = int(result.n_clusters)
        self.n_major_clusters_ = major_clusters(result.labels)[0]
        self.n_iter_ = int(result.n_iter or (result.history[-1].get("admm", 0) if result.history else 0))
        return self

    def fit_predict(self, X, y=None):
        """Fit on ``X`` and return its cluster labels (``labels_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X).labels_

    # ------------------------------------------------------------------ helpers
    def _check_params(self):
        """Raise ``ValueError`` naming the first bad parameter (before any work is done)."""
        auto = {name: 1.0 for name in ("gamma", "phi") if getattr(self, name) == "auto"}
        validate(_RULES, **{"gamma": self.gamma, "phi": self.phi, **auto}, weights=self.weights, k=self.k,
                 method=self.method, p=self.p, tol=self.tol, max_iter=self.max_iter, label_tol=self.label_tol,
                 label_rule=self.label_rule)
        if self.target_clusters is not None:
            if self.gamma != "auto":
                raise ValueError(f"target_clusters={self.target_clusters!r} applies to gamma='auto' (it chooses "
                                 f"gamma); with gamma={self.gamma!r} leave target_clusters=None.")
            if isinstance(self.target_clusters, bool) or not isinstance(self.target_clusters, (int, np.integer)) \
                    or self.target_clusters < 1:
                raise ValueError(f"target_clusters must be an integer >= 1, got {self.target_clusters!r}.")
