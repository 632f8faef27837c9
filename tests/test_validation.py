"""The validation layer: rules, ``validate``, worded errors, and one message per bad parameter
whichever entry point (``solve``, the estimator, the model) receives it."""

from __future__ import annotations

import numpy as np
import pytest

from advcluster import ConvexClustering, solve, uniform_graph
from advcluster._validation import (
    Flag,
    Integer,
    OneOf,
    Optional,
    Real,
    WordedValueError,
    in_words,
    validate,
)
from advcluster.datasets import load_dataset
from advcluster.models import ConvexClusteringModel


@pytest.mark.parametrize("value", [0, 0.0, 1, 2.5, np.float32(3.0), np.int64(4)])
def test_real_accepts_finite_numbers_at_or_above_low(value):
    out = Real(0.0)(value, "x")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [-1e-300, np.nan, np.inf, -np.inf, "1", None, True, np.bool_(False), [1.0]])
def test_real_rejects_with_the_name_and_value(value):
    with pytest.raises(ValueError, match=r"^x must be a finite number >= 0, got "):
        Real(0.0)(value, "x")


def test_strict_real_rejects_its_bound():
    assert Real(0.0, strict=True)(1e-300, "tol") == 1e-300
    with pytest.raises(ValueError, match=r"tol must be a finite number > 0, got 0"):
        Real(0.0, strict=True)(0, "tol")


@pytest.mark.parametrize("low", [0, 1, 2])
def test_integer_bounds(low):
    for v in range(low, low + 3):
        assert Integer(low)(np.int32(v), "n") == v
    for bad in (low - 1, float(low), True, "3", None):
        with pytest.raises(ValueError, match=rf"n must be an integer >= {low}, got"):
            Integer(low)(bad, "n")


def test_one_of_names_the_choices():
    rule = OneOf(("knn", "complete"))
    assert rule("knn", "weights") == "knn"
    with pytest.raises(ValueError, match=r"unknown weights 'gauss'; choose one of \('knn', 'complete'\)\."):
        rule("gauss", "weights")
    with pytest.raises(ValueError, match=r"unknown weights \['knn'\]"):  # unhashable: rejected, not a TypeError
        rule(["knn"], "weights")
    with pytest.raises(ValueError, match=r"p must be one of \(1, 2\), got True"):  # True == 1, yet not a norm
        OneOf((1, 2))(True, "p")


def test_one_of_reads_a_registry_when_it_checks_and_allows_extras():
    registry = {"b": 1}
    rule = OneOf(registry, also=("auto",))
    registry["a"] = 2  # registered after the rule was made
    assert rule("a", "method") == "a" and rule("auto", "method") == "auto"
    with pytest.raises(ValueError, match=r"unknown method 'c'; choose 'auto' or one of \['a', 'b'\]\."):
        rule("c", "method")


def test_flag_and_optional():
    assert Flag()(np.bool_(True), "f") is True
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="f must be True or False"):
            Flag()(bad, "f")
    assert Optional(Integer(1))(None, "m") is None
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        Optional(Integer(1))(0, "m")


def test_validate_converts_in_the_given_order_and_stops_at_the_first_bad_value():
    rules = {"a": Real(0.0), "b": Integer(1), "c": Flag()}
    assert list(validate(rules, c=False, a=1, b=np.int8(2)).items()) == [("c", False), ("a", 1.0), ("b", 2)]
    with pytest.raises(ValueError, match="^a must"):
        validate(rules, a=-1, b=0)


def test_worded_errors_render_in_each_interfaces_words():
    exc = WordedValueError("give $bounds or $max_norm; $HOME stays, $$ too", bounds="bounds=(lo, hi)",
                           max_norm="max_norm")
    assert str(exc) == "give bounds=(lo, hi) or max_norm; $HOME stays, $ too"
    assert exc.say({"bounds": "--bounds LO,HI", "other": "x"}) == "give --bounds LO,HI or max_norm; $HOME stays, $ too"
    assert in_words(exc, {"max_norm": "--max-norm M"}) == "give bounds=(lo, hi) or --max-norm M; $HOME stays, $ too"
    assert in_words(ValueError("plain $bounds"), {"bounds": "--bounds"}) == "plain $bounds"


def test_missing_dataset_is_worded(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVCLUSTER_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("ADVCLUSTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVCLUSTER_NO_PACKAGED_DATA", "1")
    with pytest.raises(OSError) as info:
        load_dataset("seeds", data_dir=tmp_path / "empty", download=False)
    message = str(info.value)
    assert "download=False" in message and "pass data_dir=FOLDER" in message
    cli = in_words(info.value, {"no_download": "--no-download was given", "data_dir": "give --data-dir DIR"})
    assert "--no-download was given" in cli and "give --data-dir DIR" in cli and "data_dir=" not in cli


BAD = [
    ("gamma", -1.0, r"gamma must be a finite number >= 0, got -1\.0"),
    ("tol", 0.0, r"tol must be a finite number > 0, got 0\.0"),
    ("label_tol", np.nan, r"label_tol must be a finite number > 0, got nan"),
    ("p", 3, r"p must be one of \(1, 2\), got 3"),
    ("weights", "gauss", r"unknown weights 'gauss'; choose one of \('knn', 'complete', 'uniform'\)"),
    ("k", 0, r"k must be an integer >= 1, got 0"),
    ("phi", -0.5, r"phi must be a finite number >= 0, got -0\.5"),
]


@pytest.mark.parametrize("name, value, message", BAD)
def test_every_entry_point_says_the_same(name, value, message):
    A = np.arange(12.0).reshape(6, 2)
    kw = {"gamma": 1.0, name: value}
    with pytest.raises(ValueError, match=message):
        ConvexClustering(**kw).fit(A)
    with pytest.raises(ValueError, match=message):
        ConvexClusteringModel(**kw)
    if name not in ("weights", "k", "phi"):  # solve takes a built graph
        gamma = kw.pop("gamma")
        with pytest.raises(ValueError, match=message):
            solve(A, uniform_graph(6), gamma, **kw)


@pytest.mark.parametrize("method, old, new, value", [("ssnal", "warm_start", "admm_iters", 0),
                                                     ("ssnal", "warm_tol", "admm_tol", 1e-2),
                                                     ("admm", "max_cg", "max_jacobi", 5)])
def test_renamed_options_still_work_with_a_warning(method, old, new, value):
    A = np.random.default_rng(0).normal(size=(12, 2))
    G = uniform_graph(12)
    with pytest.warns(FutureWarning, match=rf"{old}= is now called {new}="):
        before = solve(A, G, 0.3, method, **{old: value})
    after = solve(A, G, 0.3, method, **{new: value})
    np.testing.assert_array_equal(before.centers, after.centers)
    assert before.n_iter == after.n_iter
    with pytest.raises(ValueError, match=rf"give {new}= only"):
        solve(A, G, 0.3, method, **{old: value, new: value})


def test_model_history_is_the_old_name_of_warm_pool():
    with pytest.warns(FutureWarning, match="history= is now called warm_pool="):
        model = ConvexClusteringModel(1.0, history=5)
    assert model.warm_pool == 5 and ConvexClusteringModel(1.0).warm_pool == 32
