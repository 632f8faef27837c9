"""Can my clustering be flipped? :func:`audit` answers for one data set and one clusterer, with
the evidence: how robust (a certified radius, where a certificate applies), how fragile (the
damage the attacks find at each budget, and by injecting a few points), the least change found
that alters the clustering (as rows, columns and amounts) and the most vulnerable rows.

Units: with ``standardize`` (the default) every column is first scaled to mean 0 and standard
deviation 1; budgets and radii are then in standard deviations, and the least change is also
given in the data's own units.

* The threat for the curve: the ``share`` of rows nearest another clean cluster's mean (the
  rows an attacker moves first, :func:`advcluster.sweep.boundary_rows`), each entry moved by at
  most the budget (``Pointwise(ord="inf")``); the deviation is ``1 - ARI`` against the clean
  clustering. A perturbation within a budget is within every larger one, so the curve reports
  at each budget the most damage found at that budget or a smaller one (``found_at`` says which):
  it never decreases.
* The least change: BL2 for any change of the partition (``delta >= 1``) with every row free
  to move, measured as the largest distance a row moves (``Pointwise(ord="point")``), the
  certified radius's own measure: a radius ``r`` proves that no change below ``r`` exists. The
  change found is verified by a fresh fit of a fresh model.
* Injection: 1 % of the rows (at most :data:`MAX_INJECTED`) added inside the data's bounding box.
* Vulnerable rows: those whose cluster changed in the attacks' answers, the most often first,
  ties by their margin (nearest another cluster first).
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._records import Record, plain

__all__ = ["Audit", "audit"]

BUDGETS = (0.1, 0.3, 1.0)
TOP = 10  # vulnerable rows listed
MAX_INJECTED = 10  # "a few points": 1 % of the rows, at most this many
RESUME_FILE = ".advcluster-audit.sqlite"  # in the output folder: the attacks an interrupted audit finished


@dataclass
class Audit(Record):
    """What :func:`audit` found; ``summary()`` in words, ``to_summary()`` as summary.json."""

    n_samples: int
    n_features: int
    model: str
    standardized: bool
    n_clusters: int
    n_major_clusters: int
    choices: list
    certified_radius: float | None
    certificate: str
    curve: list  # dicts: budget, deviation, n_changed, found_at, optimizer
    injection: dict
    min_flip_norm: float | None
    min_flip: dict
    vulnerable_points: list
    seconds: float = 0.0
    files: list = field(default_factory=list)

    def to_summary(self) -> dict:
        return plain(dict(
            n_clusters=self.n_clusters, n_major_clusters=self.n_major_clusters,
            certified_radius=self.certified_radius, min_flip_norm=self.min_flip_norm,
            curve=[[c["budget"], c["deviation"]] for c in self.curve], vulnerable_points=self.vulnerable_points,
            n_samples=self.n_samples, n_features=self.n_features, model=self.model, standardized=self.standardized,
            choices=self.choices, certificate=self.certificate, curve_detail=self.curve, injection=self.injection,
            min_flip=self.min_flip, seconds=self.seconds))

    def summary(self) -> str:
        unit = "standard deviations" if self.standardized else "the data's units"
        lines = [f"{self.n_samples} rows, {self.n_features} columns; {self.model}",
                 *self.choices,
                 f"clean clustering: {self.n_clusters} clusters ({self.n_major_clusters} major)",
                 f"robust: {self.certificate}"]
        lines.append(f"fragile (1 - ARI, moving the rows nearest another cluster, each entry by at most the budget "
                     f"in {unit}):")
        for c in self.curve:
            lines.append(f"  budget {c['budget']:g}: {c['deviation']:.3f} ({c['n_changed']} rows change cluster)")
        inj = self.injection
        if inj:
            lines.append(f"  injecting {inj['points']} point(s): {inj['deviation']:.3f} ({inj['n_changed']} rows "
                         "change cluster)")
        if self.min_flip_norm is None:
            lines.append(f"least change found: none within {self.min_flip.get('max_norm', 0):g} ({unit})")
        else:
            lines.append(f"least change found: every row within {self.min_flip_norm:.4g} ({unit}); "
                         f"{len(self.min_flip['rows'])} row(s) moved, verified by a fresh fit: "
                         f"{self.min_flip['verified']}")
        lines.append(f"most vulnerable rows: {', '.join(map(str, self.vulnerable_points)) or 'none found'}")
        return "\n".join(lines)


def audit(X, model="convex", *, ids=None, names=None, standardize=True, budgets=BUDGETS, share=0.05,
          inject=0.01, queries=20, n_clusters=None, max_flip=2.0, random_state=0, n_jobs=None, backend="loky",
          scheduler=None, out=None, progress=None, command="") -> Audit:
    """Audit the clustering of ``X`` by ``model``: ``"convex"`` (gamma and phi chosen from the data,
    ``n_clusters`` major clusters when given), a name of :data:`advcluster.clusterers.CLUSTERERS`,
    ``(name, params)``, or a lower level (:mod:`advcluster.models`). ``ids`` name the rows
    (default: 0-based), ``names`` the columns. ``out``: a folder for report.html, report.md,
    summary.json and the figures. ``progress``: a bar over the steps (None: on a terminal).
    ``backend``, ``n_jobs``, ``scheduler``: where the attacks run, as in a study
    (:data:`advcluster.sweep.BACKENDS`: loky processes, default every core; a Dask cluster; or
    serially); the answers do not depend on them. ``queries``: fits per attack (twice as many
    for the least change). An audit interrupted with ``out`` resumes: its finished attacks are
    kept in the output folder until the report is written.
    """
    from tqdm.auto import tqdm

    from .choose import major_clusters
    from .choose import standardize as _standardize
    from .sweep.backends import check_backend
    from .sweep.tasks import boundary_rows

    t0 = time.perf_counter()
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    ids = list(range(n)) if ids is None else list(ids)
    if len(ids) != n:
        raise ValueError(f"ids has {len(ids)} entries for {n} rows.")
    budgets = sorted(float(b) for b in budgets)
    if not budgets or budgets[0] <= 0:
        raise ValueError("budgets must be positive numbers.")
    check_backend(backend, scheduler)
    Z, _, scale = _standardize(X) if standardize else (X, None, np.ones(d))
    lower, choices, convex = _model(model, Z, n_clusters)
    clean = lower.reference(Z).labels
    k_all, (k_major, _) = len(np.unique(clean)), major_clusters(clean[clean >= 0])
    steps = tqdm(total=len(budgets) + 3, desc="audit", unit="step", disable=None if progress is None else not progress,
                 leave=False)
    radius, certificate = _certificate(convex, Z, clean, scale if standardize else None)
    steps.update(1)
    rows = boundary_rows(Z, clean, share)
    points = max(1, min(MAX_INJECTED, int(round(inject * n))))
    jobs = [("curve", b) for b in budgets] + [("inject", points), ("flip", max_flip)]
    answers = _attacks(jobs, lower, Z, rows, queries, random_state, steps, n_jobs, backend, scheduler, out)
    changed = np.zeros(n, int)
    curve, best = [], None
    for b, res in zip(budgets, answers):
        moved = _changed(clean, res.labels[:n])
        changed += moved
        if best is None or res.deviation > best[0] + 1e-12:
            best = (res.deviation, b, int(np.count_nonzero(moved)), res.optimizer)
        curve.append(dict(budget=b, deviation=float(best[0]), found_at=best[1], n_changed=best[2],
                          optimizer=best[3]))
    res = answers[len(budgets)]
    moved = _changed(clean, res.labels[:n])
    changed += moved
    injection = dict(points=points, deviation=float(res.deviation), n_changed=int(np.count_nonzero(moved)),
                     optimizer=res.optimizer)
    res = answers[-1]
    min_flip, min_norm = _flip(res, Z, clean, ids, names, scale, max_flip, lower)
    if min_norm is not None:
        changed += _changed(clean, res.labels[:n])
    steps.close()
    margin_rank = {int(r): i for i, r in enumerate(boundary_rows(Z, clean, 1.0))}
    order = sorted((i for i in range(n) if changed[i] > 0), key=lambda i: (-changed[i], margin_rank.get(i, n)))
    result = Audit(n, d, lower.describe(), bool(standardize), int(k_all), int(k_major), choices, radius, certificate,
                   curve, injection, min_norm, min_flip, [ids[i] for i in order[:TOP]])
    result.seconds = time.perf_counter() - t0
    if out is not None:
        result.files = _write(result, Path(out), Z, clean, order[:TOP], convex, command)
        (Path(out) / RESUME_FILE).unlink(missing_ok=True)  # complete: a later audit computes afresh
        result.seconds = time.perf_counter() - t0
    return result


def _attacks(jobs, lower, Z, rows, queries, random_state, steps, n_jobs=None, backend="loky", scheduler=None,
             out=None):
    """The attacks' answers, in the order of ``jobs``, run by the sweep engine's back-ends
    (:func:`advcluster.sweep.backends.unordered`). Each attacks its own copy of the clean model,
    so the answers do not depend on the back-end or ``n_jobs``. With ``out``, each answer is kept
    in ``out``/:data:`RESUME_FILE` as it arrives, and a rerun of an interrupted audit with the same
    data and settings replays those instead of attacking again."""
    from .sweep.backends import unordered

    memo, keys, answers = None, {}, {}
    if out is not None:
        from .sweep.store import Memo

        memo = Memo(Path(out) / RESUME_FILE)
        for i, job in enumerate(jobs):
            keys[i] = _job_key(job, lower, Z, rows, queries, random_state)
            hit = memo.get(keys[i])
            if hit is not None:
                answers[i] = hit
                steps.update(1)
    # The longest first, so that two processes finish together: the least change (twice the
    # queries), the largest budget, the injection, then the other budgets.
    top = max((arg for kind, arg in jobs if kind == "curve"), default=None)
    rank = {"flip": 0, "inject": 2}
    todo = sorted((i for i in range(len(jobs)) if i not in answers),
                  key=lambda i: (rank.get(jobs[i][0], 1 if jobs[i][1] == top else 3), -jobs[i][1]))
    try:
        calls = [(jobs[i], lower, Z, rows, queries, random_state) for i in todo]
        for k, res in unordered(_one_attack, calls, backend, n_jobs, scheduler):
            answers[todo[k]] = res
            if memo is not None:
                memo.put(keys[todo[k]], res)
            steps.update(1)
    finally:
        if memo is not None:
            memo.close()
    return [answers[i] for i in range(len(jobs))]


def _job_key(job, lower, Z, rows, queries, random_state) -> str:
    """What one attack computes: the job, the model's kind and parameters, the data, the rows it
    may move, its settings and the package version."""
    import hashlib
    import pickle

    from . import __version__

    ident = pickle.dumps((job, type(lower).__name__, sorted(lower._parameters().items()), queries, random_state,
                          __version__), protocol=4)
    return hashlib.sha256(ident + np.ascontiguousarray(Z).tobytes() + np.asarray(rows).tobytes()).hexdigest()


def _one_attack(job, lower, Z, rows, queries, random_state):
    """One attack of the audit: the curve at a budget, the injection, or the least change."""
    from .attacks import BL1, BL2, attack
    from .perturbation import Injection, Pointwise

    kind, arg = job
    lower = copy.deepcopy(lower)  # its own copy: warm starts and caches of one attack stay out of the others
    if kind == "curve":
        problem = BL1(lower, Z, Pointwise(index=rows, ord="inf"), arg, deviation="ari")
    elif kind == "inject":
        problem = BL1(lower, Z, Injection(arg, ord="count"), arg, deviation="ari")
    else:
        problem = BL2(lower, Z, Pointwise(ord="point"), 1, deviation="delta", max_norm=arg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return attack(problem, "auto", random_state=random_state, max_evals=queries * (2 if kind == "flip" else 1),
                      progress=False)


def _model(model, Z, n_clusters):
    """``(lower level, what was chosen in words, the fitted estimator or None)``."""
    from .choose import choices_in_words
    from .clusterers import make_model
    from .estimator import ConvexClustering
    from .models import ConvexClusteringModel, LowerLevel

    if isinstance(model, LowerLevel):
        return model, [], None
    name, params = (model, {}) if isinstance(model, str) else model
    if name != "convex":
        if n_clusters is not None:
            raise ValueError("n_clusters chooses convex clustering's gamma; give the clusterer's own parameter "
                             "(e.g. kmeans:n_clusters=3)")
        return make_model(name, **params), [], None
    gamma, phi = params.get("gamma", "auto"), params.get("phi", "auto")
    k = params.get("k", 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ConvexClustering(gamma=gamma, phi=phi, k=k, target_clusters=n_clusters).fit(Z)
    return ConvexClusteringModel(est.gamma_, k=k, phi=est.phi_), choices_in_words(est), est


def _certificate(est, Z, clean, scale=None):
    """``(radius or None, in words)``; ``scale``: the columns' standard deviations, for the radius
    in the data's units."""
    if est is None:
        return None, "no certificate: the certified radius covers convex clustering only"
    import functools

    from .certify import certified_radius
    from .graph import knn_graph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = certified_radius(Z, clean, functools.partial(knn_graph, k=est.k, phi=est.phi_), est.gamma_)
    if r.radius > 0:
        op = "<=" if r.attained else "<"
        own = ("" if scale is None or not math.isfinite(r.radius) else
               f"; in the data's units, every row may move by {r.radius * scale.min():.4g} in any direction (the "
               "smallest column's standard deviation times the radius)")
        return float(r.radius), (f"certified radius {r.radius:.4g}: no change with every row moving {op} "
                                 f"{r.radius:.4g} alters the clustering (Theorem 2, kNN weights recomputed){own}")
    if r.binding == "clean":
        return 0.0, ("certified radius 0: the recovery conditions do not hold for this clustering with kNN "
                     "weights ((C1) needs a positive weight on every pair inside a cluster, and a kNN graph links "
                     "near neighbours only); complete Gaussian weights can meet it where clusters are well "
                     "separated (advcluster certify --weights complete --radius)")
    return 0.0, f"certified radius 0: {r.reason}"


