"""Results as plain values (``to_dict``) and files written whole or not at all (``atomic_write``)."""

from __future__ import annotations

import json
import re
import os
import stat

import numpy as np
import pytest

from advcluster import solve, uniform_graph
from advcluster._records import plain
from advcluster.io import atomic_write, write_table


def test_plain_values():
    value = {1: np.array([1.5, np.inf, -np.inf, np.nan]), "b": (np.int32(3), np.bool_(True)), "c": None}
    assert plain(value) == {"1": [1.5, "inf", "-inf", None], "b": [3, True], "c": None}
    json.dumps(plain(value), allow_nan=False)


@pytest.mark.parametrize("seed", range(3))
def test_result_to_dict_holds_every_field_as_json(seed):
    A = np.random.default_rng(seed).normal(size=(8, 2))
    res = solve(A, uniform_graph(8), 0.2)
    whole = res.to_dict()
    assert set(whole) == set(res.__dataclass_fields__)
    assert whole["labels"] == res.labels.tolist() and whole["success"] is bool(res.success)
    np.testing.assert_array_equal(np.array(whole["centers"]), res.centers)
    json.dumps(whole, allow_nan=False)
    picked = res.to_dict("n_clusters", "kkt_residual")
    assert picked == {"n_clusters": int(res.n_clusters), "kkt_residual": float(res.kkt_residual)}
    assert "centers" not in res.to_dict(exclude=("centers",))


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_replaces_whole_files_only(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("half of the new")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    with atomic_write(path) as fh:
        fh.write("new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary file left
    plain_file = tmp_path / "plain.txt"
    plain_file.write_text("x")
    assert _mode(path) == _mode(plain_file)  # the permissions open() gives, not mkstemp's 0600


def test_write_table_interrupted_leaves_the_old_file(tmp_path):
    path = tmp_path / "t.csv"
    write_table({"a": [1, 2]}, path)
    before = path.read_text()

    class Boom:
        def __repr__(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_table({"a": [1.0, 2.0, 3.0], "b": [0.5, 1.5, Boom()]}, path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_bad_requests_are_named(tmp_path):
    res = solve(np.arange(6.0).reshape(3, 2), uniform_graph(3), 0.1)
    with pytest.raises(ValueError, match=r"ClusteringResult has no attribute\(s\) \['nclusters'\]; its fields are"):
        res.to_dict("nclusters")
    with pytest.raises(ValueError, match=r"no attribute\(s\) \['centres'\]"):
        res.to_dict(exclude=("centres",))
    path = tmp_path / "keep.txt"
    path.write_text("old")
    for mode in ("r", "a", "w+"):
        with pytest.raises(ValueError, match=re.escape(f"mode must be 'w' or 'wb', got '{mode}'")):
            with atomic_write(path, mode):
                pass
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
