"""Command line: ``advcluster COMMAND [options]``.

Parsing only: each subcommand reads its input with :func:`advcluster.io.load_table` (or a
named data set, :func:`advcluster.datasets.load_dataset`) and calls the public API. A
subcommand is a pair ``_add_<name>(subparsers)`` (its options) and ``_run_<name>(args) ->
exit code``, registered in :data:`_COMMANDS`.

Exit codes: 0 success (an attack that ran but did not reach its goal included: the output
says ``success`` false); 2 bad arguments or input (one line on stderr starting with
``advcluster: error: ``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import math
import os
import re
import sys
import textwrap
import warnings

import numpy as np

from . import ConvexClustering, METHODS, __version__, ari
from .io import load_table, write_table

PROG = "advcluster"

# The built-in demo: four Gaussian blobs whose kNN graph (k=10) is connected, so the default
# gamma = 1 has to fuse each blob; it recovers the four blobs exactly.
DEMO = "make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)"

REPORT_DIR = "advcluster-report"

PERTURBATIONS = ("additive", "pointwise", "multiplicative", "feature-shift")


class UsageError(Exception):
    """Bad command line arguments or input (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------- registries
def _dataset_names():
    from .datasets import DATASETS

    return list(DATASETS)


def _measure_names():
    from .deviation import MEASURES

    return sorted(MEASURES)


def _optimizers():
    """The optimizer registry (:mod:`advcluster.attacks` registers every optimizer it ships)."""
    from .attacks import OPTIMIZERS

    return OPTIMIZERS


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


def _int(low=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


_positive_int = _int(1)


def _n_jobs(text):
    value = _int()(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number of jobs, or -1 for all cores, not 0")
    return value


def _column_list(text):
    cols = [c.strip() for c in text.split(",")]
    if not all(cols):
        raise argparse.ArgumentTypeError(f"expected comma-separated names or 0-based indices, got {text!r}")
    return cols  # names first, then 0-based indices: load_matrix resolves them


_INDEX = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d*):(\d*)(?::(\d+))?$")


def _index_list(text):
    """``0,3,10:20,40:60:2`` (0-based; ``start:stop[:step]`` with ``stop`` excluded)."""
    items = [c.strip() for c in text.split(",")]
    for item in items:
        if not (_INDEX.match(item) or _RANGE.match(item)):
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a 0-based index or a range start:stop[:step] of non-negative integers "
                f"(e.g. '0,3,10:20,40:60:2'), in {text!r}"
            )
        m = _RANGE.match(item)
        if m and m.group(3) is not None and int(m.group(3)) == 0:
            raise argparse.ArgumentTypeError(f"range {item!r} has step 0; the step must be >= 1")
    return items


def _bounds(text):
    parts = [p.strip() for p in text.split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers, LO <= 0 <= HI), got {text!r}") from None
    if math.isnan(lo) or math.isnan(hi) or lo > 0 or hi < 0:
        raise argparse.ArgumentTypeError(f"need LO <= 0 <= HI (theta = 0 is the clean data), got {text!r}")
    return lo, hi


def _option(text):
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected key=value (e.g. num=641), got {text!r}")
    return key, _value(value.strip())


def _value(text):
    """An --option value: bool, None, int, float, a comma list of numbers, JSON, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    if "," in text:
        parts = [_value(p.strip()) for p in text.split(",")]
        if all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
            return parts
    return text


def _only_list(text):
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated experiment names, got {text!r}")
    return names


# ---------------------------------------------------------------------- shared options
def _add_input(parser, demo=True):
    g = parser.add_argument_group("input")
    source = g.add_mutually_exclusive_group()
    source.add_argument(
        "file", nargs="?", metavar="FILE",
        help="data file, rows are samples: .csv (or any delimited text) or .npy"
        + ("; default: a built-in demo data set" if demo else ""),
    )
    source.add_argument("--dataset", metavar="NAME", choices=_dataset_names(),
                        help=f"a named data set instead of FILE: {', '.join(_dataset_names())} "
                        f"(see '{PROG} datasets')")
    g.add_argument("--columns", type=_column_list, metavar="COLS",
                   help="comma-separated column names or 0-based indices to use (default: all)")
    g.add_argument("--delimiter", metavar="CHAR",
                   help="field delimiter of a text file, e.g. ',' ';' 'tab' (default: detected)")
    g.add_argument("--no-header", action="store_true",
                   help="the first row of a text file is data (default: detected)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="--dataset seeds: a folder holding seeds_dataset.txt, looked in before "
                   "$ADVCLUSTER_DATA and the cache")
    g.add_argument("--no-download", action="store_true",
                   help="--dataset seeds: never download the file (default: download it once into the "
                   "cache when it is found nowhere)")


@dataclasses.dataclass
class _Input:
    X: np.ndarray
    source: str
    truth: np.ndarray | None = None
    truth_name: str = ""
    names: list | None = None  # the names of X's columns, where known


def _read_input(args, demo=True):
    """The data matrix, where it came from, the true classes and the column names (if known)."""
    file_only = [f for f, v in (("--delimiter", args.delimiter), ("--no-header", args.no_header)) if v]
    dataset_only = [f for f, v in (("--data-dir", args.data_dir), ("--no-download", args.no_download)) if v]
    if args.dataset is not None:
        if file_only:
            raise UsageError(f"{file_only[0]} applies to a FILE, not to --dataset")
        from .datasets import DatasetNotFoundError, load_dataset

        try:
            ds = load_dataset(args.dataset, data_dir=args.data_dir, download=not args.no_download)
        except DatasetNotFoundError as exc:
            raise UsageError(_cli_words(str(exc), _DATASET_WORDS)) from None
        names = list(ds.feature_names)
        X = ds.data
        if args.columns is not None:
            idx = _positions(args.columns, X.shape[1], names, f"--columns (data set {ds.name})", "columns")
            X, names = X[:, idx], [names[j] for j in idx]
        return _Input(X, f"data set {ds.name}: {ds.description}", ds.target,
                      f"the {ds.name} classes ({', '.join(ds.target_names)})", names)
    if dataset_only:
        raise UsageError(f"{dataset_only[0]} applies to --dataset")
    if args.file is None:
        if not demo:
            raise UsageError("no data: give a FILE or --dataset NAME")
        given = [f for f, v in (("--columns", args.columns), ("--delimiter", args.delimiter),
                                ("--no-header", args.no_header)) if v]
        if given:
            raise UsageError(f"{given[0]} applies to a FILE, but none was given")
        from sklearn.datasets import make_blobs

        X, y = make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)
        return _Input(X, f"built-in demo: four Gaussian blobs, {DEMO}", y, "the generating blobs")
    X, names = load_table(args.file, columns=args.columns, delimiter=args.delimiter,
                          header=False if args.no_header else "infer")
    return _Input(X, args.file, names=names)


# The library's parameter names in its messages, as the command line spells them.
_DATASET_WORDS = (("; download=False.", "; --no-download was given."), ("pass data_dir=FOLDER", "give --data-dir DIR"),
                  ("allow the download (download=True)", "drop --no-download to download it"))
_ATTACK_WORDS = (("give the perturbation bounds=(low, high)", "give --bounds LO,HI"),
                 ("(max_norm or bounds)", "(--max-norm or --bounds)"),
                 ("pass points=.", "pass --option points=LIST."),
                 ("pass explicit points=,", "pass --option points=LIST,"))


def _cli_words(message, words):
    for lib, cli in words:
        message = message.replace(lib, cli)
    return message


def _positions(items, size, names, what, unit):
    """0-based positions from names (first) or indices and ranges ``start:stop[:step]``, each once."""
    out = []
    for item in items:
        if names is not None and item in names:
            if names.count(item) > 1:
                raise UsageError(f"{what}: several {unit} are named {item!r}; select them by 0-based index")
            out.append(names.index(item))
            continue
        if _INDEX.match(item):
            j = int(item)
            if j >= size:
                raise UsageError(f"{what}: {unit[:-1]} {j} is out of range; the data has {size} {unit} "
                                 f"(0..{size - 1})")
            out.append(j)
            continue
        m = _RANGE.match(item)
        if m is None:
            known = (f"the {unit} are {', '.join(map(repr, names))}" if names is not None
                     else "give 0-based indices or ranges start:stop[:step]")
            raise UsageError(f"{what}: no {unit[:-1]} named {item!r}; {known}")
        start = int(m.group(1)) if m.group(1) else 0
        stop = int(m.group(2)) if m.group(2) else size
        step = int(m.group(3)) if m.group(3) else 1
        if stop > size:
            raise UsageError(f"{what}: range {item!r} goes past the last {unit[:-1]}; the data has {size} "
                             f"{unit} (0..{size - 1}), so a range stops at {size} at most")
        if start >= stop:
            raise UsageError(f"{what}: range {item!r} is empty (start:stop with stop excluded)")
        out.extend(range(start, stop, step))
    seen = set()
    for j in out:
        if j in seen:
            raise UsageError(f"{what}: {unit[:-1]} {j} is selected twice; list each one once")
        seen.add(j)
    return out


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
    return g


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


def _fit(args, X):
    model = _model(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # reported from the result
        model.fit(X)
    return model


def _graph_text(args):
    return {"knn": f"knn (k={args.k}, phi={args.phi:g})", "complete": f"complete (phi={args.phi:g})",
            "uniform": "uniform"}[args.weights]


def _add_json(group, what="print one JSON object instead of text"):
    group.add_argument("--json", action="store_true",
                       help=f"{what} (infinite values as the strings \"inf\" and \"-inf\")")


def _plain(obj):
    """``obj`` as JSON-ready Python values (numpy types, dataclasses, non-finite floats)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isfinite(v):
            return v
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _print_json(obj):
    print(json.dumps(_plain(obj), allow_nan=False))


def _warn(message):
    print(f"{PROG}: warning: {message}", file=sys.stderr)


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
    data = _read_input(args)
    X = data.X
    model = _fit(args, X)
    res = model.result_
    sizes = np.bincount(res.labels).tolist()
    if args.out:
        _write_labels(args.out, res.labels, res.centers)
    if args.json:
        print(json.dumps({
            **_json_head(data, X, args),
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
            "labels_certified": bool(res.labels_certified),
            "n_undecided": int(res.n_undecided),
            "message": res.message,
            "n_iter": int(res.n_iter),
            "time": res.time,
        }))
    else:
        print(f"data: {data.source}")
        print(f"{X.shape[0]} samples, {X.shape[1]} features; weights {_graph_text(args)}, "
              f"{model.graph_.n_edges} edges")
        print(res.summary())
        if data.truth is not None:
            print(f"agreement with {data.truth_name}: ARI = {ari(data.truth, res.labels):.3f}")
        if args.out:
            print(f"labels and centres written to {args.out}")
    _warn_result(res)
    return 0


def _warn_result(res):
    """Warning lines for a solve that did not converge or whose partition is not proven."""
    if not res.success:
        _warn(f"the solver did not converge: {res.message}")
    if not res.labels_certified:
        _warn(f"the partition is not proven: {res.n_undecided} pair(s) of neighbouring samples undecided; "
              "a smaller --tol or a gamma further from a fusion threshold usually settles it")


def _json_head(data, X, args):
    """The keys every JSON answer starts with: where the data came from and the weight graph."""
    return {"data": data.source, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
            "weights": args.weights, "k": args.k, "phi": args.phi}


def _write_labels(path, labels, centers):
    table = {"label": labels, **{f"center_{j}": centers[:, j] for j in range(centers.shape[1])}}
    _write_table(path, table)


# ---------------------------------------------------------------------- certify
def _add_certify(subparsers):
    p = subparsers.add_parser(
        "certify", help="recovery bounds and certified radius of a convex clustering",
        description="Solve convex clustering, then check the recovery conditions of Sun, Toh & Yuan "
        "(2021, Theorem 5) for the partition found: the range [gamma_min, gamma_max) of gamma that is "
        "guaranteed to recover it. With --radius, also the certified radius r of Zheng & Li (2025, "
        "Theorem 2): no perturbation E whose rows all have ||e_i||_2 <= r (in particular, none with "
        "||E||_F <= r) changes the clustering. The conditions are sufficient, not necessary: a "
        "partition that is not certified may still be stable.",
    )
    _add_input(p)
    g = _add_model(p)
    g.add_argument("--no-reweight", action="store_true",
                   help="--radius: the weights stay those of the clean data (default: Gaussian weights "
                   "recomputed on the perturbed data, as the attack's pipeline does; uniform weights "
                   "never change)")
    _add_solver(p)
    out = p.add_argument_group("output")
    out.add_argument("--radius", action="store_true",
                     help="also compute the certified radius (rows of E within an l2 ball)")
    _add_json(out)
    p.set_defaults(run=_run_certify)


def _radius_weights(args, graph):
    if args.no_reweight or args.weights == "uniform":
        return graph, "fixed"
    from .graph import complete_graph, knn_graph

    if args.weights == "knn":
        return functools.partial(knn_graph, k=args.k, phi=args.phi), "recomputed"
    return functools.partial(complete_graph, phi=args.phi), "recomputed"


def _radius_meaning(r, gamma):
    if r.radius == 0:
        return f"no perturbation is certified: {r.reason.rstrip('.')}"
    if math.isinf(r.radius):
        return f"no perturbation of any size changes the clustering at gamma = {gamma:g} ({r.reason})"
    op = "<=" if r.attained else "<"
    return (f"no perturbation E with ||e_i||_2 {op} {r.radius:.6g} for every row (in particular none with "
            f"||E||_F {op} {r.radius:.6g}) changes the clustering at gamma = {gamma:g}")


def _run_certify(args):
    from .certify import certified_radius, recovery_bounds

    data = _read_input(args)
    X = data.X
    model = _fit(args, X)
    res = model.result_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        bounds = recovery_bounds(X, res.labels, model.graph_, p=args.p)
        recovers = bounds.recovers(args.gamma)
        radius = None
        if args.radius:
            weights, mode = _radius_weights(args, model.graph_)
            radius = certified_radius(X, res.labels, weights, args.gamma, p=args.p)
    verdict = (f"Theorem 5 certifies that gamma = {args.gamma:g} recovers this partition" if recovers
               else f"Theorem 5 does not certify gamma = {args.gamma:g} for this partition: "
               + bounds.why_not(args.gamma))
    if args.json:
        out = {
            **_json_head(data, X, args),
            "gamma": args.gamma,
            "p": args.p,
            "method": res.method,
            "n_clusters": int(res.n_clusters),
            "sizes": np.bincount(res.labels).tolist(),
            "labels": res.labels,
            "solver_success": bool(res.success),
            "labels_certified": bool(res.labels_certified),
            "solver_message": res.message,
            "kkt_residual": res.kkt_residual,
            "recovers": recovers,
            "verdict": verdict,
            "bounds": {
                "c1": bounds.c1,
                "c1_slack": bounds.c1_slack,
                "c2": bounds.c2,
                "distinct_centroids": bounds.distinct_centroids,
                "certified": bounds.certified,
                "gamma_min": bounds.gamma_min,
                "gamma_min_pair": bounds.gamma_min_pair,
                "gamma_max": bounds.gamma_max,
                "gamma_max_clusters": bounds.gamma_max_clusters,
                "coarsening_bound": bounds.coarsening_bound,
                "coarsening_cluster": bounds.coarsening_cluster,
                "failure": bounds.failure(),
            },
        }
        if radius is not None:
            out["radius"] = {
                "radius": radius.radius,
                "attained": radius.attained,
                "binding": radius.binding,
                "where": radius.where,
                "weights": radius.weights,
                "perturbation": radius.perturbation,
                "reason": radius.reason,
                "meaning": _radius_meaning(radius, args.gamma),
            }
        _print_json(out)
    else:
        print(f"data: {data.source}")
        print(f"{X.shape[0]} samples, {X.shape[1]} features; weights {_graph_text(args)}, "
              f"{model.graph_.n_edges} edges; gamma = {args.gamma:g}, p = {args.p}")
        sizes = ", ".join(map(str, np.bincount(res.labels)[:20])) + (", ..." if res.n_clusters > 20 else "")
        print(f"clusters: {res.n_clusters} (sizes {sizes}); solver {res.method}, "
              f"{'converged' if res.success else 'NOT CONVERGED'}, KKT residual {res.kkt_residual:.2e}")
        print(res.partition_line())
        print(bounds)
        print(verdict)
        if radius is not None:
            print(radius)
            print(f"meaning: {_radius_meaning(radius, args.gamma)} (weights {mode}).")
    _warn_result(res)
    return 0


# ---------------------------------------------------------------------- attack
def _add_attack(subparsers):
    optimizers = _optimizers()
    dims = {"1": "1 parameter", "1-2": "1 or 2 parameters", "any": "any parameters"}
    listing = "\n".join(
        textwrap.fill(f"{name} ({'/'.join(o.problems)}, {dims.get(o.dims, o.dims)}): {o.summary}",
                      width=88, initial_indent="  ", subsequent_indent="      ")
        for name, o in sorted(optimizers.items())
    )
    p = subparsers.add_parser(
        "attack", help="bilevel attack (BL1 or BL2) on convex clustering of a data file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Perturb the data A by E(theta) and cluster A + E(theta) by convex clustering. "
            "BL1: the largest deviation of the clustering with ||E|| <= budget. BL2: the smallest ||E|| "
            "whose deviation reaches the target. Prints the result (for staircase, the plateaus of the "
            "deviation along theta).", width=88),
        epilog="optimizers (--optimizer NAME; their options go in --option KEY=VALUE, see each one's\n"
        "docstring in advcluster.attacks):\n" + listing + "\n\n" + textwrap.fill(
            "Exit status: 0 when the attack ran, also when it did not succeed (a BL2 whose target "
            "is not reached in the search range, a BL1 with no point within the budget): then the output "
            "says success false (FAILED in text) and a warning line goes to stderr; 2 for bad "
            "arguments or input.", width=88),
    )
    _add_input(p, demo=False)
    prob = p.add_argument_group("problem")
    prob.add_argument("--problem", type=str.lower, choices=("bl1", "bl2"), required=True,
                      help="bl1: most damage within --budget; bl2: least ||E|| reaching --target")
    prob.add_argument("--budget", type=_number(0), metavar="B", help="bl1: ||E|| <= B")
    prob.add_argument("--target", type=_number(0, strict=True), metavar="K",
                      help="bl2: the deviation to reach (in the measure's units; 1 - NMI for nmi)")
    prob.add_argument("--max-norm", type=_number(0, strict=True), metavar="M",
                      help="bl2: search only ||E|| <= M (needed unless --bounds are given)")
    prob.add_argument("--deviation", choices=_measure_names(), default=None, metavar="MEASURE",
                      help=f"deviation measure: {', '.join(_measure_names())} (default: delta, the pairs "
                      "whose co-membership changed)")
    pert = p.add_argument_group("perturbation")
    pert.add_argument("--rows", type=_index_list, metavar="ROWS",
                      help="rows perturbed: comma list of 0-based indices and ranges start:stop[:step] "
                      "(stop excluded), e.g. '0:50' or '0,3,100:200:2' (default: all rows)")
    pert.add_argument("--features", type=_column_list, metavar="COLS",
                      help="features perturbed: column names or 0-based indices of the data read "
                      "(after --columns) (default: all)")
    pert.add_argument("--perturbation", choices=PERTURBATIONS, default="additive",
                      help="additive: one eps added to every selected entry (default); pointwise: one "
                      "parameter per entry; multiplicative: entries scaled by 1 + theta; feature-shift: one "
                      "shift per feature for all rows")
    pert.add_argument("--norm", choices=("fro", "inf", "l1", "l0"), default="fro",
                      help="the norm of E (default: fro)")
    pert.add_argument("--bounds", type=_bounds, metavar="LO,HI",
                      help="box on every parameter, LO <= 0 <= HI, e.g. --bounds -2,2 (default: none)")
    opt = p.add_argument_group("optimizer")
    opt.add_argument("--optimizer", default="grid", metavar="NAME",
                     help=f"one of {', '.join(sorted(optimizers))} (default: grid); see below")
    opt.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                     help="an option of the optimizer, repeatable, e.g. --option num=641 --option rtol=1e-9 "
                     "(values read as int, float, true/false, none, a comma list of numbers, JSON, else text)")
    opt.add_argument("--random-state", type=_int(0), metavar="N", help="seed for optimizers that sample")
    opt.add_argument("--max-evals", type=_positive_int, metavar="N", help="upper-level evaluation limit")
    opt.add_argument("--n-jobs", type=_n_jobs, metavar="N",
                     help="parallel lower-level solves (joblib; -1: all cores) where the optimizer evaluates "
                     "batches; the answer does not depend on it")
    g = _add_model(p)
    g.add_argument("--method", choices=["auto", *sorted(METHODS)], default="auto",
                   help="auto (default: exact for uniform weights with one feature or p=1, else ssnal)")
    g.add_argument("--tol", type=_number(0, strict=True), default=1e-6, metavar="TOL",
                   help="solver tolerance (default: 1e-6)")
    g.add_argument("--no-reweight", action="store_true",
                   help="keep the clean data's weight graph (default: rebuild it on the perturbed data)")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="HISTORY.csv", help="write every evaluation (theta, norm, value, ...) as CSV")
    _add_json(out)
    p.set_defaults(run=_run_attack)


