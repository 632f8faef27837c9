"""Clusterers by name, with their parameters: convex clustering and scikit-learn's clusterers as
lower levels, for studies (:mod:`advcluster.sweep`) and the command line.

``make_model("kmeans", n_clusters=3)`` is ``SklearnClusterer(KMeans(n_clusters=3, random_state=0))``:
a clusterer that draws random numbers gets ``random_state=0`` unless one is given, so that each
refit answers the same and a deviation measures the perturbation, not the seed; one that could
write into its input gets ``copy=True`` unless told otherwise.
``make_model("convex", gamma=2.0, phi=0.5)`` is :class:`ConvexClusteringModel`.

The data-dependent choices a study may ask for (``"auto"``) are in :mod:`advcluster.choose`.
"""

from __future__ import annotations

import importlib

from .models import ConvexClusteringModel, SklearnClusterer

__all__ = ["CLUSTERERS", "make_model", "model_parameters"]

# name -> (module, class, what it is)
CLUSTERERS = {
    "convex": ("advcluster.models", "ConvexClusteringModel", "convex clustering (gamma, weights, k, phi, p, ...)"),
    "kmeans": ("sklearn.cluster", "KMeans", "k-means (n_clusters, n_init, ...)"),
    "agglomerative": ("sklearn.cluster", "AgglomerativeClustering", "hierarchical (n_clusters, linkage, ...)"),
    "gmm": ("sklearn.mixture", "GaussianMixture", "Gaussian mixture (n_components, covariance_type, ...)"),
    "spectral": ("sklearn.cluster", "SpectralClustering", "spectral clustering (n_clusters, affinity, ...)"),
    "dbscan": ("sklearn.cluster", "DBSCAN", "density-based (eps, min_samples, ...)"),
    "hdbscan": ("sklearn.cluster", "HDBSCAN", "hierarchical density-based (min_cluster_size, ...)"),
    "optics": ("sklearn.cluster", "OPTICS", "ordering points (min_samples, ...)"),
    "birch": ("sklearn.cluster", "Birch", "BIRCH (n_clusters, threshold, ...)"),
    "meanshift": ("sklearn.cluster", "MeanShift", "mean shift (bandwidth, ...)"),
    "affinity-propagation": ("sklearn.cluster", "AffinityPropagation", "affinity propagation (damping, ...)"),
}
"""Name -> (module, class, description) of every clusterer :func:`make_model` builds."""

def _class(name):
    key = str(name).strip().lower()
    if key not in CLUSTERERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(CLUSTERERS)}.")
    module, cls, _ = CLUSTERERS[key]
    return key, getattr(importlib.import_module(module), cls)


def model_parameters(name) -> list[str]:
    """The parameters the clusterer ``name`` takes."""
    key, cls = _class(name)
    if key == "convex":
        import inspect

        return [p for p in inspect.signature(cls).parameters if p not in ("history", "cache_size")]
    return sorted(cls().get_params(deep=False))


def make_model(name, **params):
    """The lower level named ``name`` (a key of :data:`CLUSTERERS`) with ``params``.

    Unknown names, unknown parameters and (for scikit-learn) bad values are ``ValueError``s that
    name the model and list what it takes.
    """
    key, cls = _class(name)
    unknown = sorted(set(params) - set(model_parameters(key)))
    if unknown:
        raise ValueError(f"model {key} takes no parameter(s) {', '.join(unknown)}; it takes "
                         f"{', '.join(model_parameters(key))}.")
    if key == "convex":
        if "gamma" not in params:
            raise ValueError("model convex needs gamma (the fusion penalty).")
        return ConvexClusteringModel(**params)
    estimator = cls(**params)
    given = estimator.get_params(deep=False)
    if "random_state" in given and params.get("random_state") is None:
        estimator.set_params(random_state=0)
    if "copy" in given and "copy" not in params:  # never write into the data (HDBSCAN's default may)
        estimator.set_params(copy=True)
    check = getattr(estimator, "_validate_params", None)  # scikit-learn's own check of the values
    if check is not None:
        try:
            check()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"model {key}: {' '.join(str(exc).split())}") from None
    return SklearnClusterer(estimator)
