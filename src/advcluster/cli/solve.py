"""``advcluster solve``, and the model fit and solve warnings that ``certify`` shares."""

from __future__ import annotations

import warnings

import numpy as np

from .. import ari
from .args import UsageError, add_model, add_solver, check_memory
from .inputs import add_input, read_input
from .output import json_head, print_json, warn, save_table

# The fields of the solver's result that ``solve --json`` prints (with "objective" and "sizes").
_RESULT_KEYS = ("method", "gamma", "p", "tol", "n_clusters", "labels", "dual_objective", "kkt_residual", "success",
                "labels_certified", "n_undecided", "message", "n_iter", "time")


def add_solve(subparsers):
    p = subparsers.add_parser(
        "solve", help="convex clustering of a data file (or of a demo data set)",
        description="Solve convex clustering: min_X 1/2 sum_i ||x_i - a_i||^2 "
        "+ gamma sum_(i,j) w_ij ||x_i - x_j||_p; print the clusters and the solver's accuracy.",
    )
    add_input(p)
    add_model(p)
    add_solver(p)
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="LABELS.csv",
                     help="write one row per sample: its id (--id-column, else its 0-based row), its label, then "
                     "its centre's coordinates, named after the data's columns")
    out.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=_run_solve)


def _run_solve(args):
    data = read_input(args)
    X, shift, scale = standardized(args, data.X)
    model = fit(args, X)
    res = model.result_
    if args.out:
        _write_labels(args.out, data, res.labels, res.centers * scale + shift)
    if args.json:
        print_json({**json_head(data, args), **res.to_dict(*_RESULT_KEYS), **choices(args, model),
                    "objective": res.primal_objective, "sizes": np.bincount(res.labels),
                    "n_major_clusters": model.n_major_clusters_})
    else:
        print(f"data: {data.source}")
        print(f"{X.shape[0]} samples, {X.shape[1]} features; weights {graph_text(args)}, "
              f"{model.graph_.n_edges} edges")
        for line in choice_lines(args, model):
            print(line)
        print(res.summary())
        print(major_line(model))
        if data.truth is not None:
            print(f"agreement with {data.truth_name}: ARI = {ari(data.truth, res.labels):.3f}")
        if args.out:
            print(f"labels and centres written to {args.out}")
    warn_result(res)
    return 0


def standardized(args, X):
    """``(X used, shift, scale)``: each column to mean 0 and standard deviation 1 (a constant column
    to 0) unless --no-standardize; ``X used * scale + shift`` is the data as given."""
    if args.no_standardize:
        return X, np.zeros(X.shape[1]), np.ones(X.shape[1])
    from ..choose import standardize

    return standardize(X)


def fit(args, X):
    """The fitted :class:`~advcluster.ConvexClustering` of the model and solver options; ``args.gamma``
    and ``args.phi`` are set to the values used (chosen from the data where not given)."""
    from ..estimator import ConvexClustering  # here: scikit-learn is slow to import

    if args.n_clusters is not None and args.gamma is not None:
        raise UsageError("--n-clusters chooses gamma; give it or --gamma, not both")
    check_memory(args, X)
    model = ConvexClustering(gamma="auto" if args.gamma is None else args.gamma, weights=args.weights, k=args.k,
                             phi="auto" if args.phi is None else args.phi, method=args.method, tol=args.tol,
                             p=args.p, max_iter=getattr(args, "max_iter", None), target_clusters=args.n_clusters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # reported from the result
        try:
            model.fit(X)
        except ValueError as exc:
            if args.n_clusters is None or "clusterpath" not in str(exc):
                raise
            raise UsageError(f"--n-clusters {args.n_clusters}: {str(exc).replace('give gamma', 'give --gamma')}") \
                from None
    args.gamma, args.phi = model.gamma_, model.phi_
    return model


def choices(args, model) -> dict:
    """What was chosen for the user, for --json."""
    c = model.gamma_choice_
    return {"standardized": not args.no_standardize, "gamma_chosen": None if c is None else c.reason}


def choice_lines(args, model):
    """What was chosen for the user, in words."""
    lines = []
    if not args.no_standardize:
        lines.append("standardised: each column to mean 0 and standard deviation 1 (--no-standardize to turn off)")
    if model is None:
        return lines
    from ..choose import choices_in_words

    hints = {"phi": "give --phi to set it", "gamma": "give --gamma, or --n-clusters K, to set it"}
    return lines + [f"{line} ({hints[line.split(' =')[0]]})" for line in choices_in_words(model)]


def major_line(model):
    """The major clusters and the small groups (outliers) of a fit."""
    n = len(model.labels_)
    sizes = np.bincount(model.labels_)
    small = sizes < max(2, np.ceil(0.02 * n))
    if not small.any():
        return f"{model.n_major_clusters_} clusters, every one with at least 2% of the rows"
    return (f"{model.n_major_clusters_} major clusters (at least {int(max(2, np.ceil(0.02 * n)))} rows each) hold "
            f"{int(sizes[~small].sum())} of the {n} rows; the other {int(sizes[small].sum())} rows are in "
            f"{int(small.sum())} small group(s), outliers at this gamma")


def graph_text(args):
    return {"knn": f"knn (k={args.k}, phi={args.phi:g})", "complete": f"complete (phi={args.phi:g})",
            "uniform": "uniform"}[args.weights]


def warn_result(res):
    """Warning lines for a solve that did not converge or whose partition is not proven."""
    if not res.success:
        warn(f"the solver did not converge: {res.message}")
    if not res.labels_certified:
        warn(f"the partition is not proven: {res.n_undecided} pair(s) of neighbouring samples undecided; "
              "a smaller --tol or a gamma further from a fusion threshold usually settles it")


def _write_labels(path, data, labels, centers):
    """One row per sample: its id (the --id-column's value, else the 0-based row), its label and
    its centre, each coordinate named after its column."""
    ids = data.ids if data.ids is not None else list(range(len(labels)))
    names = data.names or [str(j) for j in range(centers.shape[1])]
    table = {data.id_name: ids, "label": labels,
             **{f"center_{name or j}": centers[:, j] for j, name in enumerate(names)}}
    save_table(path, table)
