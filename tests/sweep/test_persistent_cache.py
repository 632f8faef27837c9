"""The persistent cache of lower-level answers: an interrupted attack, rerun, replays its finished
solves; another model, other clean data or another version never does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from advcluster import BL1, ConvexClusteringModel, Pointwise, SklearnClusterer, attack
from advcluster.sweep.store import Memo, StoreError

X, _ = make_blobs(60, centers=3, cluster_std=0.8, random_state=2)


def problem(model, budget=0.6):
    return BL1(model, X, Pointwise(index=np.arange(0, 60, 6), ord="inf"), budget, deviation="ari")


@pytest.mark.parametrize("make", [lambda: ConvexClusteringModel(3.0, k=8),
                                  lambda: SklearnClusterer(KMeans(3, n_init=1, random_state=0))])
def test_an_interrupted_attack_replays_its_finished_solves(tmp_path, make):
    path = tmp_path / "solves.sqlite"
    full = attack(problem(make()), "random", random_state=4, max_evals=24)
    model = make().persist(path)
    solve, count = model._solve, []

    def interrupted(A):  # Ctrl-C during the 11th solve (evaluations run on copies of the model)
        if len(count) == 10:
            raise KeyboardInterrupt
        count.append(1)
        return solve(A)

    model._solve = interrupted
    with pytest.raises(KeyboardInterrupt):
        attack(problem(model), "random", random_state=4, max_evals=24)
    assert len(count) == 10 and model.n_replayed == 0
    again = problem(make().persist(path))
    res = attack(again, "random", random_state=4, max_evals=24)
    # the clean solve and the first evaluations come from the file; only the rest are solved
    assert again.model.n_replayed == 10
    assert again.model.n_solves + again.model.n_replayed == full.n_solves + 1  # + the clean solve
    assert res.deviation == full.deviation and np.array_equal(res.labels, full.labels)
    assert [e.value for e in res.history] == [e.value for e in full.history]
    third = problem(make().persist(path))
    attack(third, "random", random_state=4, max_evals=24)
    assert third.model.n_solves == 0 and third.model.n_replayed == full.n_solves + 1


def test_another_model_or_other_clean_data_is_another_key(tmp_path):
    path = tmp_path / "solves.sqlite"
    attack(problem(ConvexClusteringModel(3.0, k=8).persist(path)), "random", random_state=0, max_evals=6)
    other = problem(ConvexClusteringModel(3.0000001, k=8).persist(path))
    attack(other, "random", random_state=0, max_evals=6)
    assert other.model.n_replayed == 0 and other.model.n_solves > 0
    moved = BL1(ConvexClusteringModel(3.0, k=8).persist(path), X + 1e-9, Pointwise(index=np.arange(0, 60, 6),
                                                                                     ord="inf"), 0.6)
    attack(moved, "random", random_state=0, max_evals=6)
    assert moved.model.n_replayed == 0
    seeded = problem(SklearnClusterer(KMeans(3, n_init=1, random_state=1)).persist(path))
    attack(seeded, "random", random_state=0, max_evals=6)
    assert seeded.model.n_replayed == 0


def test_parallel_evaluations_share_the_file(tmp_path):
    path = tmp_path / "solves.sqlite"
    serial = attack(problem(ConvexClusteringModel(3.0, k=8)), "random", random_state=1, max_evals=32)
    par = problem(ConvexClusteringModel(3.0, k=8).persist(path))
    res = attack(par, "random", random_state=1, max_evals=32, n_jobs=2)
    assert res.deviation == serial.deviation
    again = problem(ConvexClusteringModel(3.0, k=8).persist(path))
    attack(again, "random", random_state=1, max_evals=32, n_jobs=2)
    assert again.model.n_solves == 0 and again.model.n_replayed == par.model.n_solves > 32


def test_memo_round_trip_and_a_corrupt_file(tmp_path):
    with Memo(tmp_path / "m.sqlite") as memo:
        assert memo.get("a") is None
        memo.put("a", {"x": np.arange(3)})
        memo.put("a", [1, 2])
        assert memo.get("a") == [1, 2]
    with Memo(tmp_path / "m.sqlite") as memo:
        assert memo.get("a") == [1, 2]
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all\n" * 50)
    with pytest.raises(StoreError, match="is not a readable advcluster cache"):
        Memo(bad).get("a")
    assert bad.read_bytes() == b"not a database at all\n" * 50


def test_a_study_with_cache_replays_the_fits_of_a_task_run_again(tmp_path):
    from advcluster import sweep
    from advcluster.sweep.run import CACHE_FILE

    from test_sweep import SMALL

    config = "cache = true\n" + SMALL
    study = sweep.load_config(config)
    assert study.fingerprint == sweep.load_config(SMALL).fingerprint  # the cache changes no answer
    summary = sweep.run(study, tmp_path, backend="serial", progress=False)
    assert summary.complete and (tmp_path / CACHE_FILE).is_file()
    task = study.tasks[0]
    again = sweep.run_task(task.spec, str(tmp_path / CACHE_FILE))["result"]
    fresh = sweep.run_task(task.spec)["result"]
    assert fresh["n_solves"] > 0 and again["n_solves"] == 0
    assert {k: v for k, v in again.items() if k != "n_solves"} == {k: v for k, v in fresh.items() if k != "n_solves"}
