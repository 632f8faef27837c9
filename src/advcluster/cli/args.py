"""Argument types, the one-line usage error, and the option groups the commands share."""

from __future__ import annotations

import argparse
import json
import math
import re

from .. import METHODS

PROG = "advcluster"


class UsageError(Exception):
    """Bad command line arguments or input (exit code 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{message} (see '{self.prog} --help')")


# How the command line names what the library's worded errors name (advcluster._validation.Worded).
CLI_WORDS = {
    "bounds": "--bounds LO,HI",
    "max_norm": "--max-norm M",
    "points": "--option points=LIST",
    "no_download": "--no-download was given",
    "data_dir": "give --data-dir DIR",
    "download": "drop --no-download to download it",
}


# The library's Python words that reach the command line in messages, and the CLI's words for them.
PYTHON_WORDS = (
    (re.compile(r"weights='(knn|complete|uniform)'"), r"--weights \1"),
    (re.compile(r"method='(\w+)' or '(\w+)'"), r"--method \1 or \2"),
    (re.compile(r"method='(\w+)'"), r"--method \1"),
    (re.compile(r"set k <= (\d+)"), r"set --k \1 or less"),
    (re.compile(r" \(uniform_graph\(n\)\)"), " (--weights uniform)"),
)


def cli_words(message: str) -> str:
    """``message`` with the library's Python words (``weights='complete'``) in CLI words."""
    for pattern, words in PYTHON_WORDS:
        message = pattern.sub(words, message)
    return message


# ---------------------------------------------------------------------- argument types
def number(low, strict=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if strict else '>='} {low:g}, got {text!r}")
        return value

    return parse


