"""The command line, run as a user runs it: ``python -m advcluster`` and the installed script.

Starting a process costs about two seconds here (importing numpy, scipy and scikit-learn),
so a representative set of commands runs in real processes, started together by a module
fixture, and every case, good or bad, also runs in-process through :func:`advcluster.cli.main`,
the function both entry points call: what it returns is the exit code, what it prints is
what the user sees, and an exception escaping it would be a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs

from advcluster import ConvexClustering
from advcluster.cli import main
from advcluster.io import load_matrix

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# The installed console script sits next to the interpreter in a virtual environment.
SCRIPT = shutil.which("advcluster", path=str(Path(sys.executable).parent)) or shutil.which("advcluster")

# ----------------------------------------------------------------------------- data files

X_CSV, Y_CSV = make_blobs(n_samples=40, centers=[[0, 0], [6, 6]], cluster_std=0.4, random_state=1)


def _write_files(d: Path):
    names = ["a", "b"]
    lines = ["x,y,name"] + [f"{x:.17g},{y:.17g},{names[c]}" for (x, y), c in zip(X_CSV, Y_CSV)]
    (d / "data.csv").write_text("\n".join(lines) + "\n")
    (d / "plain.tsv").write_text("\n".join(f"{x:.17g}\t{y:.17g}" for x, y in X_CSV) + "\n")
    np.save(d / "data.npy", X_CSV)
    np.save(d / "noise.npy", np.random.default_rng(0).normal(size=(80, 2)))
    (d / "small.csv").write_text("x,y\n0,0\n1,1\n5,5\n6,6\n")
    (d / "semicolon.csv").write_text("x;y\n0;0\n1;1\n5;5\n6;6\n")
    (d / "nan.csv").write_text("x,y\n0,0\n1,nan\n5,5\n")
    (d / "missing.csv").write_text("x,y\n0,0\n1,\n5,5\n")
    (d / "ragged.csv").write_text("x,y\n0,0\n1,1,1\n5,5\n")
    (d / "empty.csv").write_text("")
    (d / "fake.npy").write_text("0,1\n2,3\n")
    (d / "binary.dat").write_bytes(bytes(range(256)))
    np.save(d / "objects.npy", np.array([{"a": 1}, None], dtype=object))
    bad = X_CSV.copy()
    bad[3, 1] = np.nan
    np.save(d / "nan.npy", bad)
    (d / "subdir").mkdir()


# ----------------------------------------------------------------------------- commands

GOOD = {
    "demo": ["solve"],
    "demo_json": ["solve", "--json"],
    "csv_text": ["solve", "data.csv", "--columns", "x,y", "--k", "5", "--out", "labels_text.csv"],
    "csv_json": ["solve", "data.csv", "--columns", "x,y", "--k", "5", "--json", "--out", "labels.csv"],
    "csv_by_index": ["solve", "data.csv", "--columns", "0,1", "--k", "5", "--json"],
    "npy": ["solve", "data.npy", "--k", "5", "--json"],
    "tsv_no_header": ["solve", "plain.tsv", "--no-header", "--delimiter", "tab", "--k", "5", "--json"],
    "exact1d": ["solve", "data.csv", "--columns", "y", "--weights", "uniform", "--method", "exact1d",
                "--gamma", "0.05", "--json"],
    "not_converged": ["solve", "noise.npy", "--gamma", "0.3", "--max-iter", "1", "--tol", "1e-12", "--json"],
    "help": ["solve", "--help"],
}

# name: (arguments, what the one error line must contain)
BAD = {
    "missing_file": (["solve", "nope.csv"], "nope.csv: no such file"),
    "directory": (["solve", "subdir"], "is a directory"),
    "text_column": (["solve", "data.csv"], "column 'name' (index 2) is not numeric: line 2 has 'a'"),
    "text_column_selected": (["solve", "data.csv", "--columns", "x,name"], "column 'name' (index 2) is not numeric"),
    "wrong_delimiter": (["solve", "semicolon.csv", "--delimiter", ","], "(is ';' the delimiter?)"),
    "nan_value": (["solve", "nan.csv"], "column 'y' (index 1) has NaN on line 3"),
    "missing_value": (["solve", "missing.csv"], "column 'y' (index 1) has a missing value on line 3"),
    "ragged_rows": (["solve", "ragged.csv"], "line 3 has 3 fields but line 1 has 2"),
    "empty_file": (["solve", "empty.csv"], "holds no data"),
    "binary_file": (["solve", "binary.dat"], "not a UTF-8 text file"),
    "not_npy": (["solve", "fake.npy"], "not a NumPy .npy file"),
    "npy_objects": (["solve", "objects.npy"], "cannot read as a .npy array"),
    "npy_nan": (["solve", "nan.npy"], "NaN at row 3, column 1"),
    "unknown_column": (["solve", "data.csv", "--columns", "x,zz"], "no column named 'zz'; the columns are 'x', 'y', 'name'"),
    "column_out_of_range": (["solve", "data.csv", "--columns", "0,9"], "no column 9"),
    "bad_delimiter": (["solve", "data.csv", "--delimiter", "ab"], "delimiter must be one character"),
    "unknown_option": (["solve", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    "negative_gamma": (["solve", "--gamma", "-1"], "argument --gamma: must be a finite number >= 0, got '-1'"),
    "text_gamma": (["solve", "--gamma", "abc"], "argument --gamma: not a number: 'abc'"),
    "nan_gamma": (["solve", "--gamma", "nan"], "argument --gamma: must be a finite number"),
    "zero_k": (["solve", "--k", "0"], "argument --k: must be an integer >= 1"),
    "k_too_large": (["solve", "small.csv", "--k", "10"], "k=10 neighbours need at least k + 1 = 11 samples"),
    "unknown_method": (["solve", "--method", "newton"], "argument --method: invalid choice: 'newton'"),
    "exact1d_needs_uniform": (["solve", "--method", "exact1d"], "method 'exact1d' needs a complete graph"),
    "bad_p": (["solve", "--p", "3"], "argument --p: invalid choice"),
    "options_without_file": (["solve", "--columns", "x"], "--columns applies to a FILE"),
    "unwritable_out": (["solve", "--out", "no/such/dir/labels.csv"], "cannot write no/such/dir/labels.csv"),
    "unknown_command": (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    "no_command": ([], "the following arguments are required: COMMAND"),
}


# Run in real processes (the rest only in-process): one of each kind of output and of error.
IN_PROCESSES = ["demo", "demo_json", "csv_json", "not_converged"]
BAD_IN_PROCESSES = ["missing_file", "text_column", "unknown_option", "negative_gamma", "k_too_large"]


def _run(args, cwd, exe=None):
    cmd = [exe] if exe else [sys.executable, "-m", "advcluster"]
    return subprocess.run(cmd + args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    _write_files(d)
    return d


@pytest.fixture(scope="module")
def processes(workdir):
    jobs = {name: (GOOD[name], None) for name in IN_PROCESSES}
    jobs.update({f"bad:{name}": (BAD[name][0], None) for name in BAD_IN_PROCESSES})
    if SCRIPT:
        jobs["script_demo"] = (["solve", "--json"], SCRIPT)
        jobs["script_bad"] = (["solve", "--gamma", "-1"], SCRIPT)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(_run, args, workdir, exe) for name, (args, exe) in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.fixture
def cli(workdir, monkeypatch, capsys):
    """Run ``advcluster ARGS`` in-process, in the data directory; return code and output."""
    monkeypatch.chdir(workdir)

    def run(args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return _Result(code, out, err)

    return run


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def _json(proc):
    _ok(proc)
    return json.loads(proc.stdout)


def _one_error_line(proc, expected):
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("advcluster: error: ")
    assert expected in lines[0]
    assert proc.stdout == ""


# ----------------------------------------------------------------------------- good runs


def test_demo_prints_data_clusters_and_accuracy(processes):
    proc = _ok(processes["demo"])
    out = proc.stdout
    assert "built-in demo: four Gaussian blobs" in out and "make_blobs(n_samples=300" in out
    assert "clusters: 4 (sizes 75, 75, 75, 75)" in out
    assert "KKT residual" in out and "primal objective" in out and "dual objective" in out
    assert "converged" in out and "NOT CONVERGED" not in out
    assert "ARI = 1.000" in out
    assert proc.stderr == ""


def test_demo_json(processes):
    res = _json(processes["demo_json"])
    keys = {"labels", "n_clusters", "sizes", "objective", "kkt_residual", "success", "message", "time",
            "method", "gamma"}
    assert keys <= set(res)
    assert res["n_clusters"] == 4 and res["sizes"] == [75, 75, 75, 75]
    assert len(res["labels"]) == 300 and res["labels"][0] == 0
    assert res["success"] is True and res["kkt_residual"] <= 1e-6
    assert res["method"] == "ssnal" and res["gamma"] == 1.0


def test_csv_matches_the_estimator_and_writes_labels(processes, workdir):
    res = _json(processes["csv_json"])
    est = ConvexClustering(k=5).fit(X_CSV)
    assert res["labels"] == est.labels_.tolist()
    assert res["n_clusters"] == est.n_clusters_ == 2
    assert res["n_samples"] == 40 and res["n_features"] == 2
    text = (workdir / "labels.csv").read_text().splitlines()
    assert text[0] == "label,center_0,center_1"
    table = np.loadtxt(workdir / "labels.csv", delimiter=",", skiprows=1)
    assert table.shape == (40, 3)
    assert_array_equal(table[:, 0].astype(int), est.labels_)
    np.testing.assert_allclose(table[:, 1:], est.centers_, rtol=1e-15, atol=1e-15)


def test_non_convergence_is_a_warning_not_an_error(processes):
    proc = processes["not_converged"]
    res = _json(proc)
    assert res["success"] is False and "max_iter" in res["message"]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("advcluster: warning: the solver did not converge")


@pytest.mark.skipif(SCRIPT is None, reason="the advcluster console script is not installed")
def test_installed_script(processes):
    assert _json(processes["script_demo"])["n_clusters"] == 4
    _one_error_line(processes["script_bad"], "argument --gamma")


def test_in_process_run_matches_the_process(processes, cli):
    here = json.loads(cli(GOOD["csv_json"]).stdout)
    there = json.loads(processes["csv_json"].stdout)
    del here["time"], there["time"]
    assert here == there


def test_csv_text_output(cli, workdir):
    proc = _ok(cli(GOOD["csv_text"]))
    out = proc.stdout
    assert "data: data.csv" in out and "40 samples, 2 features" in out
    assert "clusters: 2 (sizes 20, 20)" in out
    assert "labels and centres written to labels_text.csv" in out
    table = np.loadtxt(workdir / "labels_text.csv", delimiter=",", skiprows=1)
    assert_array_equal(table[:, 0].astype(int), ConvexClustering(k=5).fit_predict(X_CSV))


@pytest.mark.parametrize("name", ["csv_by_index", "npy", "tsv_no_header"])
def test_other_inputs_give_the_same_clustering(cli, name):
    assert _json(cli(GOOD[name]))["labels"] == ConvexClustering(k=5).fit_predict(X_CSV).tolist()


def test_exact1d_on_one_column(cli):
    res = _json(cli(GOOD["exact1d"]))
    assert res["method"] == "exact1d" and res["success"] is True and res["n_features"] == 1
    expected = ConvexClustering(gamma=0.05, weights="uniform", method="exact1d").fit_predict(X_CSV[:, [1]])
    assert res["labels"] == expected.tolist()


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(GOOD["help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--gamma", "--weights", "--k", "--phi", "--method", "--tol", "--p", "--columns",
                   "--delimiter", "--no-header", "--out", "--json"):
        assert option in out


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", BAD_IN_PROCESSES)
def test_bad_input_in_a_process_one_error_line_exit_2(processes, name):
    _one_error_line(processes[f"bad:{name}"], BAD[name][1])


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_one_error_line_exit_2(cli, name):
    args, expected = BAD[name]
    _one_error_line(cli(args), expected)


# ----------------------------------------------------------------------------- load_matrix


def test_load_matrix_text_variants(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text('\ufeff# a comment\n"x","y label",z\n1,2,3\n\n4,5,6\n')  # BOM, comment, quotes, blank line
    assert_array_equal(load_matrix(f), [[1, 2, 3], [4, 5, 6]])
    assert_array_equal(load_matrix(f, columns=["z", 0, "y label"]), [[3, 1, 2], [6, 4, 5]])
    f.write_text("1 2\n3   4\n")  # whitespace, no header
    assert_array_equal(load_matrix(f), [[1, 2], [3, 4]])
    f.write_text("a;b\n1;2\n")
    assert_array_equal(load_matrix(f, delimiter=";"), [[1, 2]])
    with pytest.raises(ValueError, match=r"column 0 is not numeric: line 1 has 'a'"):
        load_matrix(f, delimiter=";", header=False)


def test_load_matrix_header_inference_keeps_a_text_first_row_of_data(tmp_path):
    # A label column is text in every row: the first row is data, not a header.
    f = tmp_path / "t.csv"
    f.write_text("1,2,setosa\n3,4,setosa\n")
    assert_array_equal(load_matrix(f, columns=[0, 1]), [[1, 2], [3, 4]])


def test_load_matrix_npy(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(4))
    assert load_matrix(tmp_path / "v.npy").shape == (4, 1)  # 1-D: one feature
    np.save(tmp_path / "m.npy", np.arange(6).reshape(3, 2))
    assert_array_equal(load_matrix(tmp_path / "m.npy", columns=[1]), [[1], [3], [5]])
    with pytest.raises(ValueError, match="no column names; select columns by 0-based index"):
        load_matrix(tmp_path / "m.npy", columns=["x"])
    with pytest.raises(ValueError, match="header must be"):
        load_matrix(tmp_path / "m.npy", header="yes")


@settings(max_examples=30, deadline=None)
@given(
    values=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                      elements=st.floats(-1e300, 1e300, allow_nan=False)),
    delimiter=st.sampled_from([",", "\t", ";", "|", " "]),
    header=st.booleans(),
)
def test_load_matrix_round_trip(tmp_path_factory, values, delimiter, header):
    f = tmp_path_factory.mktemp("rt") / "data.txt"
    names = delimiter.join(f"c{j}" for j in range(values.shape[1]))
    np.savetxt(f, values, fmt="%.17g", delimiter=delimiter, header=names if header else "", comments="")
    assert_array_equal(load_matrix(f), values)
    assert_array_equal(load_matrix(f, delimiter=delimiter, header=header), values)


def test_a_numeric_column_name_is_a_name_first(tmp_path, capsys):
    f = tmp_path / "years.csv"
    f.write_text("id,2019,2020\n0,1.0,5.0\n1,1.1,5.2\n2,9.0,0.0\n")
    assert main(["solve", str(f), "--columns", "2019,2", "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_features"] == 2
    assert_array_equal(load_matrix(f, columns=["2019", "2"]), [[1.0, 5.0], [1.1, 5.2], [9.0, 0.0]])
