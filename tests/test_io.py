"""load_matrix / load_table on layouts the command line meets (more in cli/test_cli.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from advcluster.datasets import packaged_seeds
from advcluster.io import load_matrix, load_table


def test_the_uci_seeds_file_with_irregular_tabs(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVCLUSTER_NO_PACKAGED_DATA", raising=False)
    SEEDS = packaged_seeds()
    f = tmp_path / "seeds_dataset.txt"
    shutil.copyfile(SEEDS, f)
    lines = f.read_text().splitlines()
    assert any("\t\t" in line for line in lines)  # what made tab splitting fail
    X = load_matrix(f)
    assert X.shape == (210, 8)
    assert_array_equal(X, [[float(v) for v in line.split()] for line in lines if line.strip()])
    assert_array_equal(np.bincount(X[:, 7].astype(int)), [0, 70, 70, 70])
    assert_array_equal(load_matrix(f, columns=[0, 7]), X[:, [0, 7]])


def test_irregular_runs_of_tabs_fall_back_to_whitespace(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("1\t2\t3\n4\t\t5\t6\n7\t8\t\t\t9\n")
    assert_array_equal(load_matrix(f), [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    f.write_text("x\ty\tz\n1\t2\t3\n4\t\t5\t6\n")  # with a header row
    X, names = load_table(f)
    assert_array_equal(X, [[1, 2, 3], [4, 5, 6]]) and names == ["x", "y", "z"]


def test_a_given_tab_delimiter_or_ragged_rows_still_fail(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("1\t2\t3\n4\t\t5\t6\n")
    with pytest.raises(ValueError, match=r"line 2 has 4 fields but line 1 has 3 \(delimiter tab\)"):
        load_matrix(f, delimiter="tab")  # the user's delimiter is taken as given
    f.write_text("1\t2\t3\n4\t5\t6\t7\n")  # ragged however it is split
    with pytest.raises(ValueError, match=r"line 2 has 4 fields but line 1 has 3 \(delimiter tab\)"):
        load_matrix(f)
    f.write_text("1\t2\t\n4\t5\t\n")  # a missing last value on every row is missing, not whitespace
    with pytest.raises(ValueError, match="has a missing value on line 1"):
        load_matrix(f)


def test_load_table_names(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("a,b,label\n1,2,x\n3,4,y\n")
    X, names = load_table(f, columns=["b", 0])
    assert_array_equal(X, [[2, 1], [4, 3]]) and names == ["b", "a"]
    f.write_text("1,2\n3,4\n")
    assert load_table(f)[1] is None
    np.save(tmp_path / "m.npy", np.eye(2))
    X, names = load_table(tmp_path / "m.npy")
    assert_array_equal(X, np.eye(2)) and names is None
