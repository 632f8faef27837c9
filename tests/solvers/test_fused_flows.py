"""The proof's two numerical pieces on wide data (docs/partitions.md, sections 2-3), against
references written out here: the fused Hessian by its definition (dense loops over the joined
pairs) and the in-group flow with the most room by cvxpy + Clarabel."""

from __future__ import annotations

import numpy as np
import pytest

from advcluster.graph import knn_graph
from advcluster.solvers import fused, problem
from advcluster.solvers.flows import Flows
from advcluster.solvers.fused import BlockHessian, FusedProblem


def _instance(seed, K=None, d=None):
    """Data, a kNN graph, a gamma and random groups (each group connected or not: the fused
    problem does not care), with group centres spread apart."""
    rng = np.random.default_rng(seed)
    d = d or int(rng.choice([3, 5, 12, 30]))
    n = int(rng.integers(40, 90))
    A = rng.normal(size=(n, d))
    graph = knn_graph(A, 6, 0.2)
    K = K or int(rng.integers(20, n))
    labels = np.r_[np.arange(K), rng.integers(0, K, n - K)]
    rng.shuffle(labels)
    return A, graph, float(rng.uniform(0.05, 2.0)), labels, rng


def _dense_hessian(fp, c):
    """``diag(n_a) (x) I + sum_pairs (R / r) (e_a - e_b)(e_a - e_b)^T (x) (I - u u^T)``, by loops."""
    K, d = c.shape
    H = np.kron(np.diag(fp.sizes), np.eye(d))
    for a, b, w in zip(fp.pa, fp.pb, fp.W):
        diff = c[a] - c[b]
        r = np.linalg.norm(diff)
        u = diff / r
        B = fp.gamma * w / r * (np.eye(d) - np.outer(u, u))
        for x, y, sign in ((a, a, 1), (b, b, 1), (a, b, -1), (b, a, -1)):
            H[x * d:(x + 1) * d, y * d:(y + 1) * d] += sign * B
    return H


