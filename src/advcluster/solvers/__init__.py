"""Convex clustering solvers: one front door (:func:`solve`), a registry of methods."""

from . import admm, exact1d, ssnal  # noqa: F401  (register the methods)
from .core import METHODS, clusterpath, solve
from .labels import LABEL_RULES, labels_from_centers
from .result import ClusteringResult

__all__ = ["solve", "clusterpath", "METHODS", "ClusteringResult", "labels_from_centers", "LABEL_RULES"]
