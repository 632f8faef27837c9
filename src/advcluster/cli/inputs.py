"""The data options (FILE, --dataset, --columns, ...) and reading the data they name."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..datasets import DATASETS, load_dataset
from ..io import load_ids, load_table
from .args import INDEX, RANGE, PROG, UsageError, column_list

# The built-in demo: four Gaussian blobs whose kNN graph (k=10) is connected; the defaults
# (standardised, phi and gamma chosen from the data) recover the four blobs exactly, and so do the
# data as given with gamma = 1, phi = 0.5.
DEMO = "make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)"


def add_input(parser, demo=True):
    g = parser.add_argument_group("input")
    source = g.add_mutually_exclusive_group()
    source.add_argument(
        "file", nargs="?", metavar="FILE",
        help="data file, rows are samples: .csv (or any delimited text) or .npy"
        + ("; default: a built-in demo data set" if demo else ""),
    )
    source.add_argument("--dataset", metavar="NAME", choices=list(DATASETS),
                        help=f"a named data set instead of FILE: {', '.join(DATASETS)} "
                        f"(see '{PROG} datasets')")
    g.add_argument("--columns", type=column_list, metavar="COLS",
                   help="comma-separated column names or 0-based indices to use (default: all)")
    g.add_argument("--id-column", metavar="COL",
                   help="a column of row ids (name or 0-based index; any text): left out of the data and written "
                   "beside each row in --out files (default: the 0-based row number)")
    g.add_argument("--delimiter", metavar="CHAR",
                   help="field delimiter of a text file, e.g. ',' ';' 'tab' (default: detected)")
    g.add_argument("--no-header", action="store_true",
                   help="the first row of a text file is data (default: detected)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="--dataset seeds: a folder holding another copy of seeds_dataset.txt, looked in "
                   "before $ADVCLUSTER_DATA, the copy shipped with advcluster and the cache")
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
    ids: list | None = None  # the --id-column's values, one per row
    id_name: str = "row"


def read_input(args, demo=True):
    """The data matrix, where it came from, the true classes and the column names (if known)."""
    file_only = [f for f, v in (("--delimiter", args.delimiter), ("--no-header", args.no_header)) if v]
    dataset_only = [f for f, v in (("--data-dir", args.data_dir), ("--no-download", args.no_download)) if v]
    id_column = getattr(args, "id_column", None)
    if id_column is not None and args.file is None:
        raise UsageError("--id-column applies to a FILE (a named data set or the demo is numbered by row)")
    if args.dataset is not None:
        if file_only:
            raise UsageError(f"{file_only[0]} applies to a FILE, not to --dataset")
        ds = load_dataset(args.dataset, data_dir=args.data_dir, download=not args.no_download)
        names = list(ds.feature_names)
        X = ds.data
        if args.columns is not None:
            idx = positions(args.columns, X.shape[1], names, f"--columns (data set {ds.name})", "columns")
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
        from sklearn.datasets import make_blobs  # only the demo needs it: ~0.1 s of start-up saved

        X, y = make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=0)
        return _Input(X, f"built-in demo: four Gaussian blobs, {DEMO}", y, "the generating blobs")
    header = False if args.no_header else "infer"
    if not os.path.exists(args.file) and args.file in DATASETS:
        raise UsageError(f"{args.file}: no such file; for the named data set, give --dataset {args.file}")
    if id_column is None:
        X, names = load_table(args.file, columns=args.columns, delimiter=args.delimiter, header=header)
        return _Input(X, args.file, names=names)
    ids, id_name, j, width = load_ids(args.file, id_column, delimiter=args.delimiter, header=header)
    columns = args.columns if args.columns is not None else [str(c) for c in range(width) if c != j]
    if not columns:
        raise UsageError(f"--id-column {id_column}: no other column is left for the data")
    X, names = load_table(args.file, columns=columns, delimiter=args.delimiter, header=header)
    return _Input(X, args.file, names=names, ids=ids, id_name=id_name)


def positions(items, size, names, what, unit):
    """0-based positions from names (first) or indices and ranges ``start:stop[:step]``, each once."""
    out = []
    for item in items:
        if names is not None and item in names:
            if names.count(item) > 1:
                raise UsageError(f"{what}: several {unit} are named {item!r}; select them by 0-based index")
            out.append(names.index(item))
            continue
        if INDEX.match(item):
            j = int(item)
            if j >= size:
                raise UsageError(f"{what}: {unit[:-1]} {j} is out of range; the data has {size} {unit} "
                                 f"(0..{size - 1})")
            out.append(j)
            continue
        m = RANGE.match(item)
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
