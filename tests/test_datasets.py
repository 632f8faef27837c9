"""Tests for advcluster.datasets: bundled, file-backed (Seeds) and generated data sets.

No test touches the network: ``urllib.request.urlopen`` raises in every test unless a test
replaces it with a fake that serves the local Seeds file. The real file is the copy shipped
with the package; every test starts with it hidden (``$ADVCLUSTER_NO_PACKAGED_DATA``), so the
other places are tested alone, and the tests of the packaged copy show it again.
"""

from __future__ import annotations

import dataclasses
import io
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from advcluster import datasets as ds
from advcluster.datasets import (
    DATASETS,
    SEEDS_FILE,
    SEEDS_URL,
    Dataset,
    DatasetNotFoundError,
    cache_dir,
    list_datasets,
    load_dataset,
    packaged_seeds,
)

SEEDS_PATH = Path(__file__).resolve().parents[1] / "src" / "advcluster" / "data" / SEEDS_FILE
FIRST_ROW = [15.26, 14.84, 0.871, 5.763, 3.312, 2.221, 5.22]


def _no_network(*args, **kwargs):
    raise AssertionError(f"a test tried to use the network: urlopen{args}")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no $ADVCLUSTER_DATA, the packaged copy hidden, and a private empty cache."""
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    monkeypatch.delenv("ADVCLUSTER_DATA", raising=False)
    monkeypatch.setenv("ADVCLUSTER_NO_PACKAGED_DATA", "1")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("ADVCLUSTER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def seeds_bytes(monkeypatch):
    """The packaged file's bytes (read with the packaged copy shown, as the package finds it)."""
    monkeypatch.delenv("ADVCLUSTER_NO_PACKAGED_DATA")
    path = packaged_seeds()
    monkeypatch.setenv("ADVCLUSTER_NO_PACKAGED_DATA", "1")
    assert path is not None and path.is_file(), "the Seeds file is not installed with the package"
    return path.read_bytes()


@pytest.fixture
def seeds_env(monkeypatch, seeds_bytes, tmp_path):
    """$ADVCLUSTER_DATA pointing at a folder holding a copy of the real file."""
    folder = _write(tmp_path / "env", seeds_bytes.decode())
    monkeypatch.setenv("ADVCLUSTER_DATA", str(folder))
    return folder


def _lines(seeds_bytes):
    return seeds_bytes.decode().splitlines()


def _write(folder, lines_or_text):
    folder.mkdir(parents=True, exist_ok=True)
    text = lines_or_text if isinstance(lines_or_text, str) else "\n".join(lines_or_text) + "\n"
    (folder / SEEDS_FILE).write_text(text)
    return folder


class FakeResponse(io.BytesIO):
    pass


def _fake_urlopen(payload, calls):
    def urlopen(url, timeout=None):
        calls.append((url, timeout))
        return FakeResponse(payload)

    return urlopen


# ------------------------------------------------------------------------- shapes, basics
@pytest.mark.parametrize(
    "name, shape, counts",
    [("iris", (150, 4), [50, 50, 50]), ("wine", (178, 13), [59, 71, 48]), ("seeds", (210, 7), [70, 70, 70])],
)
def test_shapes_and_class_counts(seeds_env, name, shape, counts):
    d = load_dataset(name)
    assert isinstance(d, Dataset)
    assert d.name == name
    assert d.data.shape == shape and d.data.dtype == np.float64
    assert d.target.shape == (shape[0],) and np.issubdtype(d.target.dtype, np.integer)
    assert np.bincount(d.target).tolist() == counts
    assert len(d.feature_names) == shape[1] and all(isinstance(f, str) for f in d.feature_names)
    assert len(d.target_names) == len(counts) and all(isinstance(t, str) for t in d.target_names)
    assert (d.n_samples, d.n_features, d.n_classes) == (shape[0], shape[1], len(counts))
    assert np.all(np.isfinite(d.data))
    assert "\n" not in d.description and "CC BY 4.0" in d.description
    assert name in repr(d) and "array" not in repr(d)


