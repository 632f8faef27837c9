"""``advcluster sweep``: a study from a TOML config, run into a resumable results store."""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap

from .args import PROG, UsageError, add_backend, add_json, check_backend, positive_int
from .output import print_json


def add_sweep(subparsers):
    p = subparsers.add_parser(
        "sweep", help="run a study (data sets x models x threats x budgets x attacks x seeds) from a config",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Run every task of the study CONFIG (a TOML file; --example prints one) into the results "
            "store --store DIR. Each finished task is committed at once: an interrupted study loses "
            "only the tasks in flight, and running the same command again resumes it. Export the "
            "results with --store DIR --export FILE.csv.", width=88),
        epilog=textwrap.fill(
            "Exit status: 0 when every task ran (tasks that raised are recorded as failed, listed, "
            "and do not stop the study); 1 when a worker process died (run the command again to "
            "resume); 2 for a bad config, arguments or store; 130 when interrupted (run the command "
            "again to resume).", width=88),
    )
    p.add_argument("config", nargs="?", metavar="CONFIG", help="the study's TOML file")
    p.add_argument("--store", metavar="DIR", help="results store folder (created when missing)")
    p.add_argument("--example", action="store_true", help="print a small example config and exit")
    p.add_argument("--export", metavar="FILE", help="write the store's results as one table (.csv, or .parquet "
                   "with pyarrow) and exit")
    add_backend(p)
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="processes (default: all CPUs for loky, 2 for a local Dask cluster)")
    resume = p.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true",
                        help="skip the tasks already in the store (the default)")
    resume.add_argument("--force", action="store_true",
                        help="if the store holds another config's results, switch it to this config: results of "
                        "unchanged tasks are kept, the others deleted")
    p.add_argument("--retry-failed", action="store_true", help="run again the tasks recorded as failed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json(p, "print the run's summary as one JSON object")
    p.set_defaults(run=_run_sweep)


def _run_sweep(args):
    from .. import sweep

    if args.example:
        if args.config or args.store or args.export:
            raise UsageError("--example prints the example config and takes no CONFIG, --store or --export")
        sys.stdout.write(sweep.EXAMPLE)
        return 0
    if args.store is None:
        raise UsageError("give --store DIR, the folder of the study's results")
    if args.export:
        if args.config:
            raise UsageError("--export writes an existing store's results; give --store DIR --export FILE "
                             "without CONFIG")
        try:
            path = sweep.export(args.store, args.export)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        print(f"wrote {path}")
        return 0
    if args.config is None:
        raise UsageError("give the study's CONFIG file (or --example to print one)")
    check_backend(args)
    try:
        study = sweep.load_config(args.config)
    except sweep.ConfigError as exc:
        for problem in exc.problems:
            print(f"{PROG}: error: {exc.source}: {problem}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = sweep.run(study, args.store, backend=args.backend, workers=args.workers,
                            scheduler=args.scheduler, force=args.force, retry_failed=args.retry_failed,
                            progress=not args.quiet)
    except ImportError as exc:
        raise UsageError(str(exc).replace("backend 'dask'", "--backend dask")) from None
    except sweep.WorkerLost as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; the finished tasks are in {args.store}: run the same command again to "
              "resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print_json(summary.to_dict())
    else:
        print(summary.summary())
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