def integer(low=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


positive_int = integer(1)


def job_count(text):
    value = integer()(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number of jobs, or -1 for all cores, not 0")
    return value


def column_list(text):
    cols = [c.strip() for c in text.split(",")]
    if not all(cols):
        raise argparse.ArgumentTypeError(f"expected comma-separated names or 0-based indices, got {text!r}")
    return cols  # names first, then 0-based indices: load_matrix resolves them


INDEX = re.compile(r"^\d+$")
RANGE = re.compile(r"^(\d*):(\d*)(?::(\d+))?$")


def index_list(text):
    """``0,3,10:20,40:60:2`` (0-based; ``start:stop[:step]`` with ``stop`` excluded)."""
    items = [c.strip() for c in text.split(",")]
    for item in items:
        if not (INDEX.match(item) or RANGE.match(item)):
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a 0-based index or a range start:stop[:step] of non-negative integers "
                f"(e.g. '0,3,10:20,40:60:2'), in {text!r}"
            )
        m = RANGE.match(item)
        if m and m.group(3) is not None and int(m.group(3)) == 0:
            raise argparse.ArgumentTypeError(f"range {item!r} has step 0; the step must be >= 1")
    return items


def bounds_range(text):
    parts = [p.strip() for p in text.split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers, LO <= 0 <= HI), got {text!r}") from None
    if math.isnan(lo) or math.isnan(hi) or lo > 0 or hi < 0:
        raise argparse.ArgumentTypeError(f"need LO <= 0 <= HI (theta = 0 is the clean data), got {text!r}")
    return lo, hi


def key_value(text):
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


def model_spec(text):
    """``NAME`` or ``NAME:key=value,key=value`` (a clusterer of advcluster.clusterers and its
    parameters; values read as in --option)."""
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME or NAME:key=value,..., e.g. kmeans:n_clusters=3, got {text!r}")
    params = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, value = key_value(item)
        if key in params:
            raise argparse.ArgumentTypeError(f"{key} is given twice in {text!r}")
        params[key] = value
    return name, params


def name_list(text):
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated experiment names, got {text!r}")
    return names


# ---------------------------------------------------------------------- shared options
def add_model(parser):
    g = parser.add_argument_group("model")
    g.add_argument("--gamma", type=number(0), default=None, metavar="G",
                   help="fusion penalty >= 0 (default: chosen from the clusterpath: the gamma with --n-clusters "
                   "major clusters, else the most stable clustering; the output says which)")
    g.add_argument("--n-clusters", type=positive_int, metavar="K",
                   help="choose gamma for K major clusters (each at least 2%% of the rows); instead of --gamma")
    g.add_argument("--weights", choices=("knn", "complete", "uniform"), default="knn",
                   help="weight graph: kNN Gaussian, complete Gaussian, or uniform (default: knn)")
    g.add_argument("--k", type=positive_int, default=10, metavar="K",
                   help="neighbours for --weights knn, < number of samples (default: 10)")
    g.add_argument("--phi", type=number(0), default=None, metavar="PHI",
                   help="Gaussian bandwidth in exp(-phi ||a_i - a_j||^2) (default: 0.5 / the median squared distance "
                   "of a row to its k nearest neighbours, the weights on the data's scale)")
    g.add_argument("--no-standardize", action="store_true",
                   help="use the data as given (default: each column to mean 0 and standard deviation 1 first; "
                   "budgets and radii are then in standard deviations)")
    g.add_argument("--p", type=int, choices=(1, 2), default=2, help="norm on centre differences (default: 2)")
    g.add_argument("--max-memory", type=number(0, strict=True), default=4.0, metavar="GB",
                   help="refuse a weight graph whose solve would need more than GB gigabytes (estimated before "
                   "anything is built; default: 4)")
    return g


def check_memory(args, X):
    """Refuse, in one line, a weight graph too large for --max-memory (complete or uniform on many rows)."""
    from ..graph import solve_memory, solve_seconds

    edges, need = solve_memory(X.shape[0], X.shape[1], args.weights, args.k)
    if need > args.max_memory * 1e9:
        minutes = solve_seconds(edges, X.shape[1]) / 60
        raise UsageError(
            f"--weights {args.weights} on {X.shape[0]:,} rows makes {edges:,} edges: a solve would need about "
            f"{need / 1e9:.1f} GB with {X.shape[1]} features (--max-memory {args.max_memory:g}) and take of the "
            f"order of {max(minutes, 0.1):.2g} minutes on two cores; use --weights knn "
            f"(about {solve_memory(X.shape[0], X.shape[1], 'knn', args.k)[1] / 1e9:.2g} GB), or raise --max-memory "
            "to go ahead")


def add_solver(parser):
    g = parser.add_argument_group("solver")
    g.add_argument("--method", choices=["auto", *sorted(METHODS)], default="auto",
                   help="auto (default: exact1d where it applies, else ssnal for p=2, admm for p=1), ssnal, "
                        "admm (p=1 or 2), exact1d (uniform weights, one feature or p=1)")
    g.add_argument("--tol", type=number(0, strict=True), default=1e-6, metavar="TOL",
                   help="stop at relative KKT residual <= TOL (default: 1e-6)")
    g.add_argument("--max-iter", type=positive_int, default=None, metavar="N",
                   help="outer iteration limit (default: the method's own)")


def add_json(group, what="print one JSON object instead of text"):
    group.add_argument("--json", action="store_true",
                       help=f"{what} (infinite values as the strings \"inf\" and \"-inf\")")


def add_backend(group, processes="processes"):
    """``--backend`` and ``--scheduler``: where the independent jobs of a command run
    (:mod:`advcluster.sweep.backends`); checked by :func:`check_backend`."""
    group.add_argument("--backend", choices=("loky", "dask", "serial"), default="loky",
                       help=f"loky: {processes} on this machine (default); dask: a Dask cluster (--scheduler, else "
                       "a local one); serial: one process")
    group.add_argument("--scheduler", metavar="ADDRESS", help="dask: a running scheduler, e.g. tcp://10.0.0.5:8786")


def check_backend(args):
    if args.scheduler is not None and args.backend != "dask":
        raise UsageError("--scheduler applies to --backend dask")
