"""One task of a study, run where a worker runs it: :func:`run_task` ``(spec) -> outcome``.

A task builds everything from its specification (data, model, threat model, attack), so its
answer depends on nothing else: not on the worker, the back-end or what ran before. Only the
data-dependent choices of a model (``gamma = "auto"``, ``phi = "auto"``) and the loaded data are
kept per process, since they are the same for every task that asks.
"""

from __future__ import annotations

import functools
import json
import time
import traceback
import warnings

import numpy as np

__all__ = ["AUTO", "boundary_rows", "run_task"]

AUTO = {"convex": ("gamma", "phi"), "dbscan": ("eps",)}
"""The parameters a config may set to ``"auto"``: chosen from the data (:func:`_params`)."""


def run_task(spec, cache=None) -> dict:
    """``{"status": "done" | "failed", "result": {...} | None, "error": str, "seconds": float}``.

    A task that raises is an outcome too (``failed``, with the error's type and message), so a
    study goes on past it. ``cache``: a file where the model keeps its answers
    (:meth:`~advcluster.models.LowerLevel.persist`), so a rerun replays finished fits.
    """
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the result counts failed and unproven solves
            result, error, status = _attack(spec, cache), "", "done"
    except Exception as exc:  # noqa: BLE001 - recorded, not hidden
        result, status = None, "failed"
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if not str(exc):
            error += " at " + traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()
    return dict(status=status, result=result, error=error, seconds=time.perf_counter() - t0)


def _attack(spec, cache) -> dict:
    from ..attacks import BL1, BL2, attack
    from ..clusterers import make_model
    from ..deviation import ari, delta

    X, classes = _data(json.dumps(spec["dataset"], sort_keys=True), spec["standardize"])
    params = _params(json.dumps(spec["model"], sort_keys=True), json.dumps(spec["dataset"], sort_keys=True),
                     spec["standardize"])
    model = make_model(spec["model"]["name"], **params).persist(cache)
    clean = model.reference(X).labels
    threat = _threat(spec["threat"], X, clean, spec["seed"])
    if spec["problem"] == "bl1":
        budget = threat.n_points if spec["level"] == "points" else spec["level"]
        problem = BL1(model, X, threat, budget, deviation=spec["deviation"])
    else:
        problem = BL2(model, X, threat, spec["level"], deviation=spec["deviation"],
                      max_norm=spec["threat"].get("max_norm"))
    a = spec["attack"]
    res = attack(problem, a["name"], random_state=spec["seed"], max_evals=spec["max_evals"], progress=False,
                 **a["options"])
    n, after = len(clean), res.labels[:len(clean)]
    return dict(
        n_samples=X.shape[0], n_features=X.shape[1], n_params=problem.n_params,
        **({"budget_value": float(problem.budget)} if spec["problem"] == "bl1" else {}),
        **{f"model_{k}": v for k, v in params.items() if k in ("gamma", "phi", "n_clusters", "n_components")},
        clean_clusters=int(np.unique(clean[clean >= 0]).size), optimizer=res.optimizer, measure=res.measure,
        deviation=float(res.deviation), norm=float(res.norm), n_changed=int(res.n_changed),
        clusters=int(res.n_clusters), ari=float(ari(clean, after)),
        delta_share=delta(clean, after) / (n * (n - 1)) if n > 1 else 0.0,
        feasible=bool(res.feasible), success=bool(res.success), n_evals=int(res.n_evals),
        n_solves=int(res.n_solves), n_uncertified=int(res.n_uncertified), message=res.message,
    )


@functools.lru_cache(maxsize=8)
def _data(dataset_json, standardize):
    from ..choose import standardize as standardized
    from .config import load_data

    X, classes = load_data(json.loads(dataset_json))
    X = standardized(X)[0] if standardize else np.asarray(X, dtype=float)
    X.setflags(write=False)
    return X, classes


@functools.lru_cache(maxsize=64)
def _params(model_json, dataset_json, standardize) -> dict:
    """The model's parameters with the data-dependent ones chosen: ``"classes"``; for convex
    clustering ``gamma``/``phi = "auto"`` (:func:`~advcluster.choose.gamma_for_clusters`,
    :func:`~advcluster.choose.scaled_phi`); for DBSCAN ``eps = "auto"``
    (:func:`~advcluster.choose.neighbour_scale`)."""
    from ..choose import gamma_for_clusters, neighbour_scale, scaled_phi

    m = json.loads(model_json)
    X, classes = _data(dataset_json, standardize)
    params = {k: (classes if v == "classes" else v) for k, v in m["params"].items()}
    if m["name"] == "convex":
        k = params.get("k", 10)
        if params.get("phi") == "auto":
            params["phi"] = scaled_phi(X, k)
        if params.get("gamma") == "auto":
            params["gamma"] = gamma_for_clusters(X, m.get("max_clusters", 2 * (classes or 1)), k,
                                                 params.get("phi", 0.5))
    if m["name"] == "dbscan" and params.get("eps") == "auto":
        params["eps"] = neighbour_scale(X, params.get("min_samples", 5))
    return params


def boundary_rows(X, labels, share) -> np.ndarray:
    """The ``share`` of points nearest another clean cluster's mean, relative to their own: the
    points an attacker would move first (sorted indices). With one cluster: the farthest from
    the mean."""
    count = max(1, int(round(share * len(X))))
    ks = np.unique(labels[labels >= 0])
    if ks.size < 2:
        return np.sort(np.argsort(np.linalg.norm(X - X.mean(0), axis=1), kind="stable")[-count:])
    means = np.stack([X[labels == c].mean(0) for c in ks])
    dist = np.linalg.norm(X[:, None] - means[None], axis=2)
    own = np.where(labels[:, None] == ks[None], dist, np.inf).min(axis=1)
    own = np.where(np.isfinite(own), own, 0.0)  # noise points (label -1) have no own cluster
    other = np.where(labels[:, None] == ks[None], np.inf, dist).min(axis=1)
    return np.sort(np.argsort(other - own, kind="stable")[:count])


def _threat(t, X, clean, seed):
    from ..perturbation import Additive, FeatureShift, Injection, Pointwise

    n = X.shape[0]
    if t["kind"] == "injection":
        points = t.get("points") or max(1, int(round(t["share"] * n)))
        return Injection(points, ord=t["norm"])
    features = t.get("features")
    if t["kind"] == "feature-shift":
        return FeatureShift(features=features, ord=t["norm"])
    rows = t.get("rows")
    if rows is None:
        if t["select"] == "boundary":
            rows = boundary_rows(X, clean, t["share"])
        else:
            count = max(1, int(round(t["share"] * n)))
            rows = np.sort(np.random.default_rng(seed).choice(n, count, replace=False))
    cls = Pointwise if t["kind"] == "rows" else Additive
    return cls(index=np.asarray(rows), features=features, ord=t["norm"])
