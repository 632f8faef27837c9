"""The command line, run as a user runs it: ``python -m advcluster`` and the installed script.

Every subcommand: ``solve``, ``certify``, ``attack``, ``datasets`` (and ``--dataset`` on the
data-reading ones) through real processes and in-process; ``reproduce`` only in-process, with
a stand-in for :mod:`advcluster.experiments`.

Starting a process costs about two seconds here (importing numpy, scipy and scikit-learn),
so a representative set of commands runs in real processes, started together by a module
fixture, and every case, good or bad, also runs in-process through :func:`advcluster.cli.main`,
the function both entry points call: what it returns is the exit code, what it prints is
what the user sees, and an exception escaping it would be a traceback.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs

from advcluster import ConvexClustering, certified_radius, knn_graph, recovery_bounds, solve, uniform_graph
from advcluster.attacks import OPTIMIZERS
from advcluster.cli import main
from advcluster.graph import first_appearance
from advcluster.cli.args import key_value
from advcluster.datasets import SEEDS_FILE, list_datasets
from advcluster.deviation import deviation
from advcluster.io import load_matrix
from advcluster.perturbation import Additive, Pointwise

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
    (d / "tie.csv").write_text("x\n0\n1\n5\n6\n")  # uniform weights, gamma 0.5: exact fusion thresholds
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
    # datasets, certify, attack
    "datasets": ["datasets"],
    "datasets_json": ["datasets", "--json"],
    "certify_json": ["certify", "data.csv", "--columns", "x,y", "--weights", "uniform", "--gamma", "0.1", "--radius",
                     "--json"],
    "certify_text": ["certify", "data.csv", "--columns", "x,y", "--weights", "uniform", "--gamma", "0.1", "--radius"],
    "certify_knn": ["certify", "data.csv", "--columns", "x,y", "--k", "5", "--json"],
    "attack_grid": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "5",
                    "--rows", "0:5", "--features", "x", "--optimizer", "grid", "--option", "num=21", "--json"],
    "attack_staircase": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "5",
                         "--rows", "0:5", "--features", "x", "--optimizer", "staircase", "--option", "num=21",
                         "--option", "rtol=1e-6", "--out", "history.csv", "--json"],
    "attack_staircase_text": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget",
                              "5", "--rows", "0:5", "--features", "0", "--optimizer", "staircase", "--option",
                              "num=21", "--option", "rtol=1e-6", "--out", "history_text.csv"],
    "attack_bl2": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl2", "--target", "50",
                   "--max-norm", "5", "--rows", "0:5", "--features", "x", "--optimizer", "staircase",
                   "--option", "num=21", "--option", "rtol=1e-6", "--json"],
    "attack_bl2_unreached": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl2", "--target",
                             "500", "--max-norm", "1", "--rows", "0:5", "--features", "x", "--option", "num=5",
                             "--json"],
    "attack_bounds": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "5",
                      "--rows", "0,1,2:5", "--features", "x", "--bounds", "-0.5,0.5", "--option", "num=5", "--json"],
    "attack_random": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "3",
                      "--rows", "0:2", "--features", "x", "--perturbation", "pointwise", "--optimizer", "random",
                      "--max-evals", "8", "--random-state", "0", "--json"],
    "attack_injection": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "1",
                         "--perturbation", "injection", "--points", "2", "--optimizer", "biggio-bridge", "--json"],
    "attack_point_norm": ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "0.5",
                          "--rows", "0:3", "--perturbation", "pointwise", "--norm", "point", "--optimizer", "random",
                          "--max-evals", "6", "--random-state", "1", "--json"],
}

# A valid BL1 on data.csv (with --columns x,y): one parameter, rows 0..4, feature x.
BL1_ARGS = ["--problem", "bl1", "--budget", "5", "--rows", "0:5", "--features", "x"]

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
    # --dataset
    "unknown_dataset": (["solve", "--dataset", "nope"], "argument --dataset: invalid choice: 'nope'"),
    "file_and_dataset": (["solve", "data.csv", "--dataset", "iris"],
                         "argument --dataset: not allowed with argument FILE"),
    "dataset_with_delimiter": (["certify", "--dataset", "iris", "--delimiter", ","],
                               "--delimiter applies to a FILE, not to --dataset"),
    "data_dir_without_dataset": (["solve", "data.csv", "--data-dir", "."], "--data-dir applies to --dataset"),
    "dataset_unknown_column": (["solve", "--dataset", "iris", "--columns", "zz"],
                               "--columns (data set iris): no column named 'zz'; the columns are 'sepal length (cm)'"),
    # datasets
    "datasets_unknown_option": (["datasets", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    "datasets_extra_argument": (["datasets", "iris"], "unrecognized arguments: iris"),
    # certify
    "certify_missing_file": (["certify", "nope.csv"], "nope.csv: no such file"),
    "certify_wrong_delimiter": (["certify", "semicolon.csv", "--delimiter", ","], "(is ';' the delimiter?)"),
    "certify_text_column": (["certify", "data.csv"], "column 'name' (index 2) is not numeric: line 2 has 'a'"),
    "certify_unknown_option": (["certify", "data.csv", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    "certify_negative_gamma": (["certify", "--gamma", "-1"], "argument --gamma: must be a finite number >= 0"),
    # attack
    "attack_missing_file": (["attack", "nope.csv", *BL1_ARGS], "nope.csv: no such file"),
    "attack_wrong_delimiter": (["attack", "semicolon.csv", "--delimiter", ",", *BL1_ARGS], "(is ';' the delimiter?)"),
    "attack_text_column": (["attack", "data.csv", *BL1_ARGS], "column 'name' (index 2) is not numeric: line 2 has 'a'"),
    "attack_unknown_option": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--frobnicate"],
                              "unrecognized arguments: --frobnicate"),
    "attack_no_data": (["attack", *BL1_ARGS], "no data: give a FILE or --dataset NAME"),
    "attack_bad_rows": (["attack", "data.csv", "--problem", "bl1", "--budget", "1", "--rows", "0:abc"],
                        "argument --rows: '0:abc' is not a 0-based index or a range start:stop[:step]"),
    "attack_negative_row": (["attack", "data.csv", "--rows=-1", "--problem", "bl1", "--budget", "1"],
                            "argument --rows: '-1' is not a 0-based index"),
    "attack_zero_step": (["attack", "data.csv", "--rows", "0:10:0", "--problem", "bl1", "--budget", "1"],
                         "argument --rows: range '0:10:0' has step 0"),
    "attack_row_out_of_range": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget",
                                 "1", "--rows", "3,40"],
                                "--rows: row 40 is out of range; the data has 40 rows (0..39)"),
    "attack_range_past_the_end": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1",
                                   "--budget", "1", "--rows", "30:41"], "--rows: range '30:41' goes past the last row"),
    "attack_empty_range": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "1",
                            "--rows", "5:5"], "--rows: range '5:5' is empty"),
    "attack_row_twice": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "1",
                          "--rows", "0:5,3"], "--rows: row 3 is selected twice"),
    "attack_unknown_feature": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget",
                                "1", "--features", "zz"], "--features: no column named 'zz'; the columns are 'x', 'y'"),
    "attack_feature_out_of_range": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1",
                                     "--budget", "1", "--features", "2"], "--features: column 2 is out of range"),
    "attack_unknown_optimizer": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--optimizer", "newton"],
                                 "unknown optimizer 'newton'; choose auto or one of "),
    "attack_negative_budget": (["attack", "data.csv", "--problem", "bl1", "--budget", "-1"],
                               "argument --budget: must be a finite number >= 0, got '-1'"),
    "attack_text_budget": (["attack", "data.csv", "--problem", "bl1", "--budget", "lots"],
                           "argument --budget: not a number: 'lots'"),
    "attack_no_problem": (["attack", "data.csv", "--budget", "1"], "the following arguments are required: --problem"),
    "attack_unknown_problem": (["attack", "data.csv", "--problem", "bl3"], "argument --problem: invalid choice: 'bl3'"),
    "attack_bl1_without_budget": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl1"],
                                  "--problem bl1 needs --budget B"),
    "attack_bl1_with_target": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--target", "3"],
                               "--target applies to --problem bl2, not bl1"),
    "attack_bl2_without_target": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl2"],
                                  "--problem bl2 needs --target K"),
    "attack_bl2_with_budget": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl2", "--target", "3",
                                "--budget", "1"], "--budget applies to --problem bl1, not bl2"),
    "attack_bl2_unbounded": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl2", "--target", "3"],
                             "--problem bl2 needs --max-norm M or --bounds LO,HI"),
    "attack_zero_target": (["attack", "data.csv", "--problem", "bl2", "--target", "0"],
                           "argument --target: must be a finite number > 0"),
    "attack_target_too_large": (["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl2", "--target",
                                 "5000", "--max-norm", "1"], "target 5000 exceeds the largest possible 'delta'"),
    "attack_option_syntax": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--option", "num"],
                             "argument --option: expected key=value"),
    "attack_option_twice": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--option", "num=3",
                             "--option", "num=4"],
                            "--option num is given twice"),
    "attack_unknown_optimizer_option": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS,
                                         "--option", "foo=1"],
                                        "optimizer 'auto' chose 'staircase' (one parameter: exact in 1-D): unknown "
                                        "option(s) ['foo'] for optimizer 'staircase'"),
    "attack_bad_optimizer_option": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS,
                                     "--option", "num=1"],
                                    "num must be an integer >= 2"),
    "attack_grid_too_many_parameters": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS,
                                         "--perturbation", "pointwise", "--optimizer", "grid"],
                                        "covers 1 or 2 parameters, this perturbation has 5; pass --option points=LIST,"),
    "attack_l0_budget_gives_no_box": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS, "--norm", "l0"],
                                      "gives no box); give --bounds LO,HI."),
    "attack_optimizer_wrong_problem": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS, "--optimizer",
                                        "bisection"], "optimizer 'bisection' does not solve BL1"),
    "attack_bad_bounds": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--bounds", "1,2"],
                          "argument --bounds: need LO <= 0 <= HI"),
    "attack_injection_without_points": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl1", "--budget", "1",
                                         "--perturbation", "injection"],
                                        "--perturbation injection needs --points K"),
    "attack_injection_with_rows": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl1", "--budget", "1",
                                    "--perturbation", "injection", "--points", "2", "--rows", "0:3"],
                                   "--rows does not apply to --perturbation injection"),
    "attack_injection_with_fro": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl1", "--budget", "1",
                                   "--perturbation", "injection", "--points", "2", "--norm", "fro"],
                                  "--norm fro does not apply to --perturbation injection; use distance or count"),
    "attack_points_without_injection": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--points", "2"],
                                        "--points applies to --perturbation injection only"),
    "attack_distance_without_injection": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--norm", "distance"],
                                          "--norm distance applies to --perturbation injection only"),
    "attack_zero_points": (["attack", "data.csv", "--columns", "x,y", "--problem", "bl1", "--budget", "1",
                            "--perturbation", "injection", "--points", "0"], "argument --points:"),
    "attack_bridge_without_injection": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS,
                                         "--optimizer", "biggio-bridge"],
                                        "optimizer 'biggio-bridge' places injected points: it needs an Injection"),
    "attack_bounds_syntax": (["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--bounds", "1"],
                             "argument --bounds: expected LO,HI"),
    "attack_feature_shift_rows": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS, "--perturbation",
                                   "feature-shift"], "--rows does not apply to --perturbation feature-shift"),
    "attack_unknown_norm": (["attack", "data.csv", *BL1_ARGS, "--norm", "l2"], "argument --norm: invalid choice: 'l2'"),
    "attack_unknown_deviation": (["attack", "data.csv", *BL1_ARGS, "--deviation", "nope"],
                                 "argument --deviation: invalid choice: 'nope'"),
    "attack_k_too_large": (["attack", "small.csv", "--problem", "bl1", "--budget", "1"], "k=10 neighbours need"),
    "attack_unwritable_out": (["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS, "--option", "num=3",
                               "--out", "no/such/dir/h.csv"], "cannot write no/such/dir/h.csv"),
    # reproduce (parsed before advcluster.experiments is imported)
    "reproduce_unknown_option": (["reproduce", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    "reproduce_empty_only": (["reproduce", "--only", "fig4,"], "argument --only: expected comma-separated"),
}


# These commands were written for the data as given, gamma = 1 and phi = 0.5, the command line's
# defaults before it standardised and chose gamma and phi from the data: they say so.
AS_GIVEN = ["--no-standardize", "--gamma", "1", "--phi", "0.5"]


def _as_given(args):
    return [args[0], *AS_GIVEN, *args[1:]] if args[:1] and args[0] in ("solve", "certify", "attack") else args


GOOD = {name: _as_given(args) for name, args in GOOD.items()}
BAD = {name: (_as_given(args), words) for name, (args, words) in BAD.items()}


# Run in real processes as well (everything runs in-process): JSON and a file written, a warning
# with exit status 0, and one error of each origin (the file, argparse, the library).
IN_PROCESSES = ["csv_json", "attack_staircase", "attack_bl2_unreached"]
BAD_IN_PROCESSES = ["missing_file", "unknown_option", "attack_unknown_optimizer"]


def _run(args, cwd, exe=None, env=None):
    cmd = [exe] if exe else [sys.executable, "-m", "advcluster"]
    return subprocess.run(cmd + args, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=300)


def _no_seeds(d: Path):
    """Environment variables under which the Seeds file is found nowhere (and never downloaded)."""
    return {"ADVCLUSTER_DATA": str(d / "nodata"), "ADVCLUSTER_CACHE": str(d / "nocache"),
            "ADVCLUSTER_NO_PACKAGED_DATA": "1"}


@pytest.fixture
def seeds_dir(tmp_path):
    """A folder holding a copy of the Seeds file shipped with the package (for --data-dir)."""
    (tmp_path / SEEDS_FILE).write_bytes((importlib.resources.files("advcluster") / "data" / SEEDS_FILE).read_bytes())
    return tmp_path


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    _write_files(d)
    (d / "nodata").mkdir()
    (d / "nocache").mkdir()
    return d


@pytest.fixture(scope="module")
def processes(workdir):
    jobs = {name: (GOOD[name], None, None) for name in IN_PROCESSES}
    jobs.update({f"bad:{name}": (BAD[name][0], None, None) for name in BAD_IN_PROCESSES})
    if SCRIPT:
        jobs["script_demo"] = (["solve", "--json"], SCRIPT, None)
        jobs["script_bad"] = (["solve", "--gamma", "-1"], SCRIPT, None)
    jobs["datasets_json"] = (["datasets", "--json"], None, _no_seeds(workdir))
    jobs["seeds_missing"] = (["solve", "--dataset", "seeds", "--no-download"], None, _no_seeds(workdir))
    jobs["seeds"] = (["solve", "--dataset", "seeds", "--gamma", "2", "--json"], None, None)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(_run, args, workdir, exe, env) for name, (args, exe, env) in jobs.items()}
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


def test_demo_prints_data_clusters_and_accuracy(cli):
    proc = _ok(cli(GOOD["demo"]))
    out = proc.stdout
    assert "built-in demo: four Gaussian blobs" in out and "make_blobs(n_samples=300" in out
    assert "clusters: 4 (sizes 75, 75, 75, 75)" in out
    assert "KKT residual" in out and "primal objective" in out and "dual objective" in out
    assert ("converged" in out or "where the partition was proven" in out) and "NOT CONVERGED" not in out
    assert "partition: proven exact" in out and "ARI = 1.000" in out
    assert proc.stderr == ""


def test_demo_json(cli):
    res = _json(cli(GOOD["demo_json"]))
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
    assert text[0] == "row,label,center_x,center_y"
    table = np.loadtxt(workdir / "labels.csv", delimiter=",", skiprows=1)
    assert table.shape == (40, 4)
    assert_array_equal(table[:, 0].astype(int), np.arange(40))
    assert_array_equal(table[:, 1].astype(int), est.labels_)
    np.testing.assert_allclose(table[:, 2:], est.centers_, rtol=1e-15, atol=1e-15)


def test_non_convergence_is_a_warning_not_an_error(cli):
    proc = cli(GOOD["not_converged"])
    res = _json(proc)
    assert res["success"] is False and "max_iter" in res["message"]
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("advcluster: warning: the solver did not converge")
    # One more line when the partition of the unconverged answer is not proven either.
    assert res["labels_certified"] is (len(lines) == 1)
    assert all(line.startswith("advcluster: warning: ") for line in lines) and len(lines) <= 2


@pytest.mark.parametrize("json_out", [True, False])
def test_unproven_partition_is_one_warning_line(cli, json_out):
    """At an exact fusion threshold no proof exists: the run succeeds, says so in one line."""
    proc = cli(["solve", "tie.csv", *AS_GIVEN, "--weights", "uniform", "--gamma", "0.5", "--method", "ssnal",
                *(["--json"] if json_out else [])])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [line for line in lines if line.startswith("advcluster: warning: the partition is not proven")]
    assert len(lines) == 1 and "undecided" in lines[0]
    if json_out:
        res = json.loads(proc.stdout)
        assert res["labels_certified"] is False and res["n_undecided"] > 0
    proven = cli(["solve", "tie.csv", *AS_GIVEN, "--weights", "uniform", "--gamma", "0.5", "--method", "exact1d",
                  "--json"])
    assert proven.returncode == 0 and proven.stderr == ""
    assert json.loads(proven.stdout)["labels_certified"] is True


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
    assert_array_equal(table[:, 1].astype(int), ConvexClustering(k=5).fit_predict(X_CSV))


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


# ----------------------------------------------------------------------------- helpers for the new verbs


def _split_row(line):
    return [c.strip() for c in line.strip().split("  ") if c.strip()]


def _recompute(theta, rows, features, cls=Additive, A=X_CSV, gamma=1.0, k=5):
    """The perturbation, the clean labels and the labels at ``theta``, from fresh cold solves on
    fresh kNN graphs, each partition proven (the attack's answer may sit within a few 1e-6 of a
    fusion threshold, where only a cold solve's proof settles the labels)."""
    pert = cls(index=rows, features=features).bind(A)
    B = A + pert.matrix(np.asarray(theta, dtype=float))
    ref, new = (solve(M, knn_graph(M, k, 0.5), gamma) for M in (A, B))
    assert ref.labels_certified and new.labels_certified, (ref.message, new.message)
    return pert, ref.labels, new.labels


def _inner_theta(plateau):
    """The end of a plateau nearest to theta = 0 (0 when the plateau contains it)."""
    lo, hi = plateau["lower"], plateau["upper"]
    return 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))