def _flip(res, Z, clean, ids, names, scale, max_flip, lower):
    """The least change found, as data, verified by a fresh fit of a fresh model."""
    if not res.feasible:
        return dict(max_norm=max_flip), None
    E = res.E[: len(clean)]
    moved = np.flatnonzero(np.linalg.norm(E, axis=1) > 0)
    fresh = _fresh(lower)
    fresh_clean = fresh.reference(Z).labels
    after = fresh.respond(Z + E).labels
    verified = bool(np.any(_changed(fresh_clean, after)))
    names = list(names) if names is not None else [str(j) for j in range(Z.shape[1])]
    changes = []
    for i in moved:
        for j in np.flatnonzero(E[i]):
            changes.append(dict(row=ids[i], column=names[j], change=float(E[i, j]),
                                change_in_data_units=float(E[i, j] * scale[j])))
    changes.sort(key=lambda c: -abs(c["change"]))
    return dict(rows=[ids[i] for i in moved], changes=changes, verified=verified, max_norm=max_flip,
                n_changed=int(res.n_changed)), float(res.norm)


def _fresh(lower):
    """A new lower level like ``lower`` (no cache, no warm start)."""
    from .models import ConvexClusteringModel

    if isinstance(lower, ConvexClusteringModel):
        return ConvexClusteringModel(lower.gamma, weights=lower.weights, k=lower.k, phi=lower.phi, p=lower.p,
                                     warm_start=False)
    twin = copy.deepcopy(lower)
    twin._cache.clear()
    return twin


