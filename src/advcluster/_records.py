"""Result objects as plain values: one converter for every result that is written out (JSON,
reports), so numpy types, arrays and non-finite numbers are handled in one place."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np


def plain(obj):
    """``obj`` as JSON-ready Python values: numpy scalars and arrays become numbers and lists,
    dataclasses dicts of their fields, paths strings; non-finite floats become ``"inf"``,
    ``"-inf"`` or None (NaN), which JSON cannot hold as numbers."""
    if isinstance(obj, Record):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
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
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


class Record:
    """Mixin for the result dataclasses: :meth:`to_dict`."""

    def to_dict(self, *names: str, exclude=()) -> dict:
        """The result as JSON-ready values (:func:`plain`): the attributes ``names`` (properties
        too), or with none given every field less ``exclude``."""
        fields = [f.name for f in dataclasses.fields(self)]
        unknown = [name for name in (*names, *exclude) if not hasattr(self, name)]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no attribute(s) {unknown}; its fields are {fields}.")
        if not names:
            names = [name for name in fields if name not in exclude]
        return {name: plain(getattr(self, name)) for name in names}
