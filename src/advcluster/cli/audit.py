"""``advcluster audit``: can a clustering of a data file be flipped? A report with the evidence."""

from __future__ import annotations

import sys

from .args import PROG, UsageError, add_backend, add_json, check_backend, check_memory, model_spec, number, positive_int
from .inputs import add_input, read_input
from .output import print_json


def _budgets(text):
    import argparse

    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive numbers separated by commas, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive numbers separated by commas, got {text!r}")
    return values


def add_audit(subparsers):
    p = subparsers.add_parser(
        "audit", help="can the clustering of a data file be flipped? a report with the evidence",
        description="Cluster the data, then answer with evidence: how robust (the certified radius, where a "
        "certificate applies, and why not where none does), how fragile (the damage the attacks find at each "
        "budget, and by injecting a few points), the least change found that alters the clustering (rows, "
        "columns, amounts) and the most vulnerable rows. Writes DIR/report.html (self-contained), "
        "DIR/report.md, DIR/summary.json and the figures, and prints a short summary.",
    )
    add_input(p, demo=False)
    g = p.add_argument_group("model")
    g.add_argument("--model", type=model_spec, default=("convex", {}), metavar="NAME[:KEY=VALUE,...]",
                   help="convex (default: phi and gamma chosen from the data) or a scikit-learn clusterer with its "
                   "parameters, e.g. kmeans:n_clusters=3, agglomerative:n_clusters=3,linkage=ward, gmm:n_components=2")
    g.add_argument("--n-clusters", type=positive_int, metavar="K", help="convex: choose gamma for K major clusters")
    g.add_argument("--no-standardize", action="store_true",
                   help="use the data as given (default: each column to mean 0 and standard deviation 1; budgets "
                   "and radii are then in standard deviations)")
    a = p.add_argument_group("attacks")
    a.add_argument("--budgets", type=_budgets, default=[0.1, 0.3, 1.0], metavar="B1,B2,...",
                   help="per-entry budgets of the curve (default: 0.1,0.3,1)")
    a.add_argument("--share", type=number(0, strict=True), default=0.05, metavar="S",
                   help="the share of rows moved: those nearest another cluster (default: 0.05)")
    a.add_argument("--queries", type=positive_int, default=20, metavar="N",
                   help="fits per attack, twice as many for the least change (default: 20)")
    a.add_argument("--random-state", type=int, default=0, metavar="N", help="seed of the attacks (default: 0)")
    a.add_argument("--n-jobs", type=int, default=None, metavar="N",
                   help="attacks in N parallel processes (default: every core; with --backend dask, the local "
                   "cluster's workers, default 2); the answers do not depend on it")
    add_backend(a, "attacks in processes")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", required=True, help="folder for the report, summary.json and figures")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json(out, "print summary.json instead of the summary")
    p.set_defaults(run=_run_audit)


def _run_audit(args):
    from ..audit import audit

    check_backend(args)
    if args.share > 1:
        raise UsageError(f"--share is a fraction of the rows, at most 1, got {args.share:g}")
    data = read_input(args, demo=False)
    name, params = args.model
    if name == "convex":
        args.weights, args.k, args.max_memory = "knn", params.get("k", 10), 4.0
        if data.X.shape[0] <= args.k:
            raise UsageError(f"{data.X.shape[0]} rows are too few for the kNN graph's k={args.k} neighbours; give "
                             f"--model convex:k={max(1, data.X.shape[0] - 1)} or fewer")
        check_memory(args, data.X)
    elif args.n_clusters is not None:
        raise UsageError(f"--n-clusters chooses convex clustering's gamma; give {name}'s own parameter in --model "
                         f"(e.g. {name}:n_clusters={args.n_clusters})")
    try:
        result = audit(data.X, (name, params), ids=data.ids, names=data.names, standardize=not args.no_standardize,
                       budgets=args.budgets, share=args.share, queries=args.queries, n_clusters=args.n_clusters,
                       random_state=args.random_state, n_jobs=args.n_jobs, backend=args.backend,
                       scheduler=args.scheduler, out=args.out, progress=False if args.quiet else None,
                       command="advcluster " + " ".join(sys.argv[1:]))
    except ImportError as exc:
        raise UsageError(str(exc).replace("backend 'dask'", "--backend dask")) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; the finished attacks are kept in {args.out}: run the same command again to "
              "resume", file=sys.stderr)
        return 130
    if args.json:
        print_json(result.to_summary())
    else:
        print(f"data: {data.source}")
        print(result.summary())
        print(f"report: {args.out}/report.html; summary: {args.out}/summary.json ({result.seconds:.1f} s)")
    return 0