def _perturbation(args, data):
    from . import perturbation as pt

    n, d = data.X.shape
    rows = None if args.rows is None else _positions(args.rows, n, None, "--rows", "rows")
    features = None
    if args.features is not None:
        features = _positions(args.features, d, data.names, "--features", "columns")
    kw = dict(ord=args.norm, bounds=args.bounds)
    if args.perturbation == "feature-shift":
        if rows is not None:
            raise UsageError("--rows does not apply to --perturbation feature-shift (it shifts all rows)")
        return pt.FeatureShift(features=features, **kw)
    cls = {"additive": pt.Additive, "pointwise": pt.Pointwise, "multiplicative": pt.Multiplicative}[args.perturbation]
    return cls(index=rows, features=features, **kw)


def _check_attack_args(args, optimizers):
    if args.optimizer not in optimizers:
        raise UsageError(f"unknown optimizer {args.optimizer!r}; choose one of {', '.join(sorted(optimizers))}")
    if args.problem == "bl1":
        if args.budget is None:
            raise UsageError("--problem bl1 needs --budget B")
        for flag, value in (("--target", args.target), ("--max-norm", args.max_norm)):
            if value is not None:
                raise UsageError(f"{flag} applies to --problem bl2, not bl1")
    else:
        if args.target is None:
            raise UsageError("--problem bl2 needs --target K")
        if args.budget is not None:
            raise UsageError("--budget applies to --problem bl1, not bl2 (bl2 limits the search with --max-norm)")
    options = {}
    for key, value in args.option:
        if key in options:
            raise UsageError(f"--option {key} is given twice")
        options[key] = value
    if args.problem == "bl2" and args.bounds is None and options.get("points") is None:
        if args.max_norm is None:
            raise UsageError("--problem bl2 needs --max-norm M or --bounds LO,HI: the range of ||E|| to search")
        if args.norm == "l0":
            raise UsageError("--problem bl2 with --norm l0 needs --bounds LO,HI: --max-norm counts entries "
                             "and does not bound their size")
    return options