ATTACK_KEYS = {"theta", "norm", "deviation", "n_changed", "n_clusters", "feasible", "success", "message", "n_evals",
               "n_solves", "time", "labels", "problem", "optimizer", "measure", "perturbation", "model"}


# ----------------------------------------------------------------------------- subcommands and --dataset


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("solve", "certify", "attack", "datasets", "reproduce"):
        assert name in out


def test_datasets_table(cli, workdir, monkeypatch, seeds_dir):
    for key, value in _no_seeds(workdir).items():
        monkeypatch.setenv(key, value)
    proc = _ok(cli(GOOD["datasets"]))
    lines = proc.stdout.splitlines()
    assert _split_row(lines[0]) == ["name", "n", "d", "classes", "source", "local", "description"]
    infos = list_datasets()
    assert [_split_row(line)[0] for line in lines[1:1 + len(infos)]] == [i.name for i in infos]
    for info, line in zip(infos, lines[1:]):
        row = _split_row(line)
        assert row[1:6] == [str(info.n_samples), str(info.n_features), str(info.n_classes), info.source,
                            "yes" if info.available else "no"]
    assert {_split_row(line)[0]: _split_row(line)[5] for line in lines[1:1 + len(infos)]}["seeds"] == "no"
    assert "downloaded on first use" in lines[-1]
    out = _ok(cli(["datasets", "--data-dir", str(seeds_dir)])).stdout
    seeds = next(_split_row(line) for line in out.splitlines() if line.startswith("seeds "))
    assert seeds[5] == "yes"