def _write(result, out, Z, clean, top, est, command):
    """report.html, report.md, summary.json and the figures; the paths written."""
    from . import __version__
    from .io import atomic_write
    from .report import write_report

    out.mkdir(parents=True, exist_ok=True)
    figures = []
    try:
        figures = _figures(result, out, Z, clean, top, est)
    except ImportError:
        pass
    unit = "standard deviations" if result.standardized else "the data's units"
    sections = [
        dict(name="summary", title="Summary", text=result.summary().replace("\n", "\n\n"),
             params=dict(rows=result.n_samples, columns=result.n_features, model=result.model,
                         standardized=result.standardized, clusters=result.n_clusters,
                         major_clusters=result.n_major_clusters)),
        dict(name="robust", title="How robust: the certificate", text=result.certificate),
        dict(name="fragile", title="How fragile: the damage the attacks find",
             text=f"1 - ARI against the clean clustering, moving the rows nearest another cluster, each entry by at "
                  f"most the budget in {unit}; at each budget the most damage found at it or a smaller one. "
                  f"Injection: {result.injection.get('points')} point(s) added inside the data's bounding box.",
             table={k: [c[k] for c in result.curve] for k in ("budget", "deviation", "n_changed", "found_at",
                                                               "optimizer")},
             figures=[f for f in figures if f.name.startswith("curve")]),
        dict(name="flip", title="The least change found that alters the clustering",
             text=("none found within the search range" if result.min_flip_norm is None else
                   f"every row moves at most {result.min_flip_norm:.4g} ({unit}); verified by a fresh fit: "
                   f"{result.min_flip['verified']}"),
             table=({k: [c[k] for c in result.min_flip.get("changes", [])] for k in
                     ("row", "column", "change", "change_in_data_units")} if result.min_flip.get("changes") else None)),
        dict(name="vulnerable", title="The most vulnerable rows",
             text="Rows whose cluster changed in the attacks' answers, the most often first: "
                  + (", ".join(map(str, result.vulnerable_points)) or "none"),
             figures=[f for f in figures if f.name.startswith("clusters")]),
    ]
    path_figs = [f for f in figures if f.name.startswith("clusterpath")]
    if path_figs:
        sections.append(dict(name="clusterpath", title="The clusterpath", figures=path_figs,
                             text="Every row's centre as gamma grows, and the dendrogram of the fusions."))
    meta = dict(title="advcluster audit: can this clustering be flipped?", version=__version__,
                date=datetime.date.today().isoformat(), command=command or "advcluster.audit(...)",
                total_time=result.seconds)
    md, html = write_report(sections, out, meta)
    with atomic_write(out / "summary.json") as fh:
        json.dump(result.to_summary(), fh, indent=1, allow_nan=False)
    return [md, html, out / "summary.json", *figures]


