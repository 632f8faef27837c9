"""What the commands print and write: JSON through one serialiser, warning lines, CSV tables."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys

import numpy as np

from ..io import write_table
from .args import PROG, UsageError


def _fields(obj, *names, skip=()):
    """``obj``'s attributes ``names`` as a dict; no names: its dataclass fields less ``skip``."""
    if not names:
        names = [f.name for f in dataclasses.fields(obj) if f.name not in skip]
    return {name: getattr(obj, name) for name in names}


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
        return _plain(_fields(obj))
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _print_json(obj):
    print(json.dumps(_plain(obj), allow_nan=False))


def _json_head(data, args):
    """The keys every JSON answer starts with: where the data came from and the weight graph."""
    return {"data": data.source, "n_samples": data.X.shape[0], "n_features": data.X.shape[1],
            "weights": args.weights, "k": args.k, "phi": args.phi}


def _warn(message):
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _write_table(path, table):
    """Write a CSV table, or fail with one line."""
    try:
        write_table(table, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
