"""What the commands print and write: JSON through one serialiser, warning lines, CSV tables."""

from __future__ import annotations

import json
import sys

from .._records import plain
from ..io import write_table
from .args import PROG, UsageError


def print_json(obj):
    print(json.dumps(plain(obj), allow_nan=False))


def json_head(data, args):
    """The keys every JSON answer starts with: where the data came from and the weight graph."""
    return {"data": data.source, "n_samples": data.X.shape[0], "n_features": data.X.shape[1],
            "weights": args.weights, "k": args.k, "phi": args.phi}


def warn(message):
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def save_table(path, table):
    """Write a CSV table, or fail with one line."""
    try:
        write_table(table, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