def test_datasets_json_in_a_process(processes, workdir, monkeypatch):
    res = _json(processes["datasets_json"])
    for key, value in _no_seeds(workdir).items():
        monkeypatch.setenv(key, value)
    expected = [info._asdict() for info in list_datasets()]
    assert [{k: d[k] for k in expected[0]} for d in res["datasets"]] == expected
    assert all(d["description"] for d in res["datasets"])
    assert {d["name"]: d["available"] for d in res["datasets"]}["seeds"] is False


def test_missing_seeds_is_one_error_line(processes, cli, workdir, monkeypatch):
    _one_error_line(processes["seeds_missing"], "Seeds data file seeds_dataset.txt not found")
    line = processes["seeds_missing"].stderr
    assert "--data-dir DIR" in line and "--no-download" in line and "data_dir=" not in line
    for key, value in _no_seeds(workdir).items():
        monkeypatch.setenv(key, value)
    for verb in (["solve"], ["certify"], ["attack", "--problem", "bl1", "--budget", "1"]):
        _one_error_line(cli([*verb, "--dataset", "seeds", "--no-download"]), "seeds_dataset.txt not found")


def test_seeds_by_name_in_a_process(processes):
    res = _json(processes["seeds"])
    assert res["n_samples"] == 210 and res["n_features"] == 7 and res["data"].startswith("data set seeds")


