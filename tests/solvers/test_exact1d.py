"""The exact 1-D solver's dual certificate: the fractional-tournament flow and tie-heavy data."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from advcluster import solve, uniform_graph
from advcluster.solvers.exact1d import _tournament_flow


@pytest.mark.parametrize("kind", ["uniform", "tournament", "saturated"])
@pytest.mark.parametrize("seed", range(5))
def test_tournament_flow_realises_every_feasible_row_sum(kind, seed):
    """Row sums of any antisymmetric Z in [-1, 1] are realised again, within the box."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        s = int(rng.integers(2, 30))
        if kind == "uniform":
            Z = rng.uniform(-1, 1, (s, s))
        elif kind == "tournament":  # extreme points: every game won or lost
            Z = rng.choice([-1.0, 1.0], (s, s))
        else:  # many entries on the bounds
            Z = np.clip(rng.normal(0, 3, (s, s)), -1, 1)
        Z = np.triu(Z, 1)
        Z = Z - Z.T
        t = Z.sum(axis=1)
        W = _tournament_flow(t)
        np.testing.assert_allclose(W, -W.T, atol=0)
        np.testing.assert_allclose(W.sum(axis=1), t, atol=1e-11)
        assert np.abs(W).max() <= 1 + 1e-12


@pytest.mark.parametrize("gamma", [0.002, 0.02, 0.1])
def test_certificate_on_tied_data_is_exact_and_fast(gamma):
    """Iris has many tied values: the certificate must still close the gap (p = 1, four features)."""
    A = load_iris().data
    res = solve(A, uniform_graph(len(A)), gamma, "exact1d", p=1)
    assert res.success
    assert res.kkt_residual <= 1e-12 and res.duality_gap <= 1e-12
    admm = solve(A, uniform_graph(len(A)), gamma, "admm", p=1, tol=1e-9)
    assert abs(admm.primal_objective - res.primal_objective) <= 1e-7 * max(1, res.primal_objective)
