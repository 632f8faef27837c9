"""advcluster: adversarial-robustness analysis of convex clustering.

The public names: weight graphs, the convex clustering solvers and their result, the
scikit-learn estimator, the deviation measures between two clusterings, the certificates,
perturbations, lower-level models, the bilevel attacks and the data sets
(their front door is ``advcluster.deviation.deviation(ref, new, measure=...)``;
the module keeps the name, so the function is not exported here; likewise
``advcluster.certify.certify``).
"""

from importlib.metadata import PackageNotFoundError, version

from .certify import Certificate, CertifiedRadius, RecoveryBounds, calmness, certified_radius, recovery_bounds
from .deviation import (
    MEASURES,
    ari,
    biggio_distance,
    changed_labels,
    delta,
    nmi,
    prediction_changes,
    rand_deviation,
)
from .attacks import BL1, BL2, OPTIMIZERS, AttackResult, attack
from .datasets import list_datasets, load_dataset
from .models import ConvexClusteringModel, SklearnClassifier, SklearnClusterer
from .perturbation import Additive, FeatureShift, Injection, Multiplicative, Pointwise
from .graph import Graph, KnnGraphs, complete_graph, knn_graph, uniform_graph
from .solvers import METHODS, ClusteringResult, clusterpath, solve

# The estimator needs scikit-learn's base classes, which take about a second to import: it is
# loaded on first use, so that ``import advcluster`` and the command line start quickly.
_LAZY = {"ConvexClustering": "estimator", "UnprovenLabelsWarning": "estimator"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("advcluster")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
del PackageNotFoundError, version

__all__ = [
    "Graph",
    "KnnGraphs",
    "knn_graph",
    "complete_graph",
    "uniform_graph",
    "solve",
    "clusterpath",
    "ClusteringResult",
    "METHODS",
    "ConvexClustering",
    "UnprovenLabelsWarning",
    "delta",
    "biggio_distance",
    "rand_deviation",
    "ari",
    "nmi",
    "changed_labels",
    "prediction_changes",
    "MEASURES",
    "recovery_bounds",
    "certified_radius",
    "calmness",
    "RecoveryBounds",
    "Certificate",
    "CertifiedRadius",
    "Additive",
    "Pointwise",
    "Multiplicative",
    "FeatureShift",
    "Injection",
    "ConvexClusteringModel",
    "SklearnClusterer",
    "SklearnClassifier",
    "BL1",
    "BL2",
    "attack",
    "AttackResult",
    "OPTIMIZERS",
    "load_dataset",
    "list_datasets",
]