def test_seeds_by_name_equals_the_seeds_file(cli, workdir, monkeypatch, seeds_dir):
    # The file has irregular runs of tabs; read as a FILE it gives the same matrix (column 7 is the class).
    # The packaged copy is hidden, so --data-dir is what finds the file by name.
    for key, value in _no_seeds(workdir).items():
        monkeypatch.setenv(key, value)
    by_name = _json(cli(["solve", "--dataset", "seeds", "--data-dir", str(seeds_dir), "--columns", "area,perimeter",
                         "--gamma", "2", "--json"]))
    by_file = _json(cli(["solve", str(seeds_dir / SEEDS_FILE), "--columns", "0,1", "--gamma", "2", "--json"]))
    assert by_name["n_features"] == by_file["n_features"] == 2
    assert by_name["labels"] == by_file["labels"]


def test_solve_a_named_data_set(cli):
    from sklearn.datasets import load_iris

    res = _json(cli(["solve", "--dataset", "iris", *AS_GIVEN, "--json"]))
    assert res["labels"] == ConvexClustering().fit_predict(load_iris().data).tolist()
    out = _ok(cli(["solve", "--dataset", "iris", *AS_GIVEN, "--columns", "petal width (cm),2"])).stdout
    assert "150 samples, 2 features" in out
    assert "agreement with the iris classes (setosa, versicolor, virginica): ARI = " in out


# ----------------------------------------------------------------------------- certify


def test_certify_json(cli):
    res = _json(cli(GOOD["certify_json"]))
    assert {"recovers", "verdict", "bounds", "radius", "labels", "n_clusters", "solver_success"} <= set(res)
    assert {"c1", "c2", "certified", "gamma_min", "gamma_max", "coarsening_bound", "failure"} <= set(res["bounds"])
    assert {"radius", "attained", "binding", "where", "weights", "reason", "meaning"} <= set(res["radius"])
    model = ConvexClustering(gamma=0.1, weights="uniform").fit(X_CSV)
    assert res["labels"] == model.labels_.tolist() and res["n_clusters"] == 2
    bounds = recovery_bounds(X_CSV, model.labels_, uniform_graph(40))
    radius = certified_radius(X_CSV, model.labels_, uniform_graph(40), 0.1, method="best")
    assert radius.radius > certified_radius(X_CSV, model.labels_, uniform_graph(40), 0.1).radius  # flows beat Thm 2
    assert res["recovers"] is True and res["bounds"]["certified"] is True and res["bounds"]["failure"] == ""
    assert res["bounds"]["gamma_min"] == pytest.approx(bounds.gamma_min, rel=1e-12)
    assert res["bounds"]["gamma_max"] == pytest.approx(bounds.gamma_max, rel=1e-12)
    assert res["radius"]["radius"] == pytest.approx(radius.radius, rel=1e-12) and radius.radius > 0
    assert res["radius"]["weights"] == "fixed" and res["radius"]["binding"] == radius.binding
    assert "changes the clustering" in res["radius"]["meaning"]


def test_certify_text(cli):
    out = _ok(cli(GOOD["certify_text"])).stdout
    assert "Recovery conditions (Sun, Toh & Yuan 2021, Thm 5)" in out
    assert "Theorem 5 certifies that gamma = 0.1 recovers this partition" in out
    assert "Certified radius" in out
    assert "meaning: no perturbation E with ||e_i||_2 < " in out and "changes the clustering at gamma = 0.1" in out


def test_certify_reports_an_uncertified_partition_with_infinite_bounds(cli):
    res = _json(cli(GOOD["certify_knn"]))  # kNN graph: pairs inside a cluster are missing, (C1) fails
    assert res["recovers"] is False and res["bounds"]["c1"] is False and "radius" not in res
    assert res["bounds"]["gamma_min"] == "inf"  # JSON has no infinity: the string
    assert "(C1) fails" in res["bounds"]["failure"] and "(C1) fails" in res["verdict"]


# ----------------------------------------------------------------------------- attack


def test_attack_bl1_grid(cli):
    res = _json(cli(GOOD["attack_grid"]))
    assert ATTACK_KEYS <= set(res)
    assert res["problem"] == "BL1" and res["optimizer"] == "grid" and res["options"] == {"num": 21}
    assert res["feasible"] is True and res["success"] is True and res["norm"] <= 5 * (1 + 1e-12)
    assert len(res["theta"]) == 1 and res["n_evals"] <= 21
    pert, ref, new = _recompute(res["theta"], range(5), [0])
    assert res["norm"] == pytest.approx(pert.norm(res["theta"]), rel=1e-14)
    assert res["deviation"] == deviation(ref, new, "delta") > 0
    assert res["labels"] == new.tolist() and res["clean_labels"] == ref.tolist()


