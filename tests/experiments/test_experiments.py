"""The Section 6 experiments in quick mode: their qualitative claims, asserted on the tables they wrote."""

from __future__ import annotations

import csv
import json
import os
import urllib.request

import numpy as np
import pytest

from advcluster.datasets import load_dataset
from advcluster.experiments import EXPERIMENTS, reproduce, run_experiment


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return reproduce(out=out, quick=True, progress=False)


def _read(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    for k, v in cols.items():
        try:
            cols[k] = np.array([float(x) for x in v])
        except ValueError:
            cols[k] = np.array(v)
    return cols


def _params(report, name):
    return json.loads((report.out / f"{name}.json").read_text())["params"]


def test_every_experiment_wrote_its_table_and_record(report):
    assert [o.name for o in report.outputs] == list(EXPERIMENTS)
    for o in report.outputs:
        assert o.csv.is_file() and (report.out / f"{o.name}.json").is_file()
        record = json.loads((report.out / f"{o.name}.json").read_text())
        assert record["advcluster"] and record["quick"] is True and record["params"]


def test_fig4_nothing_changes_on_an_interval_around_zero(report):
    t = _read(report.out / "fig4.csv")
    lo, hi = _params(report, "fig4")["robust_interval"]
    assert lo < 0 < hi
    inside = (t["eps"] >= lo) & (t["eps"] <= hi)
    assert inside.sum() >= 3
    assert np.all(t["n_changed"][inside] == 0) and np.all(t["delta"][inside] == 0)
    # Just outside the interval, on each side where the grid reaches, the clustering has changed.
    assert np.any(t["delta"][t["eps"] > hi] > 0) and np.any(t["delta"][t["eps"] < lo] > 0)


def test_fig5_grid_values_lie_on_the_exact_plateaus(report):
    t = _read(report.out / "fig5.csv")
    grid, stair = t["source"] == "grid", t["source"] == "staircase"
    assert set(t["delta"][grid]) <= set(t["delta"][stair])
    # Each plateau is a pair of rows (lower, upper) with one value; plateaus tile the range in order.
    lo, hi = t["eps"][stair][0::2], t["eps"][stair][1::2]
    assert np.all(lo <= hi) and np.all(hi[:-1] < lo[1:])
    assert len(set(t["delta"][stair])) > 5  # a staircase, not a step


def test_fig6_bl1_grows_with_the_budget_and_bl2_reaches_its_target(report):
    t = _read(report.out / "fig6.csv")
    for method in ("grid", "staircase"):
        sel = (t["problem"] == "BL1") & (t["method"] == method)
        assert np.all(np.diff(t["delta"][sel]) >= 0)
        assert np.all(np.abs(t["eps"][sel]) <= t["level"][sel] + 1e-12)
    bl2 = t["problem"] == "BL2"
    assert np.all(t["delta"][bl2] >= t["level"][bl2])
    exact = bl2 & (t["method"] == "staircase")
    grid = bl2 & (t["method"] == "grid")
    assert np.all(t["norm"][exact] <= t["norm"][grid] + 1e-12)


def test_fig7_rand_index_nmi_and_two_cluster_moves(report):
    t = _read(report.out / "fig7.csv")
    n = _params(report, "fig7")["n"]
    np.testing.assert_allclose(t["ri_deviation"], t["delta"] / (n * (n - 1)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["rand_index"], 1 - t["ri_deviation"], rtol=0, atol=1e-12)
    fused = t["n_clusters"] == 1
    assert fused.any() and np.all(t["nmi"][fused] == 0)
    assert np.any(t["nmi"][t["eps"] > t["eps"][fused].max()] > 0)  # and jumps back
    moved = t["moved_one_way"] > 0
    assert moved.any()
    m = t["moved_one_way"][moved]
    np.testing.assert_array_equal(t["delta"][moved], 2 * m * (n - m))


def test_fig8_measures_are_normalised_and_delta_matches_one_minus_ri(report):
    t = _read(report.out / "fig8.csv")
    assert np.all((t["value"] >= 0) & (t["value"] <= 1))
    a = t["value"][t["measure"] == "delta / n(n-1)"]
    b = t["value"][t["measure"] == "1 - RI"]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_table1_grid_beats_trust_constr_on_every_data_set(report):
    t = _read(report.out / "table1.csv")
    datasets = sorted(set(t["dataset"]))
    assert {"iris", "wine"} <= set(datasets)
    for d in datasets:
        direct = t["delta"][(t["dataset"] == d) & (t["method"] == "direct")][0]
        tc = t["delta"][(t["dataset"] == d) & (t["method"] == "trust-constr")][0]
        stair = t["delta"][(t["dataset"] == d) & (t["method"] == "staircase")][0]
        assert direct >= tc and stair >= direct
    assert "Table 1" in report.summary()


def test_every_claim_holds(report):
    failed = [(o.name, s, d) for o in report.outputs for s, ok, d in o.claims if not ok]
    assert not failed


def test_figures_and_report_exist(report):
    pytest.importorskip("matplotlib")
    for name in ("fig4", "fig5", "fig6", "fig7", "fig8"):
        for suffix in (".png", ".svg"):
            path = report.out / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 1000
    assert report.markdown.is_file() and report.html.is_file()
    html = report.html.read_text()
    assert html.count("data:image/png;base64,") >= 5


def test_seeds_missing_is_skipped_and_said(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv("ADVCLUSTER_DATA", raising=False)
    monkeypatch.setenv("ADVCLUSTER_CACHE", str(tmp_path / "cache"))
    out = run_experiment("table1", quick=True, data_dir=tmp_path / "empty")
    assert "seeds" not in set(out.table["dataset"]) and {"iris", "wine"} <= set(out.table["dataset"])
    assert any("seeds" in note and "seeds_dataset.txt" in note for note in out.notes)


def test_settings_can_be_overridden_and_bad_ones_are_named():
    out = run_experiment("fig4", quick=True, gamma=0.016)
    assert out.params["gamma"] == 0.016
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['gama'\]"):
        run_experiment("fig4", quick=True, gama=0.1)
    with pytest.raises(ValueError, match="unknown experiment"):
        run_experiment("fig9")


def test_seeds_is_read_from_the_test_data():
    if not os.environ.get("ADVCLUSTER_DATA"):
        pytest.skip("ADVCLUSTER_DATA is not set (tests/conftest.py points it at tests/data)")
    ds = load_dataset("seeds", download=False)
    assert ds.data.shape == (210, 7)


def test_cli_reproduce_applies_settings_and_rejects_unknown_ones(tmp_path, capsys):
    from advcluster.cli import main

    out = tmp_path / "r"
    assert main(["reproduce", "--quick", "--only", "fig4", "--set", "gamma=0.016", "--out", str(out)]) == 0
    record = json.loads((out / "fig4.json").read_text())
    assert record["params"]["gamma"] == 0.016
    assert "--set gamma=0.016" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["reproduce", "--set", "gama=1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown setting(s) ['gama']" in err[0]