def _figures(result, out, Z, clean, top, est):
    """The clusters in 2-D with the vulnerable rows marked, the curve, and (convex) the clusterpath."""
    from . import plotting

    fig, (ax,) = plotting._new_figure(1)
    if Z.shape[1] > 2:
        mean = Z.mean(axis=0)
        P = (Z - mean) @ np.linalg.svd(Z - mean, full_matrices=False)[2][:2].T
    else:
        P = Z if Z.shape[1] == 2 else np.column_stack([Z[:, 0], np.zeros(len(Z))])
    ax.scatter(P[:, 0], P[:, 1], c=clean, cmap="tab10", s=10)
    if top:
        ax.scatter(P[top, 0], P[top, 1], s=90, facecolors="none", edgecolors="red", linewidths=1.5,
                   label="most vulnerable rows")
        ax.legend(loc="best")
    ax.set_xlabel("principal component 1" if Z.shape[1] > 2 else "column 1")
    ax.set_ylabel("principal component 2" if Z.shape[1] > 2 else "column 2")
    ax.set_title("the clean clustering")
    paths = plotting.save_figure(fig, out / "clusters")
    fig, (ax,) = plotting._new_figure(1)
    ax.plot([c["budget"] for c in result.curve], [c["deviation"] for c in result.curve], "o-", label="moved rows")
    if result.injection:
        ax.axhline(result.injection["deviation"], color="C1", linestyle="--",
                   label=f"{result.injection['points']} injected point(s)")
    if result.certified_radius:
        ax.axvline(result.certified_radius, color="C2", label="certified radius")
    ax.set_xlabel("budget per entry" + (" (standard deviations)" if result.standardized else ""))
    ax.set_ylabel("1 - ARI")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best")
    ax.set_title("the damage found at each budget")
    paths += plotting.save_figure(fig, out / "curve")
    if est is not None and est.gamma_choice_ is not None and len(Z) <= 3000:
        from .solvers.core import clusterpath

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gammas = est.gamma_choice_.gammas
            path = clusterpath(Z, est.graph_, gammas, certify=False)
        fig = plotting.plot_clusterpath(Z, gammas, [r.centers for r in path], [r.labels for r in path])
        paths += plotting.save_figure(fig, out / "clusterpath")
    return [p for p in paths if p.suffix == ".png"]


def _changed(clean, labels):
    """Rows whose cluster changed (1) or not (0): after the best one-to-one matching of the new
    clusters to the clean ones (the most rows kept; Hungarian algorithm on the contingency table),
    the rows whose new cluster is not matched to their clean one. Their number is the matched
    ``N_c`` (:func:`advcluster.deviation.changed_labels` with ``match=True``)."""
    from scipy.optimize import linear_sum_assignment

    clean_codes, a = np.unique(np.asarray(clean), return_inverse=True)
    new_codes, b = np.unique(np.asarray(labels), return_inverse=True)
    table = np.zeros((clean_codes.size, new_codes.size), int)
    np.add.at(table, (a, b), 1)
    r, c = linear_sum_assignment(-table)
    partner = np.full(new_codes.size, -1)
    partner[c] = r
    return (partner[b] != a).astype(int)