def test_attack_bl1_staircase_in_a_process(processes, cli, workdir):
    res = _json(processes["attack_staircase"])
    assert ATTACK_KEYS | {"plateaus", "breakpoints"} <= set(res)
    assert res["feasible"] is True and res["success"] is True and res["norm"] <= 5 * (1 + 1e-12)
    pert, ref, new = _recompute(res["theta"], range(5), [0])
    assert res["deviation"] == deviation(ref, new, "delta") and res["labels"] == new.tolist()
    plateaus = res["plateaus"]
    assert [p["lower"] for p in plateaus] == sorted(p["lower"] for p in plateaus)
    edge = 5 / np.sqrt(5)  # the budget's end of the search range
    assert plateaus[0]["lower"] == pytest.approx(-edge) and plateaus[-1]["upper"] == pytest.approx(edge)
    assert res["deviation"] == max(p["value"] for p in plateaus)  # every plateau is within the budget
    assert len(res["breakpoints"]) == len(plateaus) - 1
    # exact in 1-D: never worse than the grid
    assert res["deviation"] >= _json(cli(GOOD["attack_grid"]))["deviation"]
    lines = (workdir / "history.csv").read_text().splitlines()
    assert lines[0] == "theta_0,norm,value,n_changed,n_clusters,feasible,solver_ok,certified"
    assert len(lines) == 1 + res["n_evals"]
    table = np.loadtxt(workdir / "history.csv", delimiter=",", skiprows=1)
    assert table[:, 2].max() == res["deviation"]


def test_attack_injection_bridge(cli):
    res = _json(cli(GOOD["attack_injection"]))
    assert res["feasible"] is True and res["success"] is True and res["optimizer"] == "biggio-bridge"
    assert res["perturbation"] == "Injection(n_points=2, box=data, ord='distance')" and res["n_params"] == 4
    points = np.asarray(res["theta"]).reshape(2, 2)
    nearest = np.sqrt(((points[:, None] - X_CSV[None]) ** 2).sum(axis=2)).min(axis=1)
    assert res["norm"] == pytest.approx(nearest.max(), rel=1e-12) and res["norm"] <= 1 * (1 + 1e-12)
    assert np.all(points >= X_CSV.min(axis=0)) and np.all(points <= X_CSV.max(axis=0))
    B = np.vstack([X_CSV, points])
    ref, new = (solve(M, knn_graph(M, 5, 0.5), 1.0) for M in (X_CSV, B))
    assert ref.labels_certified and new.labels_certified
    labels = first_appearance(new.labels[:len(X_CSV)])
    assert res["labels"] == labels.tolist() and res["clean_labels"] == ref.labels.tolist()
    assert res["deviation"] == deviation(ref.labels, labels, "delta")


def test_attack_point_norm(cli):
    res = _json(cli(GOOD["attack_point_norm"]))
    assert res["feasible"] is True and res["n_evals"] == 6 and res["n_params"] == 6
    E = np.asarray(res["theta"]).reshape(3, 2)
    assert res["norm"] == pytest.approx(np.sqrt((E**2).sum(axis=1)).max(), rel=1e-12) and res["norm"] <= 0.5 + 1e-12


def test_attack_in_process_matches_the_process(processes, cli):
    here = json.loads(cli(GOOD["attack_staircase"]).stdout)
    there = json.loads(processes["attack_staircase"].stdout)
    del here["time"], there["time"]
    assert here == there


def test_attack_staircase_text(cli):
    out = _ok(cli(GOOD["attack_staircase_text"])).stdout  # the feature by index: the same problem
    assert "BL1 by staircase: success" in out and "theta* = [" in out
    assert "Additive(index=[0, 1, 2, 3, 4], features=[0], ord='fro')" in out
    head = out.index("plateaus of delta along theta (")
    count = int(out[head:].split("(")[1].split(")")[0])
    assert len(out[head:].splitlines()) == 2 + count + 1  # title, header, rows, the --out line
    assert out.rstrip().endswith("evaluations written to history_text.csv")


def test_attack_bl2(cli):
    res = _json(cli(GOOD["attack_bl2"]))
    assert res["problem"] == "BL2" and res["target"] == 50 and res["max_norm"] == 5
    assert res["feasible"] is True and res["success"] is True and res["deviation"] >= 50
    pert, ref, new = _recompute(res["theta"], range(5), [0])
    assert res["deviation"] == deviation(ref, new, "delta")
    # the least norm among the plateaus that reach the target
    reaching = [_inner_theta(p) * np.sqrt(5) for p in res["plateaus"] if p["value"] >= 50]
    assert res["norm"] == pytest.approx(min(reaching), rel=1e-12)


def test_attack_bl2_that_misses_its_target_exits_0_with_success_false(processes, capsys):
    proc = processes["attack_bl2_unreached"]
    res = _json(proc)
    assert res["success"] is False and res["feasible"] is False and "target 500 not reached" in res["message"]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("advcluster: warning: the attack did not succeed")
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    assert "Exit status: 0 when the attack ran, also when it did not succeed" in capsys.readouterr().out


def test_attack_rows_bounds_and_a_negative_bound(cli):
    res = _json(cli(GOOD["attack_bounds"]))  # '--bounds -0.5,0.5' is read as the option's value
    assert "index=[0, 1, 2, 3, 4]" in res["perturbation"]
    assert -0.5 <= res["theta"][0] <= 0.5 and res["norm"] <= 0.5 * np.sqrt(5) * (1 + 1e-12)


def test_attack_pointwise_random(cli):
    res = _json(cli(GOOD["attack_random"]))
    assert res["n_params"] == 2 and res["n_evals"] <= 8 and res["optimizer"] == "random"
    assert res["feasible"] is True and res["norm"] <= 3 * (1 + 1e-12)
    pert, ref, new = _recompute(res["theta"], [0, 1], [0], cls=Pointwise)
    assert res["deviation"] == deviation(ref, new, "delta")
    assert res == {**_json(cli(GOOD["attack_random"])), "time": res["time"]}  # --random-state: the same answer


def test_attack_a_named_data_set_by_feature_name(cli):
    from sklearn.datasets import load_iris

    res = _json(cli(["attack", "--dataset", "iris", *AS_GIVEN, "--problem", "bl1", "--budget", "3", "--rows", "50:100:5",
                     "--features", "petal length (cm)", "--optimizer", "grid", "--option", "num=6", "--json"]))
    assert "features=[2]" in res["perturbation"] and res["n_samples"] == 150
    pert, ref, new = _recompute(res["theta"], range(50, 100, 5), [2], A=load_iris().data, k=10)
    assert res["deviation"] == deviation(ref, new, "delta") and res["feasible"] is True


