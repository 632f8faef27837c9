"""``method="auto"``: what it picks, that it says so, and that its answers are the reference's.

On random instances of every kind it can meet (uniform weights in one feature, uniform
weights with p = 1, kNN and complete Gaussian weights with p = 2 and p = 1), the answer of
``auto`` agrees with the independent reference (cvxpy + Clarabel: objective, and the partition
where :func:`reference.reference_partition` decides it) and with the named method it chose.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference
from reference import single_threaded_blas  # noqa: F401  (autouse fixture)

from advcluster import ConvexClustering
from advcluster.graph import complete_graph, knn_graph, uniform_graph
from advcluster.solvers import solve
from advcluster.solvers.core import choose_method

KINDS = ("uniform-1d", "uniform-p1", "knn", "complete", "knn-p1")
EXPECTED = {"uniform-1d": "exact1d", "uniform-p1": "exact1d", "knn": "ssnal", "complete": "ssnal", "knn-p1": "admm"}


def instance(seed):
    rng = np.random.default_rng(seed)
    kind = KINDS[seed % len(KINDS)]
    d = 1 if kind == "uniform-1d" else int(rng.integers(2, 5))
    n = int(rng.integers(8, 25))
    A = rng.normal(size=(int(rng.integers(2, 4)), d))[rng.integers(0, 3, n) % 2] * 3 + rng.normal(size=(n, d))
    p = 1 if kind.endswith("p1") else 2
    if kind.startswith("uniform"):
        G = uniform_graph(n)
    elif kind == "complete":
        G = complete_graph(A, phi=0.1)
    else:
        G = knn_graph(A, k=5, phi=0.1)
    gamma = float(10 ** rng.uniform(-2.5, -0.5)) * (1 if kind.startswith("uniform") else 10)
    return kind, A, G, gamma, p


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(30))
def test_auto_agrees_with_the_reference_and_the_method_it_chose(seed):
    kind, A, G, gamma, p = instance(seed)
    res = solve(A, G, gamma, p=p)  # auto is the default
    assert res.method == EXPECTED[kind] == choose_method(G, A.shape[1], p)[0]
    assert res.message.startswith(f"method 'auto' chose {res.method}")
    assert res.success and res.labels_certified, res.message
    named = solve(A, G, gamma, res.method, p=p)
    np.testing.assert_array_equal(res.labels, named.labels)
    X_ref, f_ref = reference.cvxpy_solve(A, G, gamma, p)
    f = reference.objective(A, G, gamma, res.centers, p)
    spread = reference.unit_spread(A)[1]
    assert f <= f_ref + 1e-9 * (spread**2 + abs(f_ref))
    labels, _ = reference.reference_partition(A, G, gamma, p)
    if labels is not None:
        np.testing.assert_array_equal(res.labels, labels)


def test_auto_is_the_default_everywhere_and_named_in_errors():
    A = np.random.default_rng(0).normal(size=(12, 1))
    est = ConvexClustering(gamma=0.1, weights="uniform").fit(A)
    assert est.result_.method == "exact1d"
    with pytest.raises(ValueError, match="method 'auto' chose it"):
        solve(A, uniform_graph(12), 0.1, sigma=2.0)  # an ssnal option, while auto picked exact1d
    with pytest.raises(ValueError, match="'auto'"):
        solve(A, uniform_graph(12), 0.1, method="fastest")
