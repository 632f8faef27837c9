"""Studies (advcluster.sweep): configs checked whole, tasks against direct library calls, a store
that loses nothing (resume, SIGTERM, SIGKILL, a task that raises, a changed config, a corrupt
file, a held lock), back-ends that agree (serial, loky, Dask), and the command line."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from advcluster import BL1, Injection, Pointwise, SklearnClusterer, attack, sweep
from advcluster.cli import main
from advcluster.datasets import load_dataset
from advcluster.io import LOCK_FILE, FolderInUseError
from advcluster.sweep.store import STORE_FILE

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

SMALL = """
problem = "bl1"
deviation = "ari"
max_evals = 6
seeds = [0, 1]
attacks = ["random", "auto"]

[[datasets]]
name = "iris"

[[datasets]]
name = "blobs"
options = { n_samples = 60, centers = 3 }

[[models]]
name = "kmeans"
n_clusters = "classes"
n_init = 1

[[threats]]
label = "rows 10%"
kind = "rows"
share = 0.1
budgets = [0.2, 0.5]

[[threats]]
label = "inject 2"
kind = "injection"
points = 2
"""
N_SMALL = 2 * 1 * (2 + 1) * 2 * 2  # datasets x models x levels x attacks x seeds


def standardize(X):
    """Columns to mean 0, standard deviation 1 (the test's own; these data have no constant column)."""
    return ((X - X.mean(0)) / X.std(0),)


def table(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def untimed(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small study run serially, uninterrupted: its exported table."""
    d = tmp_path_factory.mktemp("reference")
    summary = sweep.run(SMALL, d / "store", backend="serial", progress=False)
    assert summary.complete and summary.ran == N_SMALL and summary.failed == 0
    return untimed(table(sweep.export(d / "store", d / "out.csv")))


# ------------------------------------------------------------------------------ configs
def test_the_example_config_expands_to_its_cross_product():
    study = sweep.load_config(sweep.EXAMPLE)
    assert len(study.tasks) == 2 * 2 * (2 + 1) * 2 * 1
    assert len({t.key for t in study.tasks}) == len(study.tasks)
    assert [t.position for t in study.tasks] == list(range(len(study.tasks)))
    first = study.tasks[0].labels
    assert first == dict(dataset="iris", model="kmeans", threat="rows 5%", budget=0.25, attack="auto", seed=0)
    assert [t.labels["budget"] for t in study.tasks[:6]] == [0.25, 0.25, 0.5, 0.5, "points", "points"]


def test_exclusions_remove_exactly_the_matching_tasks():
    base = sweep.load_config(SMALL)
    cut = sweep.load_config(SMALL + '\n[[exclude]]\nthreat = "inject 2"\nattack = "auto"\n'
                            '\n[[exclude]]\ndataset = "blobs"\nseed = [1]\n')
    gone = [t.labels for t in base.tasks if (t.labels["threat"] == "inject 2" and t.labels["attack"] == "auto")
            or (t.labels["dataset"] == "blobs" and t.labels["seed"] == 1)]
    assert len(cut.tasks) == len(base.tasks) - len(gone) > 0
    assert [t.labels for t in cut.tasks] == [t.labels for t in base.tasks if t.labels not in gone]
    # a task's key is its computation: unchanged by removing others
    assert {t.key for t in cut.tasks} <= {t.key for t in base.tasks}


def test_keys_change_with_the_computation_and_the_data():
    a = sweep.load_config(SMALL)
    b = sweep.load_config(SMALL.replace("max_evals = 6", "max_evals = 7"))
    c = sweep.load_config(SMALL.replace("n_samples = 60", "n_samples = 61"))
    assert not {t.key for t in a.tasks} & {t.key for t in b.tasks}
    iris = {t.key for t in a.tasks if t.labels["dataset"] == "iris"}
    assert iris == {t.key for t in c.tasks if t.labels["dataset"] == "iris"}
    assert not {t.key for t in c.tasks if t.labels["dataset"] == "blobs"} & {t.key for t in a.tasks}
    assert a.fingerprint != b.fingerprint


@pytest.mark.parametrize("text, expected", [
    ('problem = "bl3"', "problem: 'bl3' is not one of bl1, bl2"),
    ("seeds = [1, 1]", "seeds: [1, 1] repeats a seed"),
    ("seeds = [-1]", "seeds: must be a list of whole numbers >= 0"),
    ("max_evals = 0", "max_evals: must be a whole number >= 1"),
    ('deviation = "nope"', "deviation: 'nope' is not a measure"),
    ("colour = 1", "colour: unknown setting"),
    ('attacks = ["auto", "bogus"]', "attacks[1]: unknown attack 'bogus'"),
    ('[[datasets]]\nname = "mnist"', "datasets (mnist): unknown data set 'mnist'"),
    ('[[datasets]]\nname = "iris"\nfile = "x.csv"', "datasets[2]: give name (a named data set) or file"),
    ('[[datasets]]\nfile = "/no/such/file.csv"', "datasets (file)"),
    ('[[models]]\nname = "kmeans"\nfoo = 1', "models[1]: model kmeans takes no parameter(s) foo"),
    ('[[models]]\nname = "kmeans"\nn_clusters = 0', "models[1]: model kmeans: The 'n_clusters' parameter"),
    ('[[models]]\nname = "nope"', "models[1]: unknown model 'nope'"),
    ('[[models]]\nname = "convex"', "models[1]: model convex needs gamma"),
    ('[[models]]\nname = "kmeans"\nmax_clusters = 3', "max_clusters applies to name = \"convex\""),
    ('[[threats]]\nkind = "teleport"', "threats[2]: kind must be one of rows, additive, feature-shift, injection"),
    ('[[threats]]\nkind = "rows"\nshare = 2.0\nbudgets = [1]', "share: is a fraction of the points, at most 1"),
    ('[[threats]]\nkind = "rows"\nrows = [0, 999]\nbudgets = [1]', "threat rows 2: rows go up to 149 here"),
    ('[[threats]]\nkind = "rows"\nshare = 0.1', "threats[2] budgets: give a list of numbers"),
    ('[[threats]]\nkind = "rows"\nshare = 0.1\nbudgets = [-1]', "must be a non-negative number, got -1"),
    ('[[threats]]\nkind = "rows"\nshare = 0.1\nbudgets = [1]\ntargets = [0.1]', "targets applies to problem = \"bl2\""),
    ('[[threats]]\nkind = "injection"\nbudgets = [1]', "give points (how many are added) or share"),
    ('[[threats]]\nlabel = "rows 10%"\nkind = "rows"\nshare = 0.2\nbudgets = [1]',
     "threats: two entries are labelled 'rows 10%'"),
    ('[[exclude]]\nflavour = "x"', "exclude[0]: unknown key 'flavour'"),
])
def test_every_problem_of_a_config_is_named(text, expected):
    # settings before the first table are top-level; tables are appended after the small study's
    config = text + "\n" + SMALL if not text.startswith("[[") else SMALL + "\n" + text + "\n"
    if text.startswith(('problem', 'deviation', 'max_evals', 'seeds', 'attacks')):
        key = text.split(" =")[0]
        config = text + "\n" + "\n".join(line for line in SMALL.splitlines() if not line.startswith(key + " ="))
    with pytest.raises(sweep.ConfigError) as info:
        sweep.load_config(config)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_all_problems_are_reported_together(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('problem = "bl9"\nseeds = []\n[[models]]\nname = "kmeans"\nfoo = 2\n')
    with pytest.raises(sweep.ConfigError) as info:
        sweep.load_config(path)
    problems = info.value.problems
    assert len(problems) >= 5 and info.value.source == str(path)
    assert any(p.startswith("problem:") for p in problems) and any(p.startswith("seeds:") for p in problems)
    assert any(p.startswith("datasets:") for p in problems) and any(p.startswith("threats:") for p in problems)
    path.write_text("problem = \n")
    with pytest.raises(sweep.ConfigError, match="not valid TOML"):
        sweep.load_config(path)
    with pytest.raises(FileNotFoundError, match="config file .* not found"):
        sweep.load_config(tmp_path / "missing.toml")


def test_a_file_data_set_needs_numbers_where_classes_are_unknown(tmp_path):
    X = np.random.default_rng(0).normal(size=(30, 3))
    np.savetxt(tmp_path / "mine.csv", X, delimiter=",", header="a,b,c", comments="")
    config = SMALL.replace('name = "iris"', f'file = "{tmp_path / "mine.csv"}"\ncolumns = ["a", "c"]')
    with pytest.raises(sweep.ConfigError, match="needs the data's classes for n_clusters"):
        sweep.load_config(config)
    study = sweep.load_config(config.replace('n_clusters = "classes"', "n_clusters = 2"))
    spec = study.tasks[0].spec
    assert study.tasks[0].labels["dataset"] == "mine" and spec["dataset"]["columns"] == ["a", "c"]
    outcome = sweep.run_task(spec)
    assert outcome["status"] == "done", outcome["error"]
    assert outcome["result"]["n_samples"] == 30 and outcome["result"]["n_features"] == 2


# ------------------------------------------------------------------------------ tasks
def test_boundary_rows_against_their_definition():
    rng = np.random.default_rng(3)
    for trial in range(10):
        X = rng.normal(size=(40, 3))
        labels = rng.integers(-1 if trial % 3 == 0 else 0, 4, size=40)
        share = rng.uniform(0.05, 0.5)
        got = sweep.boundary_rows(X, labels, share)
        ks = sorted(set(labels[labels >= 0]))
        margin = []
        for i in range(40):
            d = {c: np.linalg.norm(X[i] - X[labels == c].mean(0)) for c in ks}
            own = d[labels[i]] if labels[i] >= 0 else 0.0
            margin.append(min(v for c, v in d.items() if c != labels[i]) - own)
        count = max(1, int(round(share * 40)))
        expect = sorted(sorted(range(40), key=lambda i: (margin[i], i))[:count])
        assert list(got) == expect


def test_a_task_is_the_library_call_it_describes():
    """The sweep's task answers what the same attack answers when called directly."""
    study = sweep.load_config(SMALL)
    iris = standardize(load_dataset("iris").data)[0]
    for task in study.tasks:
        lab = task.labels
        if lab["dataset"] != "iris":
            continue
        outcome = sweep.run_task(task.spec)
        assert outcome["status"] == "done", outcome["error"]
        r = outcome["result"]
        model = SklearnClusterer(KMeans(3, n_init=1, random_state=0))
        clean = model.reference(iris).labels
        if lab["threat"] == "rows 10%":
            rows = sweep.boundary_rows(iris, clean, 0.1)
            pert = Pointwise(index=rows, ord="inf")
        else:
            pert = Injection(2, ord="count")
        budget = 2 if lab["budget"] == "points" else lab["budget"]
        assert r["budget_value"] == budget
        problem = BL1(model, iris, pert, budget, deviation="ari")
        res = attack(problem, lab["attack"], random_state=lab["seed"], max_evals=6, progress=False)
        assert r["deviation"] == pytest.approx(res.deviation, abs=1e-12)
        assert r["norm"] == pytest.approx(res.norm, abs=1e-12) and r["n_evals"] == res.n_evals
        assert r["optimizer"] == res.optimizer and r["clean_clusters"] == 3
        assert r["ari"] == pytest.approx(adjusted_rand_score(clean, res.labels[:150]), abs=1e-12)
        assert r["deviation"] == pytest.approx(1 - r["ari"], abs=1e-12)
        after = res.labels[:150]
        changed = (clean[:, None] == clean[None]) != (after[:, None] == after[None])
        assert r["delta_share"] == np.count_nonzero(changed) / (150 * 149)
        assert r["norm"] <= budget + 1e-12


def test_data_dependent_choices_for_convex_clustering_and_dbscan():
    from sklearn.neighbors import NearestNeighbors

    from advcluster import knn_graph, solve
    from advcluster.choose import GAMMA_GRID, gamma_for_clusters, neighbour_scale, scaled_phi

    X = standardize(load_dataset("wine").data)[0]
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(D, np.inf)
    nearest = np.sort(D, axis=1)
    assert scaled_phi(X, 10) == pytest.approx(0.5 / np.median(nearest[:, :10] ** 2), rel=1e-12)
    assert neighbour_scale(X, 5) == pytest.approx(np.median(nearest[:, 4]), rel=1e-12)
    assert NearestNeighbors  # scikit-learn's own search gives the same neighbours
    phi = scaled_phi(X)
    gamma = gamma_for_clusters(X, 6, 10, phi)
    graph = knn_graph(X, 10, phi)
    counts = [solve(X, graph, float(g), certify=False).n_clusters for g in GAMMA_GRID]
    first = next(g for g, c in zip(GAMMA_GRID, counts) if c <= 6)
    assert gamma == first
    study = sweep.load_config(SMALL.replace('name = "iris"', 'name = "wine"').replace(
        'name = "kmeans"\nn_clusters = "classes"\nn_init = 1',
        'name = "convex"\ngamma = "auto"\nphi = "auto"\n\n[[models]]\nname = "dbscan"\neps = "auto"'))
    convex = next(t for t in study.tasks if t.labels["model"] == "convex" and t.labels["dataset"] == "wine")
    r = sweep.run_task(convex.spec)["result"]
    assert r["model_gamma"] == gamma and r["model_phi"] == pytest.approx(phi, rel=1e-12)
    db = next(t for t in study.tasks if t.labels["model"] == "dbscan" and t.labels["dataset"] == "wine")
    assert sweep.run_task(db.spec)["status"] == "done"


def test_every_named_model_builds_and_fits():
    from advcluster.clusterers import CLUSTERERS, make_model

    X = standardize(load_dataset("iris").data)[0]
    for name in CLUSTERERS:
        params = {"gamma": 5.0} if name == "convex" else {}
        model = make_model(name, **params)
        labels = model.reference(X).labels
        assert labels.shape == (150,)
        est = getattr(model, "estimator", None)
        if est is not None and "random_state" in est.get_params():
            assert est.get_params()["random_state"] == 0
    assert make_model("kmeans", random_state=7).estimator.random_state == 7
    with pytest.raises(ValueError, match="unknown model 'nope'; choose one of convex, kmeans"):
        make_model("nope")
    with pytest.raises(ValueError, match="model gmm: The 'covariance_type' parameter"):
        make_model("gmm", covariance_type="round")


def test_a_bl2_study_answers_with_the_least_change_found():
    config = SMALL.replace('problem = "bl1"', 'problem = "bl2"').replace(
        "budgets = [0.2, 0.5]", "targets = [0.05]\nmax_norm = 2.0").replace(
        'points = 2\n', 'points = 2\ntargets = [0.05]\n').replace('attacks = ["random", "auto"]', 'attacks = ["random"]')
    study = sweep.load_config(config)
    assert len(study.tasks) == 2 * 2 * 2 and "target" in study.tasks[0].labels
    for task in study.tasks[:4]:
        outcome = sweep.run_task(task.spec)
        assert outcome["status"] == "done", outcome["error"]
        r = outcome["result"]
        if r["feasible"]:
            assert r["deviation"] >= 0.05 - 1e-12
            assert task.labels["threat"] != "rows 10%" or r["norm"] <= 2.0 + 1e-12
    with pytest.raises(sweep.ConfigError, match="max_norm: must be a positive number"):
        sweep.load_config(config.replace("max_norm = 2.0", ""))


# ------------------------------------------------------------------------------ the store
def test_a_second_run_finds_every_task_done(tmp_path, reference):
    t0 = time.perf_counter()
    first = sweep.run(SMALL, tmp_path, backend="serial", progress=False)
    t1 = time.perf_counter()
    again = sweep.run(SMALL, tmp_path, backend="serial", progress=False)
    t2 = time.perf_counter()
    assert first.ran == N_SMALL and again.ran == 0 and again.cached == N_SMALL and again.complete
    assert t2 - t1 < 0.25 * (t1 - t0)
    assert untimed(table(sweep.export(tmp_path, tmp_path / "t.csv"))) == reference
    rows = table(tmp_path / "t.csv")
    assert len(rows) == N_SMALL and {r["status"] for r in rows} == {"done"}
    assert all(float(r["norm"]) <= float(r["budget_value"]) + 1e-12 for r in rows)
    assert {r["budget"] for r in rows} == {"0.2", "0.5", "points"}


def test_a_task_that_raises_is_recorded_and_the_study_goes_on(tmp_path):
    config = SMALL.replace("n_init = 1", "n_init = 1\n\n[[models]]\nlabel = \"too many\"\nname = \"kmeans\"\n"
                           "n_clusters = 100")
    summary = sweep.run(config, tmp_path, backend="serial", progress=False)
    assert summary.ran == 2 * N_SMALL and summary.complete
    rows = table(sweep.export(tmp_path, tmp_path / "t.csv"))
    failed = [r for r in rows if r["status"] == "failed"]
    # blobs has 60 points: 100 clusters cannot be fitted; iris (150) can
    assert {r["dataset"] for r in failed} == {"blobs"} and {r["model"] for r in failed} == {"too many"}
    assert len(failed) == summary.failed == N_SMALL // 2
    assert all(r["error"].startswith("ValueError: n_samples=60 should be >= n_clusters=100") for r in failed)
    assert len(summary.errors) == summary.failed and "failed" in summary.summary()
    again = sweep.run(config, tmp_path, backend="serial", progress=False)
    assert again.ran == 0
    retry = sweep.run(config, tmp_path, backend="serial", progress=False, retry_failed=True)
    assert retry.ran == retry.failed == N_SMALL // 2


def test_a_changed_config_is_refused_unless_forced(tmp_path):
    sweep.run(SMALL, tmp_path, backend="serial", progress=False)
    more = SMALL.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
    with pytest.raises(sweep.StoreError, match="holds the results of another config.*--force"):
        sweep.run(more, tmp_path, backend="serial", progress=False)
    assert len(table(sweep.export(tmp_path, tmp_path / "t.csv"))) == N_SMALL  # nothing lost
    forced = sweep.run(more, tmp_path, backend="serial", progress=False, force=True)
    assert forced.cached == N_SMALL and forced.ran == N_SMALL // 2 and forced.dropped == 0
    fewer = sweep.run(SMALL.replace("seeds = [0, 1]", "seeds = [1]"), tmp_path, backend="serial",
                      progress=False, force=True)
    assert fewer.ran == 0 and fewer.dropped == N_SMALL and fewer.cached == N_SMALL // 2
    assert len(table(sweep.export(tmp_path, tmp_path / "t.csv"))) == N_SMALL // 2


def test_a_corrupt_store_is_named_and_left_alone(tmp_path):
    path = tmp_path / STORE_FILE
    junk = b"this is not a database, but somebody's notes\n" * 100
    path.write_bytes(junk)
    with pytest.raises(sweep.StoreError, match="is not a readable advcluster results store .* nothing was changed"):
        sweep.run(SMALL, tmp_path, backend="serial", progress=False)
    assert path.read_bytes() == junk
    with pytest.raises(sweep.StoreError, match="not a readable"):
        sweep.export(tmp_path, tmp_path / "t.csv")
    assert not (tmp_path / LOCK_FILE).exists()
    with pytest.raises(sweep.StoreError, match="no results store in"):
        sweep.export(tmp_path / "empty", tmp_path / "t.csv")


def test_two_runs_cannot_write_one_store(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text(f'{{"pid": {os.getppid()}, "host": "{os.uname().nodename}", "started": "now"}}')
    with pytest.raises(FolderInUseError, match="the store .* is in use by another run"):
        sweep.run(SMALL, tmp_path, backend="serial", progress=False)
    lock.write_text('{"pid": 999999999, "host": "%s", "started": "then"}' % os.uname().nodename)
    summary = sweep.run(SMALL, tmp_path, backend="serial", progress=False)  # a run that is gone: taken over
    assert summary.complete and "999999999" in summary.took_over and not lock.exists()


def test_export_to_parquet_needs_pyarrow_or_says_so(tmp_path):
    sweep.run(SMALL, tmp_path, backend="serial", progress=False)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        with pytest.raises(ImportError, match="Parquet export needs pyarrow"):
            sweep.export(tmp_path, tmp_path / "t.parquet")
        return
    out = pq.read_table(sweep.export(tmp_path, tmp_path / "t.parquet")).to_pydict()
    rows = table(sweep.export(tmp_path, tmp_path / "t.csv"))
    assert len(out["dataset"]) == N_SMALL
    assert out["budget"] == [r["budget"] for r in rows]  # numbers and "points": text
    assert out["deviation"] == [float(r["deviation"]) for r in rows]
    assert out["success"] == [bool(int(r["success"])) for r in rows]


# ------------------------------------------------------------------------------ back-ends
@pytest.mark.slow
def test_loky_gives_the_serial_table(tmp_path, reference):
    summary = sweep.run(SMALL, tmp_path, backend="loky", workers=2, progress=False)
    assert summary.ran == N_SMALL
    assert untimed(table(sweep.export(tmp_path, tmp_path / "t.csv"))) == reference


@pytest.mark.slow
def test_dask_gives_the_serial_table(tmp_path, reference):
    pytest.importorskip("dask.distributed", reason="dask is an optional extra: pip install 'advcluster[dask]'")
    summary = sweep.run(SMALL, tmp_path, backend="dask", workers=2, progress=False)
    assert summary.ran == N_SMALL
    assert untimed(table(sweep.export(tmp_path, tmp_path / "t.csv"))) == reference


# ------------------------------------------------------------------------------ interrupts
def _count(store):
    try:
        with sqlite3.connect(store / STORE_FILE, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    except sqlite3.Error:
        return 0


def _start(config, store):
    return subprocess.Popen([sys.executable, "-m", "advcluster", "sweep", str(config), "--store", str(store),
                             "--workers", "2", "--quiet"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _once(store, at_least, proc, limit=120):
    t0 = time.monotonic()
    while _count(store) < at_least and proc.poll() is None and time.monotonic() - t0 < limit:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example config run uninterrupted, and run again: (its table, seconds, seconds again)."""
    d = tmp_path_factory.mktemp("example")
    t0 = time.perf_counter()
    first = sweep.run(sweep.EXAMPLE, d, workers=2, progress=False)
    t1 = time.perf_counter()
    again = sweep.run(sweep.EXAMPLE, d, workers=2, progress=False)
    t2 = time.perf_counter()
    assert first.complete and first.failed == 0 and again.ran == 0 and again.cached == first.tasks
    return untimed(table(sweep.export(d, d / "t.csv"))), t1 - t0, t2 - t1


@pytest.mark.slow
def test_the_example_runs_and_a_second_run_finds_everything_done(example):
    rows, first, again = example
    assert len(rows) == len(sweep.load_config(sweep.EXAMPLE).tasks) and {r["status"] for r in rows} == {"done"}
    assert again < 0.1 * first
    convex = [r for r in rows if r["model"] == "convex"]
    assert convex and all(float(r["model_gamma"]) > 0 and float(r["model_phi"]) > 0 for r in convex)


@pytest.mark.slow
def test_killed_twice_and_resumed_equals_an_uninterrupted_run(tmp_path, example):
    config = tmp_path / "study.toml"
    config.write_text(sweep.EXAMPLE)
    n_tasks = len(sweep.load_config(sweep.EXAMPLE).tasks)
    store = tmp_path / "store"
    proc = _start(config, store)
    _once(store, 3, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    first = _count(store)
    if proc.returncode != 0:  # it may have finished before the signal on a fast machine
        assert proc.returncode == 130, err
        assert "interrupted; the finished tasks are in" in err and "Traceback" not in err
        assert 3 <= first < n_tasks
    proc = _start(config, store)
    _once(store, first + 3, proc)
    proc.kill()  # SIGKILL: no clean-up at all
    proc.wait(timeout=60)
    assert _count(store) >= first
    done = subprocess.run([sys.executable, "-m", "advcluster", "sweep", str(config), "--store", str(store),
                           "--quiet", "--json"], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"complete": true' in done.stdout
    assert untimed(table(sweep.export(store, tmp_path / "t.csv"))) == example[0]


# ------------------------------------------------------------------------------ command line
def test_the_command_line(tmp_path, capsys, reference):
    assert main(["sweep", "--example"]) == 0
    assert capsys.readouterr().out == sweep.EXAMPLE
    config = tmp_path / "study.toml"
    config.write_text(SMALL)
    assert main(["sweep", str(config), "--store", str(tmp_path / "s"), "--backend", "serial", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{N_SMALL} tasks: {N_SMALL} run now, 0 already in the store, 0 failed" in out
    assert main(["sweep", str(config), "--store", str(tmp_path / "s"), "--backend", "serial", "--json"]) == 0
    assert '"cached": %d' % N_SMALL in capsys.readouterr().out
    assert main(["sweep", "--store", str(tmp_path / "s"), "--export", str(tmp_path / "o.csv")]) == 0
    assert untimed(table(tmp_path / "o.csv")) == reference


@pytest.mark.parametrize("args, message", [
    (["sweep"], "give --store DIR"),
    (["sweep", "--store", "S"], "give the study's CONFIG file"),
    (["sweep", "--example", "--store", "S"], "--example prints the example config"),
    (["sweep", "C.toml", "--store", "S", "--export", "o.csv"], "--export writes an existing store's results"),
    (["sweep", "missing.toml", "--store", "S"], "config file missing.toml not found"),
    (["sweep", "C.toml", "--store", "S", "--scheduler", "tcp://x:1"], "--scheduler applies to --backend dask"),
    (["sweep", "C.toml", "--store", "S", "--workers", "0"], "argument --workers: must be an integer >= 1"),
    (["sweep", "C.toml", "--store", "S", "--backend", "spark"], "argument --backend: invalid choice"),
    (["sweep", "C.toml", "--store", "S", "--force", "--resume"], "not allowed with argument"),
    (["sweep", "--store", "nowhere", "--export", "o.csv"], "no results store in nowhere"),
    (["sweep", "BAD.toml", "--store", "S"], "BAD.toml: problem: 'bl5' is not one of bl1, bl2"),
])
def test_bad_command_lines_get_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "C.toml").write_text(SMALL)
    (tmp_path / "BAD.toml").write_text('problem = "bl5"\n' + SMALL.replace('problem = "bl1"\n', ""))
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert all(line.startswith("advcluster: error: ") for line in lines) and message in err, err
    assert "Traceback" not in err
    assert len(lines) == 1


def test_a_store_of_another_config_is_refused_on_the_command_line(tmp_path, capsys):
    config = tmp_path / "study.toml"
    config.write_text(SMALL)
    assert main(["sweep", str(config), "--store", str(tmp_path / "s"), "--backend", "serial", "--quiet"]) == 0
    config.write_text(SMALL.replace("max_evals = 6", "max_evals = 5"))
    assert main(["sweep", str(config), "--store", str(tmp_path / "s"), "--backend", "serial", "--quiet"]) == 2
    assert "use --force to switch it to this config" in capsys.readouterr().err
    assert main(["sweep", str(config), "--store", str(tmp_path / "s"), "--backend", "serial", "--quiet",
                 "--force"]) == 0
    assert f"{N_SMALL} result(s) of the store's earlier config" in capsys.readouterr().out


@pytest.mark.slow
def test_a_killed_worker_stops_the_run_in_one_line_and_it_resumes(tmp_path, example):
    psutil = pytest.importorskip("psutil", reason="psutil finds the worker processes (installed with dask)")
    config = tmp_path / "study.toml"
    config.write_text(sweep.EXAMPLE)
    store = tmp_path / "store"
    proc = _start(config, store)
    _once(store, 2, proc)
    workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
               if "LokyProcess" in " ".join(c.cmdline())]
    if proc.poll() is None and workers:
        workers[0].kill()
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:  # it may have finished its last tasks first
            lines = err.strip().splitlines()
            assert proc.returncode == 1 and "Traceback" not in err, err
            assert any(line.startswith("advcluster: error: a worker process stopped") and
                       "run the same study again to resume" in line for line in lines), err
    else:
        proc.communicate(timeout=120)
    done = subprocess.run([sys.executable, "-m", "advcluster", "sweep", str(config), "--store", str(store),
                           "--quiet"], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert untimed(table(sweep.export(store, tmp_path / "t.csv"))) == example[0]