def test_attack_optimizers_come_from_the_registry(cli, monkeypatch):
    from advcluster.attacks.core import Optimizer, Outcome

    err = cli(["attack", "data.csv", "--columns", "x,y", *BL1_ARGS, "--optimizer", "newton"]).stderr
    for name in OPTIMIZERS:
        assert name in err

    def run(search, *, scale=1.0):
        search.evaluate([scale * 0.1])
        return Outcome(f"one point at scale {scale!r}")

    monkeypatch.setitem(OPTIMIZERS, "one-point", Optimizer("one-point", run, ("BL1",), "any", "test"))
    res = _json(cli(["attack", "data.csv", "--columns", "x,y", "--k", "5", *BL1_ARGS, "--optimizer", "one-point",
                     "--option", "scale=2.5", "--json"]))
    assert res["theta"] == [0.25] and res["n_evals"] == 1 and res["message"] == "one point at scale 2.5"


def test_option_values():
    assert key_value("num=641") == ("num", 641)
    assert key_value("rtol=1e-9") == ("rtol", 1e-9)
    assert key_value("flag=true") == ("flag", True) and key_value("flag=False") == ("flag", False)
    assert key_value("x0=none") == ("x0", None)
    assert key_value("x0=0.1,-2") == ("x0", [0.1, -2])
    assert key_value('inner_options={"num": 5}') == ("inner_options", {"num": 5})
    assert key_value("inner=grid") == ("inner", "grid")


# ----------------------------------------------------------------------------- reproduce (in-process only)


class _FakeReport:
    def summary(self):
        return "Table 1 (ours | paper)\nreport: out/report.md, out/report.html"

    def to_dict(self):
        return {"out": "out", "seconds": float("inf"), "table1": [[1, np.float64(2.5)]]}


@pytest.fixture
def experiments(monkeypatch):
    """A stand-in for advcluster.experiments; returns the list of calls to reproduce()."""
    calls = []
    module = types.ModuleType("advcluster.experiments")
    module.EXPERIMENTS = {"fig4": None, "table1": None}

    def reproduce(**kwargs):
        calls.append(kwargs)
        return _FakeReport()

    def check_settings(settings, only=None, quick=False):
        if "bad" in settings:
            raise ValueError("fig4 on iris: bad must be good, got 1.")

    module.reproduce = reproduce
    module.check_settings = check_settings
    monkeypatch.setitem(sys.modules, "advcluster.experiments", module)
    return calls


def test_reproduce_defaults(experiments, capsys):
    assert main(["reproduce"]) == 0
    assert experiments == [dict(out="advcluster-report", only=None, quick=False, data_dir=None, progress=True,
                                n_jobs=-1)]
    assert capsys.readouterr().out == _FakeReport().summary() + "\n"


def test_reproduce_options_and_json(experiments, capsys):
    assert main(["reproduce", "--out", "here", "--only", "table1,fig4", "--quick", "--data-dir", "dd", "--jobs", "2",
                 "--json"]) == 0
    assert experiments == [dict(out="here", only=["table1", "fig4"], quick=True, data_dir="dd", progress=True, n_jobs=2)]
    assert json.loads(capsys.readouterr().out) == {"out": "out", "seconds": "inf", "table1": [[1, 2.5]]}


