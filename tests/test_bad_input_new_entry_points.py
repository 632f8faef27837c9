"""Bad input to the Python entry points added with studies and the audit: a clear ValueError
that names what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from advcluster import knn_graph, sweep
from advcluster.audit import audit
from advcluster.choose import choose_gamma

SMALL = """
attacks = ["random"]
max_evals = 2
[[datasets]]
name = "iris"
[[models]]
name = "kmeans"
n_clusters = 3
[[threats]]
kind = "rows"
share = 0.05
budgets = [0.1]
"""


@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="spark"), "unknown backend 'spark'; choose one of loky, dask, serial"),
    (dict(scheduler="tcp://x:1"), "a scheduler address applies to backend 'dask' only"),
    (dict(workers=0), "workers must be a whole number >= 1"),
    (dict(workers=True), "workers must be a whole number >= 1"),
])
def test_sweep_run_rejects_bad_arguments_before_touching_the_store(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sweep.run(SMALL, tmp_path / "s", progress=False, **kwargs)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(ids=["a", "b"]), "ids has 2 entries for 30 rows"),
    (dict(budgets=()), "budgets must be positive numbers"),
    (dict(budgets=(0.1, -1)), "budgets must be positive numbers"),
    (dict(model=("kmeans", {"n_clusters": 2}), n_clusters=2), "n_clusters chooses convex clustering's gamma"),
    (dict(model="nope"), "unknown model 'nope'"),
    (dict(backend="spark"), "unknown backend 'spark'; choose one of loky, dask, serial"),
    (dict(scheduler="tcp://x:1"), "a scheduler address applies to backend 'dask' only"),
])
def test_audit_rejects_bad_arguments(kwargs, message):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=message):
        audit(X, progress=False, **{"model": "convex", **kwargs})


def test_choose_gamma_rejects_an_impossible_count():
    X = np.random.default_rng(1).normal(size=(20, 2))
    for k in (0, 21):
        with pytest.raises(ValueError, match="n_clusters must be from 1 to the number of samples"):
            choose_gamma(X, knn_graph(X, 5), k)


@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="spark"), "unknown backend 'spark'; choose one of loky, dask, serial"),
    (dict(backend="loky", scheduler="tcp://x:1"), "a scheduler address applies to backend 'dask' only"),
])
def test_the_back_ends_reject_bad_arguments_before_running_anything(kwargs, message):
    from advcluster.sweep.backends import unordered

    ran = []
    with pytest.raises(ValueError, match=message):
        list(unordered(ran.append, [(1,), (2,)], **kwargs))
    assert ran == []
