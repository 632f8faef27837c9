"""The clusterpath figure and ``advcluster path``: fusion heights against their definition, the
dendrogram against the path's partitions, the command's files and its bad input."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scipy.cluster.hierarchy import fcluster, linkage  # noqa: E402
from scipy.spatial.distance import squareform  # noqa: E402

from advcluster import plotting, uniform_graph  # noqa: E402
from advcluster.cli import main  # noqa: E402
from advcluster.solvers.core import clusterpath, solve  # noqa: E402


def test_fusion_heights_against_their_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, g = rng.integers(3, 12), rng.integers(1, 6)
        gammas = np.sort(rng.uniform(0.1, 10, g))
        labels = [rng.integers(0, 3, n) for _ in range(g)]
        order = rng.permutation(g)  # the path may come in any order
        H = plotting.fusion_heights(gammas[order], [labels[i] for i in order])
        for i in range(n):
            for j in range(n):
                first = [gm for gm, lab in zip(gammas, labels) if lab[i] == lab[j]]
                expect = 0.0 if i == j else (first[0] if first else np.inf)
                assert H[i, j] == expect


def test_the_dendrogram_cuts_into_the_paths_partitions():
    """Uniform weights in 1-D: clusters only merge along the path, so cutting the dendrogram
    just above each gamma gives that gamma's partition."""
    rng = np.random.default_rng(1)
    X = np.sort(rng.normal(size=(30, 1)), axis=0)
    gammas = np.geomspace(1e-3, 0.2, 14)
    path = clusterpath(X, uniform_graph(30), gammas)
    H = plotting.fusion_heights(gammas, [r.labels for r in path])
    off = np.log10(gammas[0]) - 1  # every height above 0 on the log scale
    D = np.log10(np.where(np.isinf(H), 1e6, np.where(H > 0, H, 1.0))) - off
    np.fill_diagonal(D, 0)
    Z = linkage(squareform(D, checks=False), method="single")
    for g, r in zip(gammas, path):
        got = fcluster(Z, np.log10(g) - off + 1e-9, criterion="distance")
        assert len(set(got)) == r.n_clusters
        assert all((got[i] == got[j]) == (r.labels[i] == r.labels[j]) for i in range(30) for j in range(30))
    fig = plotting.plot_clusterpath(X, gammas, [r.centers for r in path], [r.labels for r in path])
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "gamma at the fusion"


def test_the_path_command_writes_its_figure_and_table(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["path", "--dataset", "iris", "--gammas", "0.05,50,12", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "12 gammas from 0.05 to 50" in text and "clusters proven exact at 12 of 12 gammas" in text
    for name in ("clusterpath.png", "clusterpath.svg", "path.csv"):
        assert (out / name).stat().st_size > 0
    rows = (out / "path.csv").read_text().splitlines()
    assert rows[0] == "gamma,clusters,major_clusters,proven" and len(rows) == 13
    X = __import__("advcluster").load_dataset("iris").data
    X = (X - X.mean(0)) / X.std(0)
    from advcluster import knn_graph
    from advcluster.choose import scaled_phi

    # the counts are the proven partitions of cold solves, gamma by gamma
    graph = knn_graph(X, 10, scaled_phi(X, 10))
    ref = [solve(X, graph, g) for g in np.geomspace(0.05, 50, 12)]
    assert all(r.labels_certified for r in ref)
    assert [int(r.split(",")[1]) for r in rows[1:]] == [r.n_clusters for r in ref]
    assert all(r.split(",")[3] == "1" for r in rows[1:])  # every count proven


@pytest.mark.parametrize("args, message", [
    (["--gammas", "1,0.1,5"], "--gammas needs 0 < LO < HI"),
    (["--gammas", "a,b"], "--gammas expects LO,HI,NUM"),
    (["--weights", "complete", "--max-memory", "0.000001"], "--weights complete on 150 rows makes 11,175 edges"),
])
def test_path_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["path", "--dataset", "iris", "--out", str(tmp_path / "p"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advcluster: error: ") and message in err[0]