def test_seeds_values(seeds_env):
    d = load_dataset("seeds")
    np.testing.assert_array_equal(d.data[0], FIRST_ROW)
    assert d.target[0] == 0
    assert d.target[:70].tolist() == [0] * 70
    assert d.target[70:140].tolist() == [1] * 70
    assert d.target[140:].tolist() == [2] * 70
    np.testing.assert_array_equal(d.data[-1], [12.3, 13.34, 0.8684, 5.243, 2.974, 5.637, 5.063])
    assert d.feature_names == (
        "area",
        "perimeter",
        "compactness",
        "length of kernel",
        "width of kernel",
        "asymmetry coefficient",
        "length of kernel groove",
    )
    assert d.target_names == ("Kama", "Rosa", "Canadian")
    assert str(seeds_env / SEEDS_FILE) in d.description


def test_seeds_file_quirks_are_handled(seeds_bytes):
    # The UCI file has doubled tabs on some lines and no final newline: naive tab splitting
    # gives empty fields. Pin these facts, so the robust parser is known to be needed.
    lines = _lines(seeds_bytes)
    assert len(lines) == 210
    assert any("\t\t" in line for line in lines)
    assert not seeds_bytes.endswith(b"\n")
    data, target = ds._parse_seeds(seeds_bytes, "x")
    assert data.shape == (210, 7) and target.shape == (210,)


def test_name_is_case_insensitive(seeds_env):
    np.testing.assert_array_equal(load_dataset("Seeds").data, load_dataset("seeds").data)
    assert load_dataset(" IRIS ").name == "iris"
    assert load_dataset("Moons").name == "moons"


def test_dataset_is_frozen():
    d = load_dataset("iris")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match="unknown data set 'mnist'") as info:
        load_dataset("mnist")
    for name in DATASETS:
        assert name in str(info.value)
    with pytest.raises(TypeError):
        load_dataset(3)


def test_registry_and_listing(monkeypatch, seeds_env):
    assert list(DATASETS) == ["iris", "wine", "breast-cancer", "digits", "seeds", "blobs", "moons"]
    assert all(isinstance(v, str) and v for v in DATASETS.values())
    rows = {row.name: row for row in list_datasets()}
    assert list(rows) == list(DATASETS)
    for name in ("iris", "wine", "seeds"):
        d = load_dataset(name)
        row = rows[name]
        assert (row.n_samples, row.n_features, row.n_classes) == (d.n_samples, d.n_features, d.n_classes)
    assert rows["blobs"][1:4] == (300, 2, 3) and rows["moons"][1:4] == (300, 2, 2)
    assert all(row.available for row in rows.values())
    monkeypatch.delenv("ADVCLUSTER_DATA")
    assert not {row.name: row for row in list_datasets()}["seeds"].available
    assert {row.name: row for row in list_datasets(data_dir=seeds_env)}["seeds"].available
    monkeypatch.delenv("ADVCLUSTER_NO_PACKAGED_DATA")
    assert {row.name: row for row in list_datasets()}["seeds"].available


# --------------------------------------------------------------------- where Seeds comes from
def test_data_dir_beats_env_and_env_beats_cache(tmp_path, seeds_env, seeds_bytes, isolated):
    lines = _lines(seeds_bytes)
    mine = _write(tmp_path / "mine", ["99.99" + lines[0][len("15.26"):]] + lines[1:])
    cached = _write(isolated, ["77.77" + lines[0][len("15.26"):]] + lines[1:])
    assert load_dataset("seeds", data_dir=mine).data[0, 0] == 99.99
    assert load_dataset("seeds", data_dir=str(mine)).data[0, 0] == 99.99
    assert load_dataset("seeds").data[0, 0] == 15.26  # env beats the cache
    # a data_dir without the file falls through to the env var
    assert load_dataset("seeds", data_dir=tmp_path / "empty").data[0, 0] == 15.26
    assert cached.is_dir()


def test_packaged_copy_is_found_without_network_or_settings(monkeypatch, isolated):
    monkeypatch.delenv("ADVCLUSTER_NO_PACKAGED_DATA")
    assert packaged_seeds() == SEEDS_PATH.resolve() or packaged_seeds().read_bytes() == SEEDS_PATH.read_bytes()
    for download in (True, False):  # _no_network fails the test if a download is tried
        d = load_dataset("seeds", download=download)
        assert d.data.shape == (210, 7) and np.bincount(d.target).tolist() == [70, 70, 70]
        np.testing.assert_array_equal(d.data[0], FIRST_ROW)
        assert "data" in d.description and SEEDS_FILE in d.description
    assert not isolated.exists()  # nothing cached
    licence = packaged_seeds().parent / "SEEDS_LICENSE.txt"
    assert "CC BY 4.0" in licence.read_text() and "10.24432/C5H30K" in licence.read_text()


