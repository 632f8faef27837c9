"""Command line: ``advcluster COMMAND [options]``.

Parsing only: each subcommand reads its input with :func:`advcluster.io.load_matrix` and
calls the public API. A subcommand is a pair ``_add_<name>(subparsers)`` (its options)
and ``_run_<name>(args) -> exit code``, registered in :data:`_COMMANDS`.

Exit codes: 0 success; 2 bad arguments or input (one line on stderr starting with
``advcluster: error: ``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

import numpy as np

from . import ConvexClustering, METHODS, __version__, ari
from .io import load_matrix

PROG = "advcluster"

# The built-in demo: four Gaussian blobs whose kNN graph (k=10) is connected, so the default
# gamma = 1 has to fuse each blob; it recovers the four blobs exactly.
DEMO = "make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)"


class UsageError(Exception):
    """Bad command line arguments or input (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------- argument types
def _number(low, strict=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if strict else '>='} {low:g}, got {text!r}")
        return value

    return parse


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _column_list(text):
    cols = [c.strip() for c in text.split(",")]
    if not all(cols):
        raise argparse.ArgumentTypeError(f"expected comma-separated names or 0-based indices, got {text!r}")
    return cols  # names first, then 0-based indices: load_matrix resolves them


# ---------------------------------------------------------------------- shared options
def _add_input(parser):
    g = parser.add_argument_group("input")
    g.add_argument(
        "file", nargs="?", metavar="FILE",
        help="data file, rows are samples: .csv (or any delimited text) or .npy; "
        "default: a built-in demo data set",
    )
    g.add_argument("--columns", type=_column_list, metavar="COLS",
                   help="comma-separated column names or 0-based indices to use (default: all)")
    g.add_argument("--delimiter", metavar="CHAR",
                   help="field delimiter of a text file, e.g. ',' ';' 'tab' (default: detected)")
    g.add_argument("--no-header", action="store_true",
                   help="the first row of a text file is data (default: detected)")


def _read_input(args):
    """The data matrix and a description of where it came from."""
    if args.file is None:
        given = [f for f, v in (("--columns", args.columns), ("--delimiter", args.delimiter),
                                ("--no-header", args.no_header)) if v]
        if given:
            raise UsageError(f"{given[0]} applies to a FILE, but none was given")
        from sklearn.datasets import make_blobs

        X, y = make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)
        return X, f"built-in demo: four Gaussian blobs, {DEMO}", y
    X = load_matrix(args.file, columns=args.columns, delimiter=args.delimiter,
                    header=False if args.no_header else "infer")
    return X, args.file, None


def _add_model(parser):
    g = parser.add_argument_group("model")
    g.add_argument("--gamma", type=_number(0), default=1.0, metavar="G", help="fusion penalty >= 0 (default: 1)")
    g.add_argument("--weights", choices=("knn", "complete", "uniform"), default="knn",
                   help="weight graph: kNN Gaussian, complete Gaussian, or uniform (default: knn)")
    g.add_argument("--k", type=_positive_int, default=10, metavar="K",
                   help="neighbours for --weights knn, < number of samples (default: 10)")
    g.add_argument("--phi", type=_number(0), default=0.5, metavar="PHI",
                   help="Gaussian bandwidth in exp(-phi ||a_i - a_j||^2) (default: 0.5)")
    g.add_argument("--p", type=int, choices=(1, 2), default=2, help="norm on centre differences (default: 2)")


def _add_solver(parser):
    g = parser.add_argument_group("solver")
    g.add_argument("--method", choices=sorted(METHODS), default="ssnal",
                   help="ssnal (default), admm (p=1 or 2), exact1d (uniform weights, one feature or p=1)")
    g.add_argument("--tol", type=_number(0, strict=True), default=1e-6, metavar="TOL",
                   help="stop at relative KKT residual <= TOL (default: 1e-6)")
    g.add_argument("--max-iter", type=_positive_int, default=None, metavar="N",
                   help="outer iteration limit (default: the method's own)")


def _model(args):
    return ConvexClustering(gamma=args.gamma, weights=args.weights, k=args.k, phi=args.phi,
                            method=args.method, tol=args.tol, p=args.p, max_iter=args.max_iter)


# ---------------------------------------------------------------------- solve
def _add_solve(subparsers):
    p = subparsers.add_parser(
        "solve", help="convex clustering of a data file (or of a demo data set)",
        description="Solve convex clustering: min_X 1/2 sum_i ||x_i - a_i||^2 "
        "+ gamma sum_(i,j) w_ij ||x_i - x_j||_p; print the clusters and the solver's accuracy.",
    )
    _add_input(p)
    _add_model(p)
    _add_solver(p)
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="LABELS.csv",
                     help="write one row per sample: label, then the centre's coordinates")
    out.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=_run_solve)


def _run_solve(args):
    X, source, truth = _read_input(args)
    model = _model(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # reported below, from the result
        model.fit(X)
    res = model.result_
    sizes = np.bincount(res.labels).tolist()
    if args.out:
        _write_labels(args.out, res.labels, res.centers)
    if args.json:
        print(json.dumps({
            "data": source,
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
            "weights": args.weights,
            "k": args.k,
            "phi": args.phi,
            "method": res.method,
            "gamma": res.gamma,
            "p": res.p,
            "tol": res.tol,
            "n_clusters": int(res.n_clusters),
            "sizes": sizes,
            "labels": res.labels.tolist(),
            "objective": res.primal_objective,
            "dual_objective": res.dual_objective,
            "kkt_residual": res.kkt_residual,
            "success": bool(res.success),
            "message": res.message,
            "n_iter": int(res.n_iter),
            "time": res.time,
        }))
    else:
        graph = {"knn": f"knn (k={args.k}, phi={args.phi:g})", "complete": f"complete (phi={args.phi:g})",
                 "uniform": "uniform"}[args.weights]
        print(f"data: {source}")
        print(f"{X.shape[0]} samples, {X.shape[1]} features; weights {graph}, "
              f"{model.graph_.n_edges} edges")
        print(res.summary())
        if truth is not None:
            print(f"agreement with the generating blobs: ARI = {ari(truth, res.labels):.3f}")
        if args.out:
            print(f"labels and centres written to {args.out}")
    if not res.success:
        print(f"{PROG}: warning: the solver did not converge: {res.message}", file=sys.stderr)
    return 0


def _write_labels(path, labels, centers):
    header = ",".join(["label"] + [f"center_{j}" for j in range(centers.shape[1])])
    table = np.column_stack([labels, centers])
    fmt = ["%d"] + ["%.17g"] * centers.shape[1]
    try:
        np.savetxt(path, table, fmt=fmt, delimiter=",", header=header, comments="")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------- entry point
# Each entry adds one subcommand (its parser sets ``run``).
_COMMANDS = (_add_solve,)


def build_parser() -> argparse.ArgumentParser:
    """The ``advcluster`` argument parser with every subcommand."""
    parser = _Parser(
        prog=PROG,
        description="Adversarial-robustness analysis of convex clustering.",
        epilog=f"'{PROG} COMMAND --help' describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 success, 2 bad arguments or input)."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
