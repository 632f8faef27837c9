"""``advcluster path``: the clusterpath of a data file, as a figure and a table."""

from __future__ import annotations

import warnings

import numpy as np

from .args import UsageError, add_json, number, positive_int
from .inputs import add_input, read_input
from .output import print_json, save_table


def add_path(subparsers):
    p = subparsers.add_parser(
        "path", help="the clusterpath: clusters along gamma, as a figure (centres, dendrogram) and a table",
        description="Solve convex clustering along a geometric grid of gamma (warm-started) and write "
        "DIR/clusterpath.png and .svg (every row's centre as gamma grows, in the first two columns or "
        "principal components, and the dendrogram of the fusions) and DIR/path.csv (gamma, clusters, "
        "major clusters).",
    )
    add_input(p)
    g = p.add_argument_group("model")
    g.add_argument("--weights", choices=("knn", "complete", "uniform"), default="knn",
                   help="weight graph (default: knn)")
    g.add_argument("--k", type=positive_int, default=10, metavar="K", help="neighbours for --weights knn (default: 10)")
    g.add_argument("--phi", type=number(0), default=None, metavar="PHI",
                   help="Gaussian bandwidth (default: 0.5 / the median squared distance to the k nearest neighbours)")
    g.add_argument("--no-standardize", action="store_true", help="use the data as given (default: standardise "
                   "each column)")
    g.add_argument("--gammas", metavar="LO,HI,NUM",
                   help="the grid: NUM gammas from LO to HI, geometric (default: from where rows start to fuse "
                   "until one cluster holds almost every row, five a decade)")
    g.add_argument("--max-memory", type=number(0, strict=True), default=4.0, metavar="GB",
                   help="refuse a weight graph whose solves would need more than GB gigabytes (default: 4)")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", required=True, help="folder for clusterpath.png, .svg and path.csv")
    add_json(out)
    p.set_defaults(run=_run_path)


def _grid(text):
    try:
        lo, hi, num = (x.strip() for x in text.split(","))
        lo, hi, num = float(lo), float(hi), int(num)
    except ValueError:
        raise UsageError(f"--gammas expects LO,HI,NUM (e.g. 0.1,100,30), got {text!r}") from None
    if not (0 < lo < hi) or not np.isfinite(hi) or not 2 <= num <= 500:
        raise UsageError(f"--gammas needs 0 < LO < HI and 2 <= NUM <= 500, got {text!r}")
    return np.geomspace(lo, hi, num)


def _run_path(args):
    from ..choose import choose_gamma, major_clusters, scaled_phi
    from ..graph import build_graph
    from ..solvers.core import clusterpath
    from .args import check_memory
    from .solve import standardized

    gammas = None if args.gammas is None else _grid(args.gammas)
    data = read_input(args)
    X, _, _ = standardized(args, data.X)
    check_memory(args, X)
    phi = scaled_phi(X, args.k) if args.phi is None else args.phi
    graph = build_graph(X, args.weights, args.k, phi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        if gammas is None:
            gammas = choose_gamma(X, graph).gammas
        path = clusterpath(X, graph, gammas)  # every count proven where it can be (docs/partitions.md)
    try:
        from .. import plotting

        fig = plotting.plot_clusterpath(X, gammas, [r.centers for r in path], [r.labels for r in path],
                                        names=data.names)
    except ImportError as exc:
        raise UsageError(f"{exc} (the figure needs it; path.csv alone: pip install matplotlib)") from None
    from pathlib import Path

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        figures = plotting.save_figure(fig, out / "clusterpath")
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    table = {"gamma": gammas, "clusters": [r.n_clusters for r in path],
             "major_clusters": [major_clusters(r.labels)[0] for r in path],
             "proven": [bool(r.labels_certified) for r in path]}
    save_table(out / "path.csv", table)
    if args.json:
        print_json({"data": data.source, "n_samples": X.shape[0], "n_features": X.shape[1], "phi": phi,
                    "standardized": not args.no_standardize, **table,
                    "files": [str(f) for f in (*figures, out / "path.csv")]})
    else:
        print(f"data: {data.source}")
        print(f"{X.shape[0]} samples, {X.shape[1]} features; {len(gammas)} gammas from {gammas[0]:.4g} to "
              f"{gammas[-1]:.4g}; clusters {table['clusters'][0]} -> {table['clusters'][-1]}")
        proven = sum(table["proven"])
        print(f"clusters proven exact at {proven} of {len(gammas)} gammas"
              + ("" if proven == len(gammas) else " (column 'proven' of path.csv; the others are read off "
                                                   "the centres)"))
        print(f"wrote {', '.join(str(f) for f in figures)} and {out / 'path.csv'}")
    return 0