def _run_attack(args):
    from .attacks import BL1, BL2, attack
    from .models import ConvexClusteringModel

    optimizers = _optimizers()
    options = _check_attack_args(args, optimizers)
    data = _read_input(args, demo=False)
    perturbation = _perturbation(args, data)
    model = ConvexClusteringModel(args.gamma, weights=args.weights, k=args.k, phi=args.phi, p=args.p,
                                  reweight=not args.no_reweight, method=args.method, tol=args.tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # the result reports failed solves
        try:
            if args.problem == "bl1":
                problem = BL1(model, data.X, perturbation, args.budget, deviation=args.deviation)
            else:
                problem = BL2(model, data.X, perturbation, args.target, deviation=args.deviation,
                              max_norm=args.max_norm)
            result = attack(problem, args.optimizer, random_state=args.random_state, max_evals=args.max_evals,
                            n_jobs=args.n_jobs, progress=None, **options)
        except ValueError as exc:
            raise UsageError(_cli_words(str(exc), _ATTACK_WORDS)) from None
        except TypeError as exc:  # an --option value of a type the optimizer cannot use
            raise UsageError(f"optimizer {args.optimizer!r} cannot use its options {options}: {exc}") from None
    if args.out:
        _write_table(args.out, result.history_table())
    plateaus = result.extra.get("plateaus")
    if args.json:
        out = {
            **_json_head(data, data.X, args),
            "problem": result.problem,
            "optimizer": result.optimizer,
            "options": options,
            "model": model.describe(),
            "perturbation": problem.perturbation.describe(),
            "n_params": problem.n_params,
            "measure": result.measure,
        }
        if args.problem == "bl1":
            out["budget"] = problem.budget
        else:
            out.update(target=problem.target, max_norm=problem.max_norm)
        out.update(
            theta=result.theta, norm=result.norm, deviation=result.deviation, n_changed=result.n_changed,
            n_clusters=result.n_clusters, clean_n_clusters=int(len(np.unique(problem.reference.labels))),
            feasible=result.feasible, success=result.success, message=result.message, n_evals=result.n_evals,
            n_solves=result.n_solves, n_failed_solves=result.n_failed_solves,
            n_uncertified=result.n_uncertified, time=result.time,
            labels=result.labels, clean_labels=problem.reference.labels,
        )
        if plateaus is not None:
            out["plateaus"] = plateaus
        if "breakpoints" in result.extra:
            out["breakpoints"] = result.extra["breakpoints"]
        _print_json(out)
    else:
        print(f"data: {data.source}")
        print(f"{data.X.shape[0]} samples, {data.X.shape[1]} features; {problem.n_params} parameter(s)")
        print(problem.describe())
        print(result.summary())
        if plateaus is not None:
            print(_plateau_table(plateaus, problem))
        if args.out:
            print(f"{result.n_evals} evaluations written to {args.out}")
    if not result.success:
        _warn(f"the attack did not succeed: {result.message}")
    return 0


def _plateau_table(plateaus, problem):
    lines = [f"plateaus of {problem.measure} along theta ({len(plateaus)}):",
             f"  {'theta from':>14} {'theta to':>14} {'||E|| from':>12} {problem.measure:>12} "
             f"{'N_c':>6} {'clusters':>8} {'points':>6}"]
    for pl in plateaus:
        inner = 0.0 if pl.lower <= 0 <= pl.upper else min(abs(pl.lower), abs(pl.upper))
        norm = problem.perturbation.norm(inner)
        lines.append(f"  {pl.lower:14.8g} {pl.upper:14.8g} {norm:12.6g} {pl.value:12.6g} "
                     f"{pl.n_changed:6d} {pl.n_clusters:8d} {pl.n_points:6d}")
    return "\n".join(lines)


def _write_table(path, table):
    """Write a CSV table, or fail with one line."""
    try:
        write_table(table, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------- datasets
def _add_datasets(subparsers):
    p = subparsers.add_parser(
        "datasets", help="list the named data sets (for --dataset)",
        description="List the data sets that --dataset NAME reads: size, classes, source, and whether "
        "each loads without a download.",
    )
    p.add_argument("--data-dir", metavar="DIR", help="a folder holding seeds_dataset.txt, looked in first")
    _add_json(p, "print one JSON object {\"datasets\": [...]} instead of a table")
    p.set_defaults(run=_run_datasets)


def _run_datasets(args):
    from .datasets import DATASETS, list_datasets

    rows = list_datasets(args.data_dir)
    if args.json:
        _print_json({"datasets": [{**r._asdict(), "description": DATASETS[r.name]} for r in rows]})
        return 0
    head = ("name", "n", "d", "classes", "source", "local", "description")
    table = [(r.name, str(r.n_samples), str(r.n_features), str(r.n_classes), r.source,
              "yes" if r.available else "no", DATASETS[r.name]) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *table)]
    right = {1, 2, 3}
    for row in (head, *table):
        print("  ".join(x.rjust(w) if j in right else x.ljust(w) for j, (x, w) in enumerate(zip(row, widths))).rstrip())
    if not all(r.available for r in rows):
        print("local 'no': not found in --data-dir, $ADVCLUSTER_DATA or the cache; downloaded on first use "
              "(or give --data-dir DIR)")
    return 0


# ---------------------------------------------------------------------- reproduce
def _add_reproduce(subparsers):
    p = subparsers.add_parser(
        "reproduce", help="rerun the paper's experiments and write a report",
        description="Rerun the experiments of Zheng & Li (2025): figures and tables, written with a "
        "report (report.md, report.html) to --out; prints Table 1 next to the paper's numbers.",
    )
    p.add_argument("--out", metavar="DIR", default=REPORT_DIR, help=f"output folder (default: {REPORT_DIR})")
    p.add_argument("--only", type=_only_list, metavar="NAMES",
                   help="comma-separated experiments to run, e.g. fig4,table1 (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="coarser grids, and Table 1's staircase to 1e-5 instead of 1e-8: seconds, not tens of seconds")
    p.add_argument("--set", type=_option, action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override a setting of every experiment, repeatable, e.g. --set gamma=0.016 "
                   "--set index=even-first-class (settings: dataset fields of advcluster.experiments.Setup: "
                   "gamma, weights, index, eps_low, eps_high, num, standardize)")
    p.add_argument("--data-dir", metavar="DIR", help="a folder holding seeds_dataset.txt")
    _add_json(p, "print the report as one JSON object instead of its summary")
    p.set_defaults(run=_run_reproduce)


def _run_reproduce(args):
    try:  # by name, so that whatever sys.modules holds is what runs
        experiments = importlib.import_module(f"{__package__}.experiments")
    except ImportError as exc:
        raise UsageError(f"reproduce needs the module advcluster.experiments, which cannot be imported "
                         f"({exc})") from None
    if args.only is not None:
        valid = list(experiments.EXPERIMENTS)
        unknown = [name for name in args.only if name not in valid]
        if unknown:
            raise UsageError(f"unknown experiment(s) {', '.join(map(repr, unknown))} in --only; "
                             f"valid names: {', '.join(valid)}")
    settings = dict(args.settings)
    if len(settings) < len(args.settings):
        raise UsageError("a --set KEY is given twice")
    kwargs = dict(settings=settings) if settings else {}
    report = experiments.reproduce(out=args.out, only=args.only, quick=args.quick, data_dir=args.data_dir,
                                   progress=True, **kwargs)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return 0


# ---------------------------------------------------------------------- entry point
# Each entry adds one subcommand (its parser sets ``run``).
_COMMANDS = (_add_solve, _add_certify, _add_attack, _add_datasets, _add_reproduce)


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


def _join_signed_values(argv):
    """``--bounds -2,2`` as ``--bounds=-2,2``: argparse takes '-2,2' for an option otherwise."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--bounds" and i + 1 < len(argv) and argv[i + 1].startswith("-") and "," in argv[i + 1]:
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 success, 2 bad arguments or input)."""
    try:
        argv = _join_signed_values(sys.argv[1:] if argv is None else list(argv))
        args = build_parser().parse_args(argv)
        return args.run(args)
    except BrokenPipeError:  # the reader went away (e.g. '| head'): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (UsageError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
