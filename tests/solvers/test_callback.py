"""solve(..., callback=f): one record per iteration of an iterative method, the same answer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from advcluster import knn_graph, solve, uniform_graph


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=150, centers=3, cluster_std=0.8, random_state=3)
    return X, knn_graph(X, k=8, phi=0.5)


@pytest.mark.parametrize("method, gamma", [("ssnal", 0.5), ("ssnal", 3.0), ("admm", 0.5)])
def test_records_follow_the_history_and_change_nothing(blobs, method, gamma):
    X, g = blobs
    plain = solve(X, g, gamma, method=method, certify=False)
    records = []
    res = solve(X, g, gamma, method=method, certify=False, callback=records.append)
    np.testing.assert_array_equal(res.labels, plain.labels)
    np.testing.assert_array_equal(res.centers, plain.centers)
    assert len(records) == len(res.history) >= 1
    assert all(r["method"] == method for r in records)
    assert [r["iteration"] for r in records] == [h["iteration"] for h in res.history]
    for r, h in zip(records, res.history):
        assert r["kkt_residual"] == h["kkt_residual"] and r["duality_gap"] == h["duality_gap"]
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds) and 0 <= seconds[0] and seconds[-1] <= res.time
    assert records[-1]["kkt_residual"] <= 1e-6 or not res.success


def test_exact_methods_make_no_records_and_bad_callbacks_are_named():
    a = np.array([[0.0], [0.1], [1.0], [1.2], [5.0]])
    g = uniform_graph(5)
    records = []
    res = solve(a, g, 0.05, method="exact1d", callback=records.append)
    assert records == [] and res.success
    with pytest.raises(ValueError, match="callback must be callable"):
        solve(a, g, 0.05, callback=3)


@pytest.mark.parametrize("method", ["ssnal", "admm"])
def test_a_progress_bar_shows_the_iterations_and_changes_nothing(blobs, method, capsys, monkeypatch):
    from advcluster.solvers import core

    X, g = blobs
    plain = solve(X, g, 0.5, method=method)
    assert capsys.readouterr().err == ""  # progress=False by default: silent
    monkeypatch.setattr(core, "PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(core, "PROGRESS_INTERVAL", 0.0)
    records = []
    res = solve(X, g, 0.5, method=method, progress=True, callback=records.append)
    err = capsys.readouterr().err
    assert f"solve ({method})" in err and "KKT" in err and f"tol {res.tol:g}" in err
    assert f"{len(records)}it" in err.replace(" ", "") or f"{len(records)} it" in err
    np.testing.assert_array_equal(res.labels, plain.labels)
    np.testing.assert_array_equal(res.centers, plain.centers)
    solve(X, g, 0.5, method=method, progress=None)  # not a terminal here: no bar
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="progress must be True, False or None"):
        solve(X, g, 0.5, method=method, progress="yes")
