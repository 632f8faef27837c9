"""advcluster.audit and ``advcluster audit``: on four data sets the report and summary are written,
the curve never decreases, a certified radius never exceeds the least change found, the least
change is verified here by a fresh solve of our own, and the vulnerable rows are real row ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_moons

from advcluster import ConvexClustering, load_dataset
from advcluster.audit import _changed, audit
from advcluster.cli import main

pytest.importorskip("matplotlib")


def _standardized(X):
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)


def _cases():
    iris = load_dataset("iris")
    wine = load_dataset("wine")
    blobs, _ = make_blobs(120, centers=3, cluster_std=1.0, random_state=4)
    moons, _ = make_moons(100, noise=0.06, random_state=1)
    return [("iris", iris.data, "convex", list(iris.feature_names)),
            ("wine", wine.data[:, :5], "convex", list(wine.feature_names[:5])),
            ("blobs", blobs, ("kmeans", {"n_clusters": 3}), None),
            ("moons", moons, "convex", None)]


def _rebuilt(E_changes, ids, names, shape):
    E = np.zeros(shape)
    col = {n: j for j, n in enumerate(names)}
    row = {r: i for i, r in enumerate(ids)}
    for c in E_changes:
        E[row[c["row"]], col[c["column"]]] = c["change"]
    return E


@pytest.mark.parametrize("case", range(4))
def test_audit_on_four_data_sets(tmp_path, case):
    name, X, model, names = _cases()[case]
    ids = [f"r{i}" for i in range(len(X))]
    a = audit(X, model, ids=ids, names=names, queries=12, budgets=(0.1, 0.3, 0.8), out=tmp_path, progress=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("n_clusters", "certified_radius", "min_flip_norm", "curve", "vulnerable_points"):
        assert key in summary
    assert (tmp_path / "report.html").stat().st_size > 0 and (tmp_path / "report.md").exists()
    devs = [d for _, d in summary["curve"]]
    assert [b for b, _ in summary["curve"]] == [0.1, 0.3, 0.8] and devs == sorted(devs)
    assert all(0 <= d <= 1 for d in devs)
    assert set(summary["vulnerable_points"]) <= set(ids)
    if summary["certified_radius"] is not None and summary["min_flip_norm"] is not None:
        assert summary["certified_radius"] <= summary["min_flip_norm"]
    if summary["min_flip_norm"] is not None:
        Z = _standardized(X)
        cols = names or [str(j) for j in range(X.shape[1])]
        E = _rebuilt(summary["min_flip"]["changes"], ids, cols, X.shape)
        assert np.linalg.norm(E, axis=1).max() == pytest.approx(summary["min_flip_norm"], rel=1e-9)
        if model == "convex":  # a fresh solve of our own, at the audit's gamma and phi
            gamma = float(a.model.split("gamma=")[1].split(",")[0])
            phi = float(a.model.split("phi=")[1].split(",")[0])
            est = ConvexClustering(gamma=gamma, phi=phi)
            before, after = est.fit_predict(Z), est.fit_predict(Z + E)
        else:
            before = KMeans(3, random_state=0).fit_predict(Z)
            after = KMeans(3, random_state=0).fit_predict(Z + E)
        assert _changed(before, after).any() and summary["min_flip"]["verified"]
    if model != "convex":
        assert summary["certified_radius"] is None and "convex clustering only" in summary["certificate"]


def test_changed_rows_against_brute_force_matching():
    """The rows whose cluster changed: n minus the best one-to-one matching, found here by trying
    every assignment of the (few) clusters."""
    import itertools

    rng = np.random.default_rng(3)
    for _ in range(40):
        a, b = rng.integers(0, 3, 12), rng.integers(0, 4, 12)
        best = 0
        for perm in itertools.permutations(range(4), 3):
            best = max(best, sum(int(np.sum((a == k) & (b == perm[k]))) for k in range(3)))
        assert _changed(a, b).sum() == 12 - best
        assert not _changed(a, (a + 1) % 3).any()  # renumbered: nothing changed


def test_the_audit_command_on_a_file_with_row_ids(tmp_path, capsys):
    X, _ = make_blobs(90, centers=[[0, 0], [5, 5], [0, 6]], cluster_std=0.8, random_state=2)
    path = tmp_path / "customers.csv"
    path.write_text("id,spend,visits\n" + "\n".join(f"cust{i},{x:.6f},{y:.6f}" for i, (x, y) in enumerate(X)) + "\n")
    out = tmp_path / "audit"
    assert main(["audit", str(path), "--id-column", "id", "--budgets", "0.1,0.5", "--queries", "10", "--out",
                 str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "most vulnerable rows:" in text and "report:" in text
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["vulnerable_points"]) <= {f"cust{i}" for i in range(90)}
    assert main(["audit", str(path), "--id-column", "id", "--model", "kmeans:n_clusters=3", "--budgets", "0.2",
                 "--queries", "8", "--out", str(out), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["model"].startswith("SklearnClusterer(KMeans(n_clusters=3")


@pytest.mark.parametrize("args, message", [
    (["--budgets", "0,1"], "argument --budgets: expected positive numbers"),
    (["--share", "2"], "--share is a fraction of the rows, at most 1"),
    (["--model", "kmeans:n_clusters=3", "--n-clusters", "3"], "--n-clusters chooses convex clustering's gamma"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler applies to --backend dask"),
    (["--backend", "cloud"], "argument --backend: invalid choice: 'cloud'"),
])
def test_audit_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["audit", "--dataset", "iris", "--out", str(tmp_path / "a"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advcluster: error: ") and message in err[0]


def test_the_audit_report_in_a_headless_browser(tmp_path):
    from browser import browser, measure

    if browser() is None:
        pytest.skip("no Chromium here (CI installs one when it can)")
    X, _ = make_blobs(80, centers=3, random_state=0)
    a = audit(X, queries=8, budgets=(0.2, 0.6), out=tmp_path / "a", progress=False)
    measured = measure(tmp_path / "a" / "report.html", tmp_path)
    figures = [f for f in a.files if str(f).endswith(".png")]
    assert measured["images"] == len(figures) >= 3
    assert "How fragile" in measured["text"] and "most vulnerable rows" in measured["text"].lower()


@pytest.mark.parametrize("backend, n_jobs", [("loky", 2), ("serial", None),
                                             pytest.param("dask", 2, marks=pytest.mark.slow)])
def test_the_answers_do_not_depend_on_the_processes(backend, n_jobs):
    pytest.importorskip("dask.distributed") if backend == "dask" else None
    X, _ = make_blobs(70, centers=3, random_state=5)
    one, two = (audit(X, queries=6, budgets=(0.2, 0.5), n_jobs=j, backend=b, progress=False).to_summary()
                for j, b in ((1, "loky"), (n_jobs, backend)))
    one.pop("seconds"), two.pop("seconds")
    assert one == two


def test_an_interrupted_audit_resumes_with_the_attacks_it_finished(tmp_path, monkeypatch):
    """Interrupted during its third attack, then run again: the two finished attacks are replayed,
    not attacked again, and the report equals an uninterrupted audit's; the file that kept them is
    gone once the report is written."""
    import advcluster.audit as audit_module

    X, _ = make_blobs(70, centers=3, random_state=6)
    settings = dict(queries=6, budgets=(0.2, 0.5), backend="serial", progress=False)
    reference = audit(X, out=tmp_path / "reference", **settings).to_summary()
    original, calls = audit_module._one_attack, []

    def interrupted(job, *args):
        calls.append(job)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(job, *args)

    monkeypatch.setattr(audit_module, "_one_attack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        audit(X, out=tmp_path / "a", **settings)
    assert (tmp_path / "a" / audit_module.RESUME_FILE).exists()
    first = list(calls)
    calls.clear()
    monkeypatch.setattr(audit_module, "_one_attack", lambda job, *args: calls.append(job) or original(job, *args))
    resumed = audit(X, out=tmp_path / "a", **settings).to_summary()
    assert first == [("flip", 2.0), ("curve", 0.5), ("inject", 1)]  # the longest first
    assert calls == [("inject", 1), ("curve", 0.2)]  # the two finished attacks replayed
    reference.pop("seconds"), resumed.pop("seconds")
    assert resumed == reference
    assert not (tmp_path / "a" / audit_module.RESUME_FILE).exists()


def test_where_a_certificate_applies_the_radius_is_below_the_least_change():
    """Three tight blobs of 8 rows: every pair inside a cluster is a kNN edge, (C1) holds, and the
    radius is positive; it is at most the least change found, and given in the data's units."""
    X, _ = make_blobs(24, centers=[[0, 0], [10, 0], [0, 10]], cluster_std=0.3, random_state=0)
    a = audit(X, queries=6, budgets=(0.2,), progress=False)
    assert a.certified_radius > 0 and a.min_flip_norm is not None
    assert a.certified_radius <= a.min_flip_norm
    own = a.certified_radius * X.std(0).min()
    assert f"every row may move by {own:.4g} in any direction" in a.certificate


def test_the_audit_command_interrupted_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import advcluster.audit as audit_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_module, "audit", interrupted)
    assert main(["audit", "--dataset", "iris", "--out", str(tmp_path / "a"), "--quiet"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"advcluster: interrupted; the finished attacks are kept in {tmp_path / 'a'}: run the same "
                   "command again to resume"]