def test_reproduce_unknown_experiment(experiments, capsys):
    assert main(["reproduce", "--only", "fig4,fig99"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and experiments == []
    assert err.splitlines() == ["advcluster: error: unknown experiment(s) 'fig99' in --only; valid names: fig4, table1"]


def test_reproduce_bad_settings_and_jobs_are_rejected_before_anything_runs(experiments, capsys):
    for args, words in ((["--set", "bad=1"], "advcluster: error: bad --set: fig4 on iris: bad must be good, got 1."),
                        (["--jobs", "-2"], "advcluster: error: --jobs must be a positive number of processes or -1")):
        assert main(["reproduce", *args]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1 and err.startswith(words)
    assert experiments == []


def test_reproduce_errors_are_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "advcluster.experiments", None)  # cannot be imported
    assert main(["reproduce"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("advcluster: error: reproduce needs the module advcluster.experiments")
    module = types.ModuleType("advcluster.experiments")
    module.EXPERIMENTS = {}
    module.check_settings = lambda settings, only=None, quick=False: None

    def reproduce(**kwargs):
        raise ValueError("bad\ndata folder")

    module.reproduce = reproduce
    monkeypatch.setitem(sys.modules, "advcluster.experiments", module)
    assert main(["reproduce"]) == 2
    assert capsys.readouterr().err == "advcluster: error: bad data folder\n"


def test_attack_cache_replays_the_solves_of_a_run_again(cli, tmp_path):
    args = [*GOOD["attack_random"], "--cache", str(tmp_path / "solves.sqlite")]
    first = _json(cli(args))
    again = _json(cli(args))
    assert first["n_replayed"] == 0 and again["n_replayed"] == first["n_solves"] + 1  # and the clean solve
    assert again["n_solves"] == 0
    assert {k: v for k, v in again.items() if k not in ("time", "n_solves", "n_replayed")} == \
        {k: v for k, v in first.items() if k not in ("time", "n_solves", "n_replayed")}
    text = _ok(cli([a for a in args if a != "--json"]))
    assert "answer(s) replayed from" in text.stdout
    (tmp_path / "bad.sqlite").write_bytes(b"junk, not a database\n" * 40)
    _one_error_line(cli([*GOOD["attack_random"], "--cache", str(tmp_path / "bad.sqlite")]),
                    "is not a readable advcluster cache")


def test_a_graph_too_large_for_memory_is_refused_before_anything_is_built(cli, monkeypatch):
    import advcluster.graph as G

    built = []
    monkeypatch.setattr(G, "complete_graph", lambda *a, **k: built.append(1))
    monkeypatch.setattr(G, "uniform_graph", lambda *a, **k: built.append(1))
    for cmd in (["solve"], ["certify"], ["attack", "--problem", "bl1", "--budget", "1"]):
        for weights in ("complete", "uniform"):
            _one_error_line(cli([*cmd, "--dataset", "digits", "--weights", weights]),
                            f"--weights {weights} on 1,797 rows makes 1,613,706 edges: a solve would need about "
                            "13.3 GB with 64 features (--max-memory 4) and take of the order of 3.4 minutes on two "
                            "cores; use --weights knn")
    assert not built
    edges, need = G.solve_memory(1797, 64, "complete")
    assert edges == 1797 * 1796 // 2 and need == edges * (24 + 8 * G.SOLVE_COPIES * 64)
    assert G.solve_seconds(edges, 64) == pytest.approx(206.5, rel=1e-3)  # the measured 204 s
    _one_error_line(cli(["solve", "--dataset", "digits", "--weights", "complete", "--max-memory", "0"]),
                    "argument --max-memory: must be a finite number > 0")
    monkeypatch.undo()
    ok = _ok(cli(["solve", "--dataset", "iris", "--weights", "complete", "--gamma", "1", "--max-memory", "0.2"]))
    assert "11175 edges" in ok.stdout


def test_certify_says_once_why_a_radius_is_zero_and_what_would_give_one(cli):
    text = _ok(cli(["certify", "--dataset", "iris", *AS_GIVEN, "--gamma", "2", "--radius"])).stdout
    assert text.count("891 of its 1225 pairs are not edges") == 1 and "(C1) fails (above)" in text
    assert "Certified radius 0 (ball, weights recomputed): Theorem 5 does not certify the clean clustering" in text
    assert "hint: (C1) needs a positive weight on every pair inside a cluster" in text
    assert "--weights complete (Gaussian weights on all 11,175 pairs)" in text
    followed = _json(cli(["certify", "--dataset", "iris", *AS_GIVEN, "--gamma", "2", "--radius", "--weights", "complete",
                          "--phi", "0.05", "--json"]))
    assert followed["recovers"] and followed["radius"]["radius"] > 0 and followed["hint"] == ""
    outside = _json(cli(["certify", "--dataset", "iris", *AS_GIVEN, "--gamma", "40", "--weights", "complete", "--phi", "0.05",
                         "--json"]))
    b = outside["bounds"]
    if not outside["recovers"] and b["c1"] and b["gamma_min"] < b["gamma_max"]:
        assert "choose --gamma there" in outside["hint"]


def test_the_default_attack_perturbation_is_never_a_translation(cli):
    base = ["attack", "data.csv", "--columns", "x,y", "--k", "5", "--problem", "bl1", "--budget", "6",
            "--max-evals", "12", "--random-state", "0"]
    res = _json(cli([*base, "--json"]))
    assert res["perturbation"].startswith("Pointwise(index=all, features=all") and res["n_params"] == 80
    assert res["optimizer"] == "merge-split"
    text = _ok(cli(base))
    assert "perturbation: pointwise, each entry on its own (the default without --rows: one value added to every " \
           "row is a translation" in text.stdout
    paper = _json(cli([*base, "--rows", "0:5", "--features", "x", "--json"]))
    assert paper["perturbation"].startswith("Additive") and paper["n_params"] == 1
    warned = cli([*base, "--perturbation", "additive", "--json"])
    assert warned.returncode == 0 and "advcluster: warning: --perturbation additive without --rows" in warned.stderr
    assert _json(warned)["deviation"] == 0  # a translation changes nothing


@pytest.mark.parametrize("spec, make", [
    ("kmeans:n_clusters=2,n_init=1", lambda: __import__("sklearn.cluster").cluster.KMeans(2, n_init=1, random_state=0)),
    ("agglomerative:n_clusters=2,linkage=single",
     lambda: __import__("sklearn.cluster").cluster.AgglomerativeClustering(2, linkage="single")),
])
def test_attack_any_clusterer_from_the_command_line(cli, spec, make):
    res = _json(cli(["attack", "data.csv", "--columns", "x,y", "--no-standardize", "--problem", "bl1", "--budget",
                     "4", "--rows", "0:4",
                     "--perturbation", "pointwise", "--optimizer", "random", "--max-evals", "10", "--random-state",
                     "0", "--model", spec, "--json"]))
    assert res["model"].startswith("SklearnClusterer(")
    pert = Pointwise(index=[0, 1, 2, 3]).bind(X_CSV)
    B = X_CSV + pert.matrix(np.asarray(res["theta"], dtype=float))
    clean, after = make().fit_predict(X_CSV), make().fit_predict(B)
    assert res["deviation"] == deviation(clean, after, "delta") and res["norm"] <= 4 * (1 + 1e-12)


@pytest.mark.parametrize("spec, message", [
    ("kmeans:foo=3", "model kmeans takes no parameter(s) foo; it takes"),
    ("kmeans:n_clusters=0", "model kmeans: The 'n_clusters' parameter of KMeans must be"),
    ("nope", "unknown model 'nope'; choose one of convex, kmeans"),
    ("kmeans:n_clusters", "argument --model: expected key=value"),
    ("kmeans:n_init=1,n_init=2", "argument --model: n_init is given twice"),
    ("convex:gamma=2", "--model convex takes its parameters from --gamma"),
])
def test_attack_bad_models_get_one_line(cli, spec, message):
    _one_error_line(cli(["attack", "data.csv", "--columns", "x,y", "--problem", "bl1", "--budget", "1",
                         "--model", spec]), message)


def test_row_ids_and_column_names_in_the_labels_file(cli, tmp_path):
    """--id-column: a text column left out of the data and written beside each row."""
    ids = [f"cust-{i:03d}" for i in range(40)]
    lines = ["name,x,id,y"] + [f"n{i},{x:.17g},{ids[i]},{y:.17g}" for i, (x, y) in enumerate(X_CSV)]
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "labels.csv"
    _ok(cli(["solve", str(path), "--columns", "x,y", "--id-column", "id", "--k", "5", "--out", str(out)]))
    rows = out.read_text().splitlines()
    assert rows[0] == "id,label,center_x,center_y"
    assert [r.split(",")[0] for r in rows[1:]] == ids
    est = ConvexClustering(k=5).fit(X_CSV)
    assert [int(r.split(",")[1]) for r in rows[1:]] == est.labels_.tolist()
    plain = tmp_path / "plain.csv"  # without --columns: every other column, which must be numeric
    plain.write_text("\n".join(["x,id,y"] + [f"{x:.17g},{ids[i]},{y:.17g}" for i, (x, y) in enumerate(X_CSV)]) + "\n")
    _ok(cli(["solve", str(plain), "--id-column", "1", "--k", "5", "--out", str(out)]))
    assert out.read_text().splitlines()[0] == "id,label,center_x,center_y"
    _one_error_line(cli(["solve", str(path), "--id-column", "nope", "--k", "5"]), "no column named 'nope'")
    _one_error_line(cli(["solve", "--dataset", "iris", "--id-column", "0"]), "--id-column applies to a FILE")
    _one_error_line(cli(["solve", str(path), "--id-column", "id", "--k", "5"]), "column 'name' (index 0) is not numeric")


@pytest.mark.parametrize("name", ["wine", "breast-cancer", pytest.param("digits", marks=pytest.mark.slow)])
def test_default_solve_on_real_data_finds_a_handful_of_clusters(cli, name):
    """Standardised, phi and gamma chosen from the data: the major clusters are 2 to 20, recomputed
    from the labels, and the chosen values are those of the estimator on the standardised data."""
    from advcluster.datasets import load_dataset

    res = _json(cli(["solve", "--dataset", name, "--json"]))
    labels = np.asarray(res["labels"])
    sizes = np.bincount(labels)
    major = int((sizes >= max(2, np.ceil(0.02 * len(labels)))).sum())
    assert 2 <= major <= 20 and res["n_major_clusters"] == major
    assert res["standardized"] is True and "most stable" in res["gamma_chosen"]
    if name == "wine":  # the same as the estimator's choices on the standardised data
        X = load_dataset(name).data
        est = ConvexClustering(gamma="auto", phi="auto").fit((X - X.mean(0)) / X.std(0))
        assert res["gamma"] == pytest.approx(est.gamma_, rel=1e-12)
        assert res["phi"] == pytest.approx(est.phi_, rel=1e-12) and res["labels"] == est.labels_.tolist()
    text = _ok(cli(["solve", "--dataset", name, "--gamma", str(res["gamma"]), "--phi", str(res["phi"])])).stdout
    assert "standardised: each column to mean 0" in text and "gamma = " not in text.split("method")[0]
    assert f"{major} major clusters" in text or f"{major} clusters, every one" in text


def test_n_clusters_gives_that_many_major_clusters_where_the_path_has_them(cli):
    for k in (2, 3, 4):
        res = _json(cli(["solve", "--dataset", "wine", "--n-clusters", str(k), "--json"]))
        sizes = np.bincount(res["labels"])
        assert int((sizes >= 4).sum()) == res["n_major_clusters"] == k
        assert f"{k} major clusters" in res["gamma_chosen"]
    _one_error_line(cli(["solve", "--dataset", "wine", "--n-clusters", "40"]),
                    "--n-clusters 40: the clusterpath has no clustering with 40 major clusters")
    _one_error_line(cli(["solve", "--dataset", "wine", "--n-clusters", "3", "--gamma", "2"]),
                    "--n-clusters chooses gamma; give it or --gamma, not both")


def test_standardised_centres_come_back_in_the_datas_units(cli, tmp_path):
    """Rescaling a column changes nothing when the data are standardised; the centres in --out
    are in the data's units (the standardised solve, mapped back)."""
    out1, out2 = tmp_path / "a.csv", tmp_path / "b.csv"
    res = _json(cli(["solve", "data.csv", "--columns", "x,y", "--k", "5", "--json", "--out", str(out1)]))
    scaled = tmp_path / "scaled.csv"
    scaled.write_text("x,y\n" + "\n".join(f"{1000 * x:.17g},{y:.17g}" for x, y in X_CSV) + "\n")
    again = _json(cli(["solve", str(scaled), "--k", "5", "--json", "--out", str(out2)]))
    assert again["labels"] == res["labels"] and again["gamma"] == pytest.approx(res["gamma"], rel=1e-9)
    a = np.loadtxt(out1, delimiter=",", skiprows=1)[:, 2:]
    b = np.loadtxt(out2, delimiter=",", skiprows=1)[:, 2:]
    np.testing.assert_allclose(b[:, 0], 1000 * a[:, 0], rtol=1e-6)
    np.testing.assert_allclose(b[:, 1], a[:, 1], rtol=1e-6, atol=1e-9)
    sd, mean = X_CSV.std(0), X_CSV.mean(0)
    est = ConvexClustering(gamma=res["gamma"], phi=res["phi"], k=5).fit((X_CSV - mean) / sd)
    np.testing.assert_allclose(a, est.centers_ * sd + mean, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("args, words, python", [
    (["solve", "small.csv", *AS_GIVEN], "set --k", "set k <="),
    (["solve", "small.csv", *AS_GIVEN], "--weights complete", "weights='complete'"),
    (["solve", "data.csv", "--columns", "x,y", *AS_GIVEN, "--method", "exact1d"], "(--weights uniform)", "uniform_graph"),
    (["solve", "data.csv", "--columns", "x,y", *AS_GIVEN, "--method", "exact1d"], "--method ssnal or admm",
     "method='ssnal'"),
    (["solve", "data.csv", "--columns", "x,y", "--k", "5", *AS_GIVEN, "--method", "ssnal", "--p", "1"],
     "use --method admm", "method='admm'"),
])
def test_library_messages_reach_the_command_line_in_its_words(cli, args, words, python):
    proc = cli(args)
    assert proc.returncode == 2 and words in proc.stderr and python not in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", [["solve"], ["certify"], ["attack", "--problem", "bl1", "--budget", "0.5"], ["path", "--out", "OUT"], ["audit", "--out", "OUT"]])
def test_a_data_set_name_given_as_a_file_points_to_dataset(cli, command, tmp_path, monkeypatch):
    """'advcluster solve wine': no file of that name here, so the error says to use --dataset."""
    monkeypatch.chdir(tmp_path)
    args = [command[0], "wine"] + [str(tmp_path / "out") if a == "OUT" else a for a in command[1:]]
    _one_error_line(cli(args), "wine: no such file; for the named data set, give --dataset wine")


def test_certify_radius_takes_the_larger_certificate_and_says_which(cli):
    base = ["certify", "--dataset", "iris", "--weights", "complete", "--phi", "0.05", "--gamma", "0.2512", "--radius",
            "--json"]
    theorem2 = _json(cli([*base, "--certificate", "theorem2"]))["radius"]
    best = _json(cli(base))["radius"]
    flow = _json(cli([*base, "--certificate", "flow"]))["radius"]
    assert theorem2["radius"] == 0 and theorem2["binding"] == "clean"  # (C2) fails at this gamma
    assert best["radius"] == flow["radius"] > 0 and best["binding"] == "flow"
    assert "could run out of room" in best["reason"] and best["weights"] == "complete-gaussian"
    _one_error_line(cli(["certify", "--dataset", "iris", "--weights", "knn", "--gamma", "0.2", "--radius",
                         "--certificate", "flow"]),
                    "--certificate flow needs --p 2 and weights that are uniform, fixed (--no-reweight) or complete")