def test_packaged_copy_is_never_downloaded_over(monkeypatch, seeds_bytes, isolated):
    calls = []

    def download(url, dest):
        calls.append(url)
        return ds._parse_seeds(seeds_bytes, url)

    monkeypatch.setattr(ds, "_download", download)
    monkeypatch.delenv("ADVCLUSTER_NO_PACKAGED_DATA")
    assert load_dataset("seeds").n_samples == 210  # download=True by default
    assert {row.name: row for row in list_datasets()}["seeds"].available
    assert calls == []
    monkeypatch.setenv("ADVCLUSTER_NO_PACKAGED_DATA", "1")  # hidden: the same call downloads
    assert load_dataset("seeds").n_samples == 210
    assert calls == [SEEDS_URL]


def test_given_copies_beat_the_packaged_one(monkeypatch, tmp_path, seeds_bytes, isolated):
    monkeypatch.delenv("ADVCLUSTER_NO_PACKAGED_DATA")
    lines = _lines(seeds_bytes)
    mine = _write(tmp_path / "mine", ["99.99" + lines[0][len("15.26"):]] + lines[1:])
    env = _write(tmp_path / "env", ["88.88" + lines[0][len("15.26"):]] + lines[1:])
    _write(isolated, ["77.77" + lines[0][len("15.26"):]] + lines[1:])
    assert load_dataset("seeds").data[0, 0] == 15.26  # the packaged copy beats the cache
    monkeypatch.setenv("ADVCLUSTER_DATA", str(env))
    assert load_dataset("seeds").data[0, 0] == 88.88
    assert load_dataset("seeds", data_dir=mine).data[0, 0] == 99.99
    monkeypatch.setenv("ADVCLUSTER_DATA", str(tmp_path / "nothing-here"))
    assert load_dataset("seeds").data[0, 0] == 15.26  # a folder without the file falls through
    monkeypatch.setenv("ADVCLUSTER_NO_PACKAGED_DATA", "0")  # "0" does not hide it
    assert packaged_seeds() is not None


def test_cache_is_used_last(monkeypatch, seeds_bytes, isolated):
    _write(isolated, seeds_bytes.decode())
    d = load_dataset("seeds", download=False)
    assert d.data[0, 0] == 15.26 and str(isolated) in d.description


def test_cache_dir_env_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVCLUSTER_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ADVCLUSTER_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "advcluster"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "advcluster"