@pytest.mark.parametrize("seed", range(16))
def test_block_hessian_is_the_hessian_and_solves_it(seed):
    A, graph, gamma, labels, rng = _instance(seed)
    fp = FusedProblem(A, graph, gamma, labels)
    c = fp.abar + 0.1 * rng.normal(size=fp.abar.shape)
    K, d = c.shape
    H = fp.hessian(c)
    assert isinstance(H, BlockHessian) == (K * d > fused.DIRECT_MAX and d >= fused.ITERATIVE_MIN_D)
    assert isinstance(H, np.ndarray) == (K * d <= fused.DENSE_MAX)
    reference = _dense_hessian(fp, c)
    block = H if isinstance(H, BlockHessian) else BlockHessian(fp.sizes, fp.pa, fp.pb, *_weights_and_units(fp, c))
    v = rng.normal(size=c.shape)
    np.testing.assert_allclose((block @ v).ravel(), reference @ v.ravel(), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(block.sparse().toarray(), reference, rtol=1e-12, atol=1e-10)
    rhs = rng.normal(size=c.shape)
    expected = np.linalg.solve(reference, rhs.ravel()).reshape(K, d)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(fp.solve_hessian(H, rhs), expected, atol=1e-9 * scale)


def _weights_and_units(fp, c):
    diff, r = fp.pair_geometry(c)
    return fp.gamma * fp.W / r, diff / r[:, None]


def test_block_hessian_falls_back_to_a_factorisation_when_cg_falls_short(monkeypatch):
    A, graph, gamma, labels, rng = _instance(3, K=60, d=30)
    fp = FusedProblem(A, graph, gamma, labels)
    c = fp.abar + 0.1 * rng.normal(size=fp.abar.shape)
    H = fp.hessian(c)
    assert isinstance(H, BlockHessian)
    monkeypatch.setattr(fused, "cg", lambda apply, precond, b, x0, rtol, maxiter: (x0, maxiter, False))
    assert H.solve(c) is None
    rhs = rng.normal(size=c.shape)
    expected = np.linalg.solve(_dense_hessian(fp, c), rhs.ravel()).reshape(c.shape)
    np.testing.assert_allclose(fp.solve_hessian(H, rhs), expected, atol=1e-9 * np.abs(expected).max())
    with pytest.raises(np.linalg.LinAlgError, match="too many to factorise"):  # the proofs' limit
        fp.solve_hessian(H, rhs, factor_max=rhs.size - 1)
    monkeypatch.setattr(fused, "FACTOR_MAX", rhs.size - 1)
    assert fp.minimise(c)[1] is False


def test_newton_reaches_the_fused_minimiser_in_wide_data():
    """From a perturbed start, Newton with CG steps ends where the gradient (written out here)
    vanishes to rounding, on groups of 30-feature data."""
    for seed in range(6):
        A, graph, gamma, labels, rng = _instance(seed, d=30)
        fp = FusedProblem(A, graph, gamma, labels)
        c, ok = fp.minimise(fp.abar + 1e-3 * rng.normal(size=fp.abar.shape))
        assert ok
        g = fp.sizes[:, None] * (c - fp.abar)
        for a, b, w in zip(fp.pa, fp.pb, fp.W):
            u = (c[a] - c[b]) / np.linalg.norm(c[a] - c[b])
            g[a] += gamma * w * u
            g[b] -= gamma * w * u
        assert np.abs(g).max() <= 1e-10 * (1 + np.abs(fp.sizes[:, None] * fp.abar).max())


def test_a_nearly_coinciding_pair_is_refused_at_once():
    A, graph, gamma, labels, rng = _instance(5, K=50, d=12)
    fp = FusedProblem(A, graph, gamma, labels)
    c = fp.abar.copy()
    a, b = fp.pa[0], fp.pb[0]
    c[a] = c[b] = 1e-8
    c[b, 0] = np.nextafter(c[a, 0], 1.0)  # joined groups one rounding apart
    assert fused.singular_to_working_precision(*_weights_and_units(fp, c)[:1], fp.sizes)
    assert fp.minimise(c)[1] is False


def _flow_problem(seed, blobs=1):
    """A few connected groups of a kNN graph on wide data, radii and a divergence ``T`` that a
    flow inside the radii can carry (the divergence of a random flow at 60-99 % load)."""
    rng = np.random.default_rng(seed)
    d = int(rng.choice([2, 5, 10, 30]))
    n = int(rng.integers(20, 60))
    A = rng.normal(size=(n, d)) + 100.0 * rng.integers(0, blobs, n)[:, None]  # blobs: apart in the kNN graph
    graph = knn_graph(A, 4, 0.2)
    keep = rng.random(graph.n_edges) < 0.7
    labels = graph.components_of(keep)[1]
    i, j = graph.edges.T
    inner = np.flatnonzero(keep & (labels[i] == labels[j]))
    r = rng.uniform(0.2, 2.0, inner.size)
    z = rng.normal(size=(inner.size, d))
    z *= (r * rng.uniform(0.6, 0.99, inner.size) / np.linalg.norm(z, axis=1))[:, None]
    J = graph.incidence[:, inner]
    return graph, labels, inner, r, J @ z, rng


def _most_room_reference(J, T, r):
    import cvxpy as cp

    z = cp.Variable((r.size, T.shape[1]))
    t = cp.Variable()
    problem_ = cp.Problem(cp.Minimize(t), [J @ z == T, cp.norm(z, 2, axis=1) <= t * r])
    problem_.solve(solver=cp.CLARABEL)
    return float(t.value)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_most_room_flow_matches_a_conic_reference(seed):
    graph, labels, inner, r, T, rng = _flow_problem(seed)
    flows = Flows(graph, labels, inner, r, T, np.zeros((inner.size, T.shape[1])), 1e-13)
    z = flows._most_room()
    J = graph.incidence[:, inner].toarray()
    t_ref = _most_room_reference(J, T, r)
    assert t_ref < 1
    load = float(np.max(np.linalg.norm(z, axis=1) / r))
    assert abs(load - t_ref) <= 1e-6
    assert problem.fro(J @ z - T) <= 1e-7 * (1 + problem.fro(T))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_most_room_group_by_group_matches_the_conic_reference_per_group(seed):
    """Groups are separate flow problems: each group's load is its own most-room optimum, and
    the groups reported overloaded are exactly those whose optimum is at least 1 (some groups'
    divergence is scaled up so that no flow fits)."""
    graph, labels, inner, r, T, rng = _flow_problem(seed, blobs=5)
    group = labels[graph.edges[inner, 0]]
    K = int(labels.max()) + 1
    scale = np.where(rng.random(K) < 0.4, 1.6, 1.0)  # a random flow's divergence, x1.6 for some groups
    T = T * scale[labels][:, None]
    flows = Flows(graph, labels, inner, r, T, np.zeros((inner.size, T.shape[1])), 1e-13)
    z = flows._most_room_by_group(np.unique(group), np.zeros((inner.size, T.shape[1])))
    J = graph.incidence[:, inner].toarray()
    reference = {}
    for g in np.unique(group):
        edges = np.flatnonzero(group == g)
        nodes = np.flatnonzero(labels == g)
        reference[int(g)] = t_ref = _most_room_reference(J[np.ix_(nodes, edges)], T[nodes], r[edges])
        load = float(np.max(np.linalg.norm(z[edges], axis=1) / r[edges]))
        assert abs(load - t_ref) <= 1e-6 * max(1.0, t_ref)
        assert problem.fro(J[np.ix_(nodes, edges)] @ z[edges] - T[nodes]) <= 1e-7 * (1 + problem.fro(T[nodes]))
    assert {g for g, t in reference.items() if t >= 1 + 1e-6} <= set(flows.overloaded)
    assert all(reference[g] >= 1 - 1e-6 for g in flows.overloaded)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_the_group_by_group_search_can_stop_at_the_first_overloaded_group(seed):
    """With ``until_overloaded`` the search ends at the first group with no flow in its balls
    (the partition then has no certificate, whatever the later groups hold): the groups it
    solved are a prefix of the order given, all but the last within their balls by the
    reference, the last overloaded by it, and the groups after it keep the flow they had."""
    graph, labels, inner, r, T, rng = _flow_problem(seed, blobs=5)
    group = labels[graph.edges[inner, 0]]
    K = int(labels.max()) + 1
    scale = np.where(rng.random(K) < 0.4, 1.6, 1.0)
    T = T * scale[labels][:, None]
    J = graph.incidence[:, inner].toarray()
    reference = {}
    for g in np.unique(group):
        edges, nodes = np.flatnonzero(group == g), np.flatnonzero(labels == g)
        reference[int(g)] = _most_room_reference(J[np.ix_(nodes, edges)], T[nodes], r[edges])
    order = rng.permutation(np.unique(group))
    start = np.full((inner.size, T.shape[1]), np.nan)  # marks the flow a group was not solved on
    flows = Flows(graph, labels, inner, r, T, np.zeros((inner.size, T.shape[1])), 1e-13)
    z = flows._most_room_by_group(order, start, until_overloaded=True)
    solved = [int(g) for g in order if not np.isnan(z[group == g]).any()]
    assert solved == [int(g) for g in order[: len(solved)]]
    if any(reference[g] >= 1 + 1e-6 for g in order):
        assert flows.overloaded == [solved[-1]] and reference[solved[-1]] >= 1 - 1e-6
        assert all(reference[g] < 1 + 1e-6 for g in solved[:-1])
    else:
        assert flows.overloaded == [] and len(solved) == len(order)


@pytest.mark.parametrize("seed", range(8))
def test_strongly_coupled_groups_are_preconditioned_together(seed):
    """Pairs about to fuse (centres 1e-7 to 1e-4 apart) couple their groups far more strongly
    than anything else: the preconditioner inverts those sets whole, its blocks are the
    Hessian's (by the definition), and CG solves the system to its tolerance."""
    A, graph, gamma, labels, rng = _instance(seed, d=(3, 12, 30)[seed % 3])
    fp = FusedProblem(A, graph, gamma, labels)
    c = fp.abar + 0.1 * rng.normal(size=fp.abar.shape)
    for e in rng.choice(fp.pa.size, 3, replace=False):  # three pairs close to fusing
        a, b = fp.pa[e], fp.pb[e]
        c[b] = c[a] + 10 ** rng.uniform(-7, -4) * rng.normal(size=c.shape[1])
    H = BlockHessian(fp.sizes, fp.pa, fp.pb, *_weights_and_units(fp, c))
    assert H._set_inverses
    reference = _dense_hessian(fp, c)
    d = c.shape[1]
    for groups, inverse in H._set_inverses:
        for members, block_inverse in zip(groups, inverse):
            index = (members[:, None] * d + np.arange(d)).ravel()
            np.testing.assert_allclose(np.linalg.inv(block_inverse), reference[np.ix_(index, index)],
                                       rtol=1e-8, atol=1e-8 * np.abs(reference).max())
    rhs = rng.normal(size=c.shape)
    x = H.solve(rhs)
    assert x is not None
    assert np.linalg.norm(reference @ x.ravel() - rhs.ravel()) <= 1e-10 * np.linalg.norm(rhs)


def _widest_forest_room(n, i, j, room):
    """The largest total room of a spanning forest: Kruskal with union-find, written out here."""
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    total = 0.0
    for e in np.argsort(-room, kind="stable"):
        a, b = find(int(i[e])), find(int(j[e]))
        if a != b:
            parent[a] = b
            total += room[e]
    return total


def _same_partition(a, b):
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", range(16))
def test_routed_flow_balances_on_a_widest_spanning_forest(seed):
    """The routed flow meets the balance equations (summed edge by edge here) to rounding, and
    differs from the flow it started from on a spanning forest of each group whose total room
    is the largest there is (Kruskal's, written out above)."""
    graph, labels, inner, r, T, rng = _flow_problem(seed, blobs=3)
    d = T.shape[1]
    z0 = rng.normal(size=(inner.size, d))
    z0 *= (r * rng.uniform(0.0, 0.5, inner.size) / np.linalg.norm(z0, axis=1))[:, None]
    z = Flows(graph, labels, inner, r, T, z0, 1e-13).routed(z0)
    i, j = graph.edges[inner].T
    divergence = np.zeros_like(T)
    for e in range(inner.size):
        divergence[i[e]] += z[e]
        divergence[j[e]] -= z[e]
    assert problem.fro(divergence - T) <= 1e-12 * (1 + problem.fro(T))
    changed = np.any(z != z0, axis=1)
    assert np.count_nonzero(changed) == graph.n - (labels.max() + 1)
    mask = np.zeros(graph.n_edges, dtype=bool)
    mask[inner[changed]] = True
    assert _same_partition(graph.components_of(mask)[1], labels)
    room = r - np.linalg.norm(z0, axis=1)
    assert room[changed].sum() == pytest.approx(_widest_forest_room(graph.n, i, j, room), rel=1e-12)


def test_routing_needs_room_on_every_edge():
    graph, labels, inner, r, T, rng = _flow_problem(3)
    z0 = np.zeros((inner.size, T.shape[1]))
    z0[0, 0] = r[0]  # on its ball's boundary
    assert Flows(graph, labels, inner, r, T, z0, 1e-13).routed(z0) is None


def test_routing_on_a_graph_whose_edge_keys_pass_32_bits():
    """50,000 points: ``i * n + j`` exceeds 2^31 (the forest's indices come back as int32)."""
    from advcluster.graph import Graph

    rng = np.random.default_rng(0)
    n = 50_000
    pairs = np.r_[np.c_[np.arange(n - 1), np.arange(1, n)], rng.integers(0, n, (20_000, 2))]
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    graph = Graph.from_edges(n, pairs, np.ones(len(pairs)))
    labels = np.zeros(n, dtype=np.int64)
    inner = np.arange(graph.n_edges)
    r = np.full(inner.size, 1e3)
    z = rng.uniform(-1, 1, (inner.size, 2))
    T = graph.incidence @ z
    routed = Flows(graph, labels, inner, r, T, np.zeros_like(z), 1e-13).routed(np.zeros_like(z))
    divergence = np.zeros_like(T)
    np.add.at(divergence, graph.edges[:, 0], routed)
    np.add.at(divergence, graph.edges[:, 1], -routed)
    assert problem.fro(divergence - T) <= 1e-9 * problem.fro(T)


def _saturated_start(seed, d=None, loads=(0.6, 0.99), saturated=0.9):
    """Groups of wide data, a divergence ``T`` carried by a flow at 60-99 % load, and a start
    that is that flow with its edges above 90 % load pushed out to their radius (as a solver's
    dual saturates edges): its small residual, routed, overloads a few forest edges."""
    rng = np.random.default_rng(seed)
    d = int(rng.choice([5, 10])) if d is None else d
    A = rng.normal(size=(int(rng.integers(150, 250)), d))
    graph = knn_graph(A, 6, 0.2)
    labels = graph.components_of(np.ones(graph.n_edges, dtype=bool))[1]
    inner = np.arange(graph.n_edges)
    r = rng.uniform(0.5, 2.0, inner.size)
    z = rng.normal(size=(inner.size, d))
    load = rng.uniform(*loads, inner.size)
    z *= (r * load / np.linalg.norm(z, axis=1))[:, None]
    start = z.copy()
    start[load > saturated] /= load[load > saturated, None]
    return graph, labels, inner, r, graph.incidence @ z, start


def test_overloads_of_a_routed_flow_are_rerouted_around_them():
    """Where routing overloads a few edges, the most-room program on a region around them (the
    rest of the flow held) gives the first flow offered, before any projection runs, on most
    such instances; on every instance the first flow offered is in the balls and balanced."""
    overloaded = by_region = 0
    for seed in range(30):
        graph, labels, inner, r, T, start = _saturated_start(seed)
        flows = Flows(graph, labels, inner, r, T, start, 1e-13)
        routed = flows.routed(problem.project_dual(start, (1 - 1e-6) * r, 2))
        projected = []
        original = flows._projected
        flows._projected = lambda *a, **k: projected.append(1) or original(*a, **k)
        z = next(flows.candidates(1e-9))
        assert np.all(np.linalg.norm(z, axis=1) <= r)
        assert problem.fro(graph.incidence @ z - T) <= 1e-12 * problem.fro(T)
        if np.any(np.linalg.norm(routed, axis=1) > r):
            overloaded += 1
            by_region += not projected
    assert overloaded >= 8
    assert by_region >= overloaded / 2


def test_in_two_columns_regions_are_rerouted_between_the_phases_of_projections():
    """2-D flows at 90-99.99 % load whose start saturates every edge above 95 %: the first phase
    of projections leaves edges overloaded, and the most-room program on a region around them
    gives the first flow offered, before the second phase, on most instances; on every
    instance that flow is in the balls and balanced."""
    before_second = 0
    for seed in range(30):
        graph, labels, inner, r, T, start = _saturated_start(seed, d=2, loads=(0.9, 0.9999), saturated=0.95)
        flows = Flows(graph, labels, inner, r, T, start, 1e-13)
        phases = []
        original = flows._projected

        def projected(*a, **k):
            out = original(*a, **k)
            phases.append((k["phases"], bool(np.all(out[1]))))
            return out

        flows._projected = projected
        z = next(flows.candidates(1e-9))
        assert phases[0] == ((0,), False), seed  # the first phase alone does not fit the flow
        assert np.all(np.linalg.norm(z, axis=1) <= r)
        assert problem.fro(graph.incidence @ z - T) <= 1e-12 * problem.fro(T)
        before_second += len(phases) == 1
    assert before_second >= 20


@pytest.mark.slow
def test_the_search_ends_early_only_where_a_group_has_no_flow():
    """Groups of 2- to 30-column flow problems, some with their divergence scaled up past what
    any flow in the balls carries.  The search for flows stops early (a region of whole groups,
    or the most loaded group alone, with no flow in its balls) only where the reference shows a
    group whose most room is none; where every group has a flow, one is offered; and the early
    stop happens, with fewer most-room programs than groups."""
    early = 0
    for seed in range(40):
        graph, labels, inner, r, T, rng = _flow_problem(seed, blobs=5)
        group = labels[graph.edges[inner, 0]]
        scale = np.where(rng.random(int(labels.max()) + 1) < 0.3, 1.6, 1.0)
        T = T * scale[labels][:, None]
        J = graph.incidence[:, inner].toarray()
        reference = []
        for g in np.unique(group):
            edges, nodes = np.flatnonzero(group == g), np.flatnonzero(labels == g)
            reference.append(_most_room_reference(J[np.ix_(nodes, edges)], T[nodes], r[edges]))
        flows = Flows(graph, labels, inner, r, T, np.zeros((inner.size, T.shape[1])), 1e-13)
        programs = []
        most_room = Flows._most_room

        def counted(self):
            programs.append(1)
            return most_room(self)

        Flows._most_room = counted
        try:
            offered = list(flows.candidates(1e-9))
        finally:
            Flows._most_room = most_room
        if max(reference) < 1 - 1e-6:
            assert offered and not flows.no_flow and not flows.overloaded, seed
        if max(reference) >= 1 + 1e-6:
            assert not offered, seed
        if flows.no_flow or flows.overloaded:
            assert max(reference) >= 1 - 1e-6, seed
            early += len(programs) < len(reference)
    assert early >= 5


def test_in_two_columns_the_second_phase_runs_only_where_the_programs_leave_edges_outside():
    """2-D flows near full load, asked for more room than they have (every proposal is drawn):
    the most-room programs run before the second phase of projections, and that phase runs
    only where the programs' flow, refined, leaves an edge outside its ball; every flow offered
    is in the balls and balanced, each with more room than the last."""
    programs = 0
    for seed in range(12):
        graph, labels, inner, r, T, start = _saturated_start(seed, d=2, loads=(0.9, 0.9999), saturated=0.95)
        flows = Flows(graph, labels, inner, r, T, start, 1e-13)
        events = []
        projected, by_group = flows._projected, flows._most_room_by_group

        def logged_projected(*a, **k):
            events.append(("phases", k["phases"]))
            return projected(*a, **k)

        def logged_by_group(*a, **k):
            z = by_group(*a, **k)
            events.append(("programs", bool(np.all(np.linalg.norm(flows.refined(z), axis=1) <= r))))
            return z

        flows._projected, flows._most_room_by_group = logged_projected, logged_by_group
        offered = list(flows.candidates(np.full(inner.size, 0.3)))
        rooms = [1 - np.max(np.linalg.norm(z, axis=1) / r) for z in offered]
        assert rooms == sorted(rooms) and all(room >= 0 for room in rooms)
        for z in offered:
            assert problem.fro(graph.incidence @ z - T) <= 1e-12 * problem.fro(T)
        assert events[0] == ("phases", (0,)), seed
        ran = [e for e in events if e[0] == "programs"]
        if ran:
            programs += 1
            second = ("phases", (1,)) in events
            assert second == (not ran[-1][1]), seed
            if second:
                assert events.index(("phases", (1,))) > events.index(ran[-1])
    assert programs >= 6


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_in_order_gives_the_serial_results_in_order_and_stops_when_asked(threads):
    """Items of random cost come back in their order, as ``map`` gives them; a consumer that
    stops after k items leaves no more than ``threads`` items started beyond them."""
    import time

    from advcluster.solvers.flows import in_order

    rng = np.random.default_rng(threads)
    delays = rng.uniform(0, 0.004, 40)
    started = []

    def work(k):
        started.append(k)
        time.sleep(delays[k])
        return k * k

    assert list(in_order(work, range(40), threads)) == [k * k for k in range(40)]
    started.clear()
    for value in in_order(work, range(40), threads):
        if value == 25:
            break
    assert set(range(6)) <= set(started) and len(started) <= 6 + threads


@pytest.mark.parametrize("seed", range(4))
def test_the_group_by_group_programs_do_not_depend_on_the_threads(seed, monkeypatch):
    """The groups' programs on one thread or several: the same flow, bit for bit, and the same
    groups found overloaded (the stopping search included)."""
    from advcluster.solvers import flows as flows_module

    graph, labels, inner, r, T, rng = _flow_problem(seed, blobs=5)
    group = labels[graph.edges[inner, 0]]
    T = T * np.where(rng.random(int(labels.max()) + 1) < 0.4, 1.6, 1.0)[labels][:, None]
    order = rng.permutation(np.unique(group))
    out = {}
    for threads in (1, 3):
        monkeypatch.setattr(flows_module, "THREADS", threads)
        for stop in (False, True):
            flows = Flows(graph, labels, inner, r, T, np.zeros((inner.size, T.shape[1])), 1e-13)
            z = flows._most_room_by_group(order, np.zeros((inner.size, T.shape[1])), until_overloaded=stop)
            out[threads, stop] = (z, list(flows.overloaded))
    for stop in (False, True):
        assert np.array_equal(out[1, stop][0], out[3, stop][0]) and out[1, stop][1] == out[3, stop][1]


@pytest.mark.parametrize("steps", [4, 1])
def test_group_programs_run_on_regions_around_the_short_edges_first(steps, monkeypatch):
    """Groups of a few hundred points whose start flow is balanced at 30-90 % load but for two
    edges of each at 1.2, 3 or 8 times their radius (the short edges).  Each group's program
    runs on the edges near its short ones where that leaves room (the edges farther away keep
    their flow), on the whole group otherwise (its most room, as the conic reference has it);
    the flow stays balanced; a group is reported overloaded exactly when it has no flow in its
    balls.  With regions of one step (the short edges alone) the programs fall back to whole
    groups, most of which have a flow."""
    from advcluster.solvers import flows as flows_module

    monkeypatch.setattr(flows_module, "GROUP_REGION_STEPS", steps)
    regions = fallbacks = overloaded = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        d = int(rng.choice([2, 3]))
        A = rng.normal(size=(int(rng.integers(400, 700)), d)) + 50.0 * rng.integers(0, 4, 1)[:, None]
        A[: A.shape[0] // 2] += 100.0  # two groups at least
        graph = knn_graph(A, 6, 0.2)
        labels = graph.components_of(np.ones(graph.n_edges, dtype=bool))[1]
        inner = np.arange(graph.n_edges)
        r = rng.uniform(0.5, 2.0, inner.size)
        start = rng.normal(size=(inner.size, d))
        load = rng.uniform(0.3, 0.9, inner.size)
        group = labels[graph.edges[:, 0]]
        for g in range(int(labels.max()) + 1):  # two edges per group pushed over their radius
            load[rng.choice(np.flatnonzero(group == g), 2, replace=False)] = rng.choice([1.2, 3.0, 8.0])
        start *= (r * load / np.linalg.norm(start, axis=1))[:, None]
        T = graph.incidence @ start  # balanced: the divergence of the start
        short = load > 1
        flows = Flows(graph, labels, inner, r, T, start, 1e-13)
        z = flows._most_room_by_group(np.unique(group[short]), start, short=short)
        assert problem.fro(graph.incidence @ z - T) <= 1e-7 * problem.fro(T)
        near = flows._near(short, steps)
        J = graph.incidence.toarray()
        for g in np.unique(group[short]):
            edges = np.flatnonzero(group == g)
            nodes = np.flatnonzero(labels == g)
            moved = edges[np.any(z[edges] != start[edges], axis=1)]
            loads = np.linalg.norm(z[edges], axis=1) / r[edges]
            if np.all(near[moved]) and not np.all(near[edges]):  # the region's program held
                regions += 1
                assert loads.max() <= 1 - 1e-6 + 1e-9, (seed, g)
            else:  # the whole group's: its most room
                fallbacks += 1
                t_ref = _most_room_reference(J[np.ix_(nodes, edges)], T[nodes], r[edges])
                assert abs(loads.max() - t_ref) <= 1e-6 * max(1.0, t_ref), (seed, g)
                assert (int(g) in flows.overloaded) == (loads.max() >= 1), (seed, g)
                if t_ref >= 1 + 1e-6:
                    assert int(g) in flows.overloaded
                overloaded += int(g) in flows.overloaded
    if steps == 4:
        assert regions >= 10 and overloaded >= 3, (regions, fallbacks, overloaded)
    else:  # the short edges alone cannot carry the flow: whole groups, most of them with a flow
        assert regions == 0 and fallbacks - overloaded >= 10, (regions, fallbacks, overloaded)
