"""Lower-level models: what the attacker's perturbed data is fed to (docs/model.md, section 5).

A model answers one question, :meth:`LowerLevel.respond`: given (perturbed) data, which labels
(and centres, where they exist)? The bilevel problems call :meth:`LowerLevel.reference` once
on the clean data, then :meth:`respond` at every evaluation.

* :class:`ConvexClusteringModel`: convex clustering, with the weight graph rebuilt on the
  perturbed data (``reweight=True``, the pipeline an attacker faces) or kept from the clean
  data; warm starts from the nearest previous solution and caches answers.
* :class:`SklearnClusterer`: any scikit-learn clusterer, refitted as a black box.
* :class:`SklearnClassifier`: poisoning: a classifier refitted on the perturbed training
  data, judged by its predictions on an evaluation set.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ._validation import Flag, Integer, check_data, check_int, renamed, validate
from .graph import GRAPH_RULES, Graph, KnnGraphs, build_graph, carry_edges, check_knn_size
from .solvers import solve
from .solvers.core import SOLVE_RULES, choose_method
from .solvers.exact1d import exact_solution

__all__ = ["Response", "LowerLevel", "ConvexClusteringModel", "SklearnClusterer", "SklearnClassifier"]


@dataclass(frozen=True, eq=False)
class Response:
    """A lower-level answer.

    Attributes
    ----------
    labels : ndarray (n,)
        Cluster labels (numbered by first appearance) or class predictions.
    centers : ndarray (n, d) or None
        Convex clustering centres ``X*``.
    success : bool
        The lower-level solve met its own accuracy test (always True for black boxes).
    message : str
        The solver's message, or ``""``.
    certified : bool
        The labels are proven to be the lower level's exact partition (always True for black
        boxes, whose labels are their answer).
    order : ndarray or None
        For one feature, the clusters in increasing order of centre, when known exactly.
    """

    labels: np.ndarray
    centers: np.ndarray | None = None
    success: bool = True
    message: str = ""
    certified: bool = True
    order: np.ndarray | None = None


class LowerLevel:
    """Base class: a cache of answers keyed by the exact bytes of the data.

    Subclasses implement ``_solve(A) -> Response``. ``n_solves`` counts real solves
    (cache hits are free).
    """

    default_deviation = "delta"

    def __init__(self, cache_size=4096):
        self.cache_size = check_int(cache_size, "cache_size", low=0)
        self._cache = OrderedDict()
        self.n_solves = 0
        self.n_replayed = 0
        self._shape = None
        self.persist_path = None
        self._clean_key = b""

    def persist(self, path) -> "LowerLevel":
        """Keep every answer on disk as well, in the SQLite file ``path``
        (:class:`advcluster.sweep.store.Memo`; None: stop), keyed by the model's parameters, its
        clean data, the package version and the exact data. Answers found there are replayed
        (``n_replayed``) instead of solved: a rerun of an interrupted attack redoes no finished
        solve. Returns the model."""
        self.persist_path = None if path is None else str(path)
        return self

    def reference(self, A) -> Response:
        """Set the model up on the clean data ``A`` and return its answer there."""
        A = check_data(A)
        self._shape = A.shape
        self._clean_key = self._key(A)
        self._setup(A)
        return self.respond(A)

    def respond(self, A) -> Response:
        """The answer on (perturbed) data ``A``: the clean data's shape, or its points followed by
        injected ones (:class:`~advcluster.perturbation.Injection`)."""
        A = self._checked(A)
        key = self._key(A)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        memo = None if self.persist_path is None else _memo(self.persist_path)
        if memo is not None:
            stored_key = self._stored_key(key)
            response = memo.get(stored_key)
            if response is not None:
                self.n_replayed += 1
                self._remember(key, response)
                return response
        response = self._solve(A)
        self.n_solves += 1
        self._remember(key, response)
        if memo is not None:
            memo.put(stored_key, response)
        return response

    def _parameters(self) -> dict:
        """What, beside the data, decides the answers (the persistent cache's key)."""
        return {"describe": self.describe()}

    def _stored_key(self, key) -> str:
        import pickle

        from . import __version__

        ident = pickle.dumps((type(self).__name__, __version__, sorted(self._parameters().items())), protocol=4)
        return hashlib.sha256(ident + self._clean_key + key).hexdigest()

    def respond_many(self, data, n_jobs=None, block=16) -> list[Response]:
        """The answers on many data sets; the same serially and in parallel (``n_jobs``, joblib).

        The data are split into blocks of ``block``; each block is answered in order by a copy
        of the model as it was at the start (its warm starts and cache), so the answers do not
        depend on ``n_jobs``. The copies' answers, solve counts and warm starts are then taken in.
        """
        block = check_int(block, "block")
        data = [self._checked(A) for A in data]
        blocks = [data[i:i + block] for i in range(0, len(data), block)]
        start = self._copy()
        if n_jobs is None or n_jobs == 1 or len(blocks) <= 1:
            answers = [_respond_block(start._copy(), b) for b in blocks]
        else:
            from joblib import Parallel, delayed

            answers = Parallel(n_jobs=n_jobs)(delayed(_respond_block)(start, b) for b in blocks)
        out = []
        for responses, keys, solves, replayed, state in answers:
            self.n_solves += solves
            self.n_replayed += replayed
            self._absorb(state)
            for key, response in zip(keys, responses):
                self._remember(key, response)
            out.extend(responses)
        return out

    def _checked(self, A):
        if self._shape is None:
            raise ValueError(f"{type(self).__name__}: call reference(A_clean) before respond().")
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[1] != self._shape[1] or A.shape[0] < self._shape[0]:
            raise ValueError(f"data of shape {A.shape} given, but the model was set up on shape {self._shape} "
                             "(perturbed data keep it; injected points come after the clean ones).")
        return A

    def why_not_injection(self) -> str:
        """'' when the model can be fed the clean points followed by injected ones, else why not."""
        return ""

    @staticmethod
    def _key(A) -> bytes:
        """The cache key of data ``A``: a hash of its exact bytes."""
        return hashlib.blake2b(np.ascontiguousarray(A).view(np.uint8), digest_size=16).digest()

    def _remember(self, key, response):
        if self.cache_size == 0:
            return
        self._cache[key] = response
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _copy(self) -> "LowerLevel":
        """A copy with its own cache (answers are shared; they are immutable)."""
        twin = copy.copy(self)
        twin._cache = OrderedDict(self._cache)
        return twin

    def _warm_state(self):
        """What a copy learned that helps later solves (warm starts); None by default."""
        return None

    def _absorb(self, state):
        """Take in a :meth:`_warm_state` from a copy."""

    def _setup(self, A):
        pass

    def _solve(self, A) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return self.describe()


def _respond_block(model, data):
    """``model``'s answers on ``data`` in order, their cache keys, its solve and replay counts and
    warm state."""
    solves, replayed = model.n_solves, model.n_replayed
    responses = [model.respond(A) for A in data]
    return (responses, [model._key(A) for A in data], model.n_solves - solves, model.n_replayed - replayed,
            model._warm_state())


_MEMOS = {}


def _memo(path):
    """The persistent cache at ``path``, opened once per process (a worker opens its own)."""
    import os

    from .sweep.store import Memo

    key = (path, os.getpid())
    if key not in _MEMOS:
        _MEMOS[key] = Memo(path)
    return _MEMOS[key]


_CONVEX_RULES = {**GRAPH_RULES, **SOLVE_RULES, "reweight": Flag(),
                 "warm_start": Flag(), "warm_pool": Integer(0)}


class ConvexClusteringModel(LowerLevel):
    """Convex clustering as the lower level.

    Parameters
    ----------
    gamma : float >= 0
        Fusion penalty.
    weights : {"knn", "complete", "uniform"}, Graph or (n, n) matrix, default "knn"
        The weight graph (:func:`advcluster.graph.build_graph`).
    k, phi : int, float
        kNN size and Gaussian bandwidth for ``"knn"`` / ``"complete"``.
    p : {1, 2}
        Norm on centre differences.
    reweight : bool, default True
        Rebuild the weight graph on the perturbed data (the whole pipeline an attacker
        faces). ``False`` keeps the clean data's graph. No effect for uniform weights or a
        given graph.
    method : {"auto", "ssnal", "admm", "exact1d"}, default "auto"
        ``"auto"``: ``"exact1d"`` for uniform weights with one feature (or ``p = 1``), else
        ``"ssnal"`` (``"admm"`` for ``p = 1``): :func:`advcluster.solvers.core.choose_method`.
        ``"exact1d"`` here skips the dual certificate: the partition is exact by construction.
    tol, label_tol : float
        Solver tolerance, and the relative tolerance that reads labels off the centres where
        their partition cannot be proven (:func:`advcluster.solve`).
    warm_start : bool, default True
        Start each iterative solve from the stored solution whose data is nearest
        (Frobenius) to the new data, among the last ``warm_pool`` solves.
    warm_pool : int, default 32
        (``history`` is its old name, still accepted with a ``FutureWarning``.)
    cache_size : int, default 4096
        Answers kept, keyed by the exact data.
    """

    def __init__(self, gamma, weights="knn", k=10, phi=0.5, p=2, reweight=True, method="auto",
                 tol=1e-6, label_tol=1e-5, warm_start=True, warm_pool=32, cache_size=4096, history=None):
        super().__init__(cache_size)
        if history is not None:  # the old name of warm_pool
            warm_pool = renamed({"history": history}, {"history": "warm_pool"}, "ConvexClusteringModel")["warm_pool"]
        checked = validate(_CONVEX_RULES, gamma=gamma, weights=weights, k=k, phi=phi, p=p, reweight=reweight,
                           method=method, tol=tol, label_tol=label_tol, warm_start=warm_start, warm_pool=warm_pool)
        for name, value in checked.items():
            setattr(self, name, value)
        self._past, self._new = [], []

    def _setup(self, A):
        self._knn = None
        if self.rebuilds_graph and self.weights == "knn":  # perturbed data's graphs: updated where points moved
            check_knn_size(self.k, A.shape[0])
            self._knn = KnnGraphs(A, self.k, self.phi)
            self._graph = self._knn.graph
        else:
            self._graph = build_graph(A, self.weights, self.k, self.phi)
        self._method = choose_method(self._graph, A.shape[1], self.p)[0] if self.method == "auto" else self.method
        self._past, self._new = [], []

    def _copy(self):
        twin = super()._copy()
        twin._past = list(self._past)
        twin._new = []
        return twin

    def _warm_state(self):
        return self._new

    def _absorb(self, state):
        if state and self.warm_pool:
            self._past.extend(state)
            del self._past[:-self.warm_pool]

    @property
    def rebuilds_graph(self) -> bool:
        """Whether the weights are recomputed on perturbed data (``reweight`` with Gaussian weights)."""
        return self.reweight and isinstance(self.weights, str) and self.weights != "uniform"

    @property
    def graph(self) -> Graph:
        """The clean data's weight graph."""
        return self._graph

    def graph_for(self, A) -> Graph:
        """The weight graph used on data ``A`` (rebuilt when ``reweight``; built afresh on the
        clean points followed by injected ones)."""
        if A.shape[0] != self._graph.n:
            return build_graph(A, self.weights, self.k, self.phi)
        if self._knn is not None:
            return self._knn.graph_for(A)
        return build_graph(A, self.weights, self.k, self.phi) if self.rebuilds_graph else self._graph

    def why_not_injection(self):
        if not isinstance(self.weights, str):
            return ("its weight graph was given for the clean points only; use weights='knn', 'complete' or "
                    "'uniform', built on the data with the injected points")
        if not self.rebuilds_graph and self.weights != "uniform":
            return ("reweight=False keeps the clean points' graph, which has no edges for injected points; "
                    "use reweight=True")
        return ""

    def _solve(self, A):
        graph = self.graph_for(A)
        if self._method == "exact1d":  # no dual certificate needed: exact by construction
            exact = exact_solution(A, self.gamma, graph, self.p)
            return Response(exact.labels, exact.centers, True, "exact partition", True, exact.order)
        x0, z0 = self._warm_start(A, graph) if self.warm_start else (None, None)
        res = solve(A, graph, self.gamma, self._method, p=self.p, tol=self.tol, x0=x0, z0=z0,
                    label_tol=self.label_tol)
        if self.warm_pool:
            entry = (A, res.centers, res.dual, graph.edges)
            self._past.append(entry)
            self._new.append(entry)
            del self._past[:-self.warm_pool]
            del self._new[:-self.warm_pool]
        return Response(res.labels, res.centers, res.success, res.message, res.labels_certified)

    def _warm_start(self, A, graph):
        """``(x0, z0)`` from the stored solution nearest to ``A`` (Frobenius, over the rows both
        have; a solution without the injected points starts them at their data), or Nones."""
        if not self._past:
            return None, None
        m = A.shape[0]
        dist = [np.sum((A[:len(P)] - P) ** 2) if len(P) <= m else np.inf for P, *_ in self._past]
        best = int(np.argmin(dist))
        if not np.isfinite(dist[best]):
            return None, None
        P, x0, z0, edges = self._past[best]
        if len(P) < m:
            x0 = np.vstack([x0, A[len(P):]])
        if not np.array_equal(edges, graph.edges):
            z0 = carry_edges(z0, edges, graph)
        return x0, z0

    def _parameters(self):
        return {name: getattr(self, name) for name in ("gamma", "weights", "k", "phi", "p", "reweight", "method",
                                                       "tol", "label_tol")}

    def describe(self):
        w = self.weights if isinstance(self.weights, str) else type(self.weights).__name__
        extra = f", k={self.k}, phi={self.phi:g}" if w in ("knn", "complete") else ""
        return (f"ConvexClusteringModel(gamma={self.gamma:g}, weights={w!r}{extra}, p={self.p}, "
                f"reweight={self.reweight}, method={self.method!r}, tol={self.tol:g})")


def _check_seed(estimator):
    params = estimator.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        raise ValueError(
            f"{type(estimator).__name__} has random_state=None, so each refit would answer differently and "
            "the deviation would measure the seed, not the perturbation; set random_state to an integer."
        )


class SklearnClusterer(LowerLevel):
    """Any scikit-learn clusterer as a black box: ``clone(estimator).fit_predict(A)``.

    Estimators with a ``random_state`` must fix it (KMeans, spectral, Gaussian mixtures).
    """

    def __init__(self, estimator, cache_size=4096):
        super().__init__(cache_size)
        if not hasattr(estimator, "fit_predict") and not hasattr(estimator, "fit"):
            raise ValueError(f"estimator must be a scikit-learn clusterer with fit_predict, got {estimator!r}.")
        _check_seed(estimator)
        self.estimator = estimator

    def _solve(self, A):
        from sklearn.base import clone

        est = clone(self.estimator)
        labels = est.fit_predict(A) if hasattr(est, "fit_predict") else est.fit(A).predict(A)
        return Response(np.asarray(labels))

    def _parameters(self):
        return {"estimator": type(self.estimator).__name__, **self.estimator.get_params(deep=False)}

    def describe(self):
        return f"SklearnClusterer({self.estimator!r})"


class SklearnClassifier(LowerLevel):
    """Poisoning a classifier: refit on the perturbed training data, predict on ``X_eval``.

    Parameters
    ----------
    estimator : scikit-learn classifier
    X_eval : array (n_eval, d) or None
        Where predictions are compared; None: the clean training data.
    y : array (n,)
        Training targets (the attacker perturbs features, not labels).

    The natural deviation is ``"prediction_changes"`` (the default for this model).
    """

    default_deviation = "prediction_changes"

    def __init__(self, estimator, X_eval, y, cache_size=4096):
        super().__init__(cache_size)
        if not hasattr(estimator, "predict"):
            raise ValueError(f"estimator must be a scikit-learn classifier with fit and predict, got {estimator!r}.")
        _check_seed(estimator)
        self.estimator = estimator
        self.X_eval = None if X_eval is None else check_data(X_eval, "X_eval")
        self.y = np.asarray(y)
        if self.y.ndim != 1:
            raise ValueError(f"y must be 1-D (n_samples,), got shape {self.y.shape}.")

    def why_not_injection(self):
        return ("the training targets y label the clean points only (injected points would need labels); "
                "poison it by moving points (Pointwise, Additive, ...)")

    def _setup(self, A):
        if self.y.shape[0] != A.shape[0]:
            raise ValueError(f"y has {self.y.shape[0]} targets but the training data has {A.shape[0]} rows.")
        if self.X_eval is not None and self.X_eval.shape[1] != A.shape[1]:
            raise ValueError(f"X_eval has {self.X_eval.shape[1]} features but the training data has {A.shape[1]}.")
        self._X_eval = A.copy() if self.X_eval is None else self.X_eval

    def _solve(self, A):
        from sklearn.base import clone

        est = clone(self.estimator).fit(A, self.y)
        return Response(np.asarray(est.predict(self._X_eval)))

    def _parameters(self):
        return {"estimator": type(self.estimator).__name__, **self.estimator.get_params(deep=False),
                "y": self.y, "X_eval": self.X_eval}

    def describe(self):
        return f"SklearnClassifier({self.estimator!r})"