def test_missing_without_download_names_every_place(monkeypatch, tmp_path, isolated):
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen(b"", calls))
    monkeypatch.setenv("ADVCLUSTER_DATA", str(tmp_path / "envdir"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("seeds", data_dir=tmp_path / "argdir", download=False)
    err = info.value
    assert isinstance(err, OSError)
    message = str(err)
    places = [tmp_path / "argdir" / SEEDS_FILE, tmp_path / "envdir" / SEEDS_FILE, isolated / SEEDS_FILE]
    for place in places:
        assert str(place) in message
    assert list(err.searched) == places
    assert "ADVCLUSTER_DATA" in message and "data_dir" in message and "download" in message
    assert "\n" not in message
    assert calls == []


def test_missing_without_env_says_it_is_unset(isolated):
    with pytest.raises(DatasetNotFoundError, match=r"\$ADVCLUSTER_DATA is not set") as info:
        load_dataset("seeds", download=False)
    assert str(isolated / SEEDS_FILE) in str(info.value)


def test_download_into_cache(monkeypatch, capsys, seeds_bytes, isolated):
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen(seeds_bytes, calls))
    d = load_dataset("seeds")
    assert calls == [(SEEDS_URL, pytest.approx(30.0))]
    target = isolated / SEEDS_FILE
    assert target.read_bytes() == seeds_bytes
    assert sorted(p.name for p in isolated.iterdir()) == [SEEDS_FILE]  # no temp file left
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "download" in err and SEEDS_URL in err and str(target) in err
    np.testing.assert_array_equal(d.data[0], FIRST_ROW)
    # the second load reads the cache: no network
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    np.testing.assert_array_equal(load_dataset("seeds").data, d.data)
    assert capsys.readouterr().err == ""


def test_download_failure_is_not_found(monkeypatch, isolated):
    def refused(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", refused)
    with pytest.raises(DatasetNotFoundError, match="no route to host") as info:
        load_dataset("seeds")
    assert str(isolated / SEEDS_FILE) in str(info.value) and SEEDS_URL in str(info.value)
    assert not (isolated / SEEDS_FILE).exists()


def test_corrupt_download_is_not_cached(monkeypatch, isolated):
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen(b"<html>Not here</html>\n", calls))
    with pytest.raises(ValueError, match="line 1"):
        load_dataset("seeds")
    assert not (isolated / SEEDS_FILE).exists()
    assert not isolated.exists() or list(isolated.iterdir()) == []


# ------------------------------------------------------------------------- parsing the file
def _set_field(lines, line_no, field_no, value):
    fields = lines[line_no - 1].split()
    fields[field_no - 1] = value
    lines[line_no - 1] = "\t".join(fields)
    return lines


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (lambda ls: ls[:4] + ["\t".join(ls[4].split()[:7])] + ls[5:], ["line 5", "7 fields"]),
        (lambda ls: ls[:6] + [ls[6] + "\t9.9"] + ls[7:], ["line 7", "9 fields"]),
        (lambda ls: _set_field(ls, 3, 2, "abc"), ["line 3", "perimeter", "'abc' is not a number"]),
        (lambda ls: _set_field(ls, 10, 1, "nan"), ["line 10", "area", "not a finite number"]),
        (lambda ls: _set_field(ls, 11, 7, "inf"), ["line 11", "kernel groove", "not a finite number"]),
        (lambda ls: _set_field(ls, 20, 8, "4"), ["line 20", "class", "'4' is not 1, 2 or 3"]),
        (lambda ls: _set_field(ls, 21, 8, "Kama"), ["line 21", "class"]),
        # line 1 turned into class 2: the 71st row of class 2 is on line 140
        (lambda ls: _set_field(ls, 1, 8, "2"), ["line 140", "class 2", "70 rows of each class"]),
        (lambda ls: ls[:-1], ["209 data rows", "line 209", "70 of class 2, 69 of class 3"]),
        (lambda ls: [], ["0 data rows"]),
    ],
    ids=["too-few-fields", "too-many-fields", "text", "nan", "inf", "class-4", "class-text", "class-counts",
         "missing-row", "empty"],
)
def test_corrupt_file_names_the_line(tmp_path, seeds_bytes, corrupt, expected):
    folder = _write(tmp_path / "bad", corrupt(_lines(seeds_bytes)))
    with pytest.raises(ValueError) as info:
        load_dataset("seeds", data_dir=folder, download=False)
    message = str(info.value)
    assert str(folder / SEEDS_FILE) in message
    for part in expected:
        assert part in message


def test_binary_file_is_value_error(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / SEEDS_FILE).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not a text file"):
        load_dataset("seeds", data_dir=folder)


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda ls: "\n".join("\t".join(l.split()) for l in ls) + "\n",  # single tabs
        lambda ls: "\n".join(" ".join(l.split()) for l in ls),  # single spaces
        lambda ls: "\n".join(f"  {' '.join(l.split()[:3])} \t {'   '.join(l.split()[3:])}\t " for l in ls),
        lambda ls: "\r\n".join(ls) + "\r\n",  # Windows line ends
        lambda ls: "\n\n".join(ls[:100]) + "\n   \n" + "\n".join(ls[100:]) + "\n\n",  # blank lines
    ],
    ids=["single-tabs", "spaces", "mixed", "crlf", "blank-lines"],
)
def test_whitespace_variants_parse_identically(tmp_path, seeds_env, seeds_bytes, rewrite):
    reference = load_dataset("seeds")
    folder = _write(tmp_path / "variant", rewrite(_lines(seeds_bytes)))
    d = load_dataset("seeds", data_dir=folder, download=False)
    np.testing.assert_array_equal(d.data, reference.data)
    np.testing.assert_array_equal(d.target, reference.target)


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("name", ["blobs", "moons"])
def test_generators_are_deterministic(name):
    a = load_dataset(name, random_state=7)
    b = load_dataset(name, random_state=7)
    c = load_dataset(name, random_state=8)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.target, b.target)
    assert not np.array_equal(a.data, c.data)
    np.testing.assert_array_equal(load_dataset(name).data, load_dataset(name, random_state=0).data)
    assert a.data.shape == (300, 2) and a.data.dtype == np.float64
    assert "random_state=7" in a.description


