"""``advcluster datasets`` (the named data sets) and ``advcluster reproduce`` (the paper's experiments)."""

from __future__ import annotations

import importlib

from ..datasets import DATASETS, list_datasets
from .args import UsageError, add_json, name_list, key_value
from .output import print_json

REPORT_DIR = "advcluster-report"


# ---------------------------------------------------------------------- datasets
def add_datasets(subparsers):
    p = subparsers.add_parser(
        "datasets", help="list the named data sets (for --dataset)",
        description="List the data sets that --dataset NAME reads: size, classes, source, and whether "
        "each loads without a download.",
    )
    p.add_argument("--data-dir", metavar="DIR", help="a folder holding seeds_dataset.txt, looked in first")
    add_json(p, "print one JSON object {\"datasets\": [...]} instead of a table")
    p.set_defaults(run=_run_datasets)


def _run_datasets(args):
    rows = list_datasets(args.data_dir)
    if args.json:
        print_json({"datasets": [{**r._asdict(), "description": DATASETS[r.name]} for r in rows]})
        return 0
    head = ("name", "n", "d", "classes", "source", "local", "description")
    table = [(r.name, str(r.n_samples), str(r.n_features), str(r.n_classes), r.source,
              "yes" if r.available else "no", DATASETS[r.name]) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *table)]
    right = {1, 2, 3}
    for row in (head, *table):
        print("  ".join(x.rjust(w) if j in right else x.ljust(w) for j, (x, w) in enumerate(zip(row, widths))).rstrip())
    if not all(r.available for r in rows):
        print("local 'no': not found in --data-dir, $ADVCLUSTER_DATA, the package or the cache; downloaded on first use "
              "(or give --data-dir DIR)")
    return 0


# ---------------------------------------------------------------------- reproduce
def add_reproduce(subparsers):
    p = subparsers.add_parser(
        "reproduce", help="rerun the paper's experiments and write a report",
        description="Rerun the experiments of Zheng & Li (2025): figures and tables, written with a "
        "report (report.md, report.html) to --out; prints Table 1 next to the paper's numbers.",
    )
    p.add_argument("--out", metavar="DIR", default=REPORT_DIR, help=f"output folder (default: {REPORT_DIR})")
    p.add_argument("--only", type=name_list, metavar="NAMES",
                   help="comma-separated experiments to run, e.g. fig4,table1 (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="coarser grids, and Table 1's staircase to 1e-5 instead of 1e-8: seconds, not tens of seconds")
    p.add_argument("--set", type=key_value, action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override a setting of every experiment, repeatable, e.g. --set gamma=11 "
                   "--set index=1:10 (settings, the fields of advcluster.experiments.Setup: feature, rows, gamma, "
                   "weights, k, phi, index, eps_low, eps_high, num, standardize; --set weights=uniform selects "
                   "the uniform-weights variant with its own defaults)")
    p.add_argument("--jobs", type=int, default=-1, metavar="N",
                   help="data sets run in N processes at once (default -1: one per data set, up to the CPUs)")
    p.add_argument("--data-dir", metavar="DIR", help="a folder holding seeds_dataset.txt")
    add_json(p, "print the report as one JSON object instead of its summary")
    p.set_defaults(run=_run_reproduce)


def _run_reproduce(args):
    # Imported here, by name: the experiments (and the plotting they pull in) only for this command,
    # and whatever sys.modules holds is what runs.
    try:
        experiments = importlib.import_module("advcluster.experiments")
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
    try:
        experiments.check_settings(settings, args.only, args.quick)
    except ValueError as exc:
        raise UsageError(f"bad --set: {exc}") from None
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError(f"--jobs must be a positive number of processes or -1 (one per data set), got {args.jobs}")
    kwargs = dict(settings=settings) if settings else {}
    report = experiments.reproduce(out=args.out, only=args.only, quick=args.quick, data_dir=args.data_dir,
                                   progress=True, n_jobs=args.jobs, **kwargs)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.summary())
    return 0