def test_generator_options():
    d = load_dataset("blobs", n_samples=50, centers=4, n_features=3, cluster_std=0.5, random_state=1)
    assert d.data.shape == (50, 3) and d.n_classes == 4 and set(d.target) <= {0, 1, 2, 3}
    assert d.feature_names == ("x0", "x1", "x2")
    given = load_dataset("blobs", centers=[[0, 0, 0], [10, 10, 10]], cluster_std=[0.1, 0.2], n_samples=20)
    assert given.data.shape == (20, 3) and given.n_classes == 2
    m = load_dataset("moons", n_samples=40, noise=0.0)
    assert m.data.shape == (40, 2) and np.bincount(m.target).tolist() == [20, 20]
    assert m.target_names == ("upper", "lower")
    # noise=0: class 0 is the upper half circle of radius 1 around the origin
    upper = m.data[m.target == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert np.all(upper[:, 1] >= -1e-12)


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("iris", {"n_samples": 10}, "n_samples do not apply to data set 'iris'"),
        ("seeds", {"random_state": 0}, "random_state do not apply to data set 'seeds'"),
        ("moons", {"centers": 3, "cluster_std": 1.0}, "centers, cluster_std do not apply to data set 'moons'"),
        ("blobs", {"noise": 0.1}, "noise do not apply to data set 'blobs'"),
        ("blobs", {"n_sample": 10}, "n_sample do not apply"),
        ("blobs", {"n_samples": 0}, "n_samples must be a positive integer"),
        ("moons", {"n_samples": 2.5}, "n_samples must be a positive integer"),
        ("moons", {"n_samples": True}, "n_samples must be a positive integer"),
        ("moons", {"noise": -0.1}, "noise must be a finite number >= 0"),
        ("moons", {"noise": float("nan")}, "noise must be"),
        ("blobs", {"cluster_std": 0}, "cluster_std must be a finite number > 0"),
        ("blobs", {"cluster_std": [1.0, 2.0]}, "cluster_std must be"),
        ("blobs", {"centers": 0}, "centers must be a positive integer"),
        ("blobs", {"centers": [1, 2, 3]}, "centers must be a positive integer or a 2-D array"),
        ("blobs", {"centers": [[0, 0], [1, 1]], "n_features": 3}, "centers has 2 columns but n_features=3"),
        ("blobs", {"n_features": 0}, "n_features must be a positive integer"),
    ],
)
def test_bad_options(name, options, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(name, **options)


@pytest.mark.parametrize("name, loader, shape", [("breast-cancer", "load_breast_cancer", (569, 30)),
                                                  ("digits", "load_digits", (1797, 64))])
def test_more_bundled_sets_are_scikit_learns(name, loader, shape):
    from sklearn import datasets as skd

    d = load_dataset(name)
    ref = getattr(skd, loader)()
    assert d.data.shape == shape and d.data.dtype == np.float64
    assert np.array_equal(d.data, ref.data) and np.array_equal(d.target, ref.target)
    assert d.feature_names == tuple(str(f) for f in ref.feature_names)
    assert d.n_classes == len(ref.target_names) and "CC BY 4.0" in d.description


def test_digits_keeps_the_first_classes():
    d = load_dataset("digits", n_class=4)
    assert set(d.target) == {0, 1, 2, 3} and d.n_classes == 4 and d.n_samples == 720
    assert "Classes 0-3" in d.description
    for bad in (0, 11, 2.5, "4"):
        with pytest.raises(ValueError, match="n_class must be an integer from 1 to 10"):
            load_dataset("digits", n_class=bad)
    with pytest.raises(ValueError, match="do not apply"):
        load_dataset("breast-cancer", n_class=2)
