"""The experiments of the paper's Section 6: each a function ``(setups, quick, data_dir) -> Outcome``.

``setups`` maps each data set the experiment runs on to its :class:`Setup` (the figures run on
one, Table 1 on several). Every experiment returns one tidy table (column -> list), the
parameters it used, its qualitative claims checked on that table (statement, passed, detail)
and the data sets it had to skip. Plots read the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..attacks import BL1, BL2, attack
from ..deviation import nmi, rand_deviation
from ..models import ConvexClusteringModel
from ..perturbation import Additive
from .setups import SETUPS, Setup, load_setup

# Table 1 of the paper (MATLAB R2023a, Apple M3): (eps*, delta, N_c, seconds).
PAPER_TABLE1 = {
    ("iris", "direct"): (-6.45, 4974, 52, 12.90),
    ("iris", "trust-constr"): (-7.97, 4470, 40, 2.202),
    ("seeds", "direct"): (0.95, 5750, 25, 16.49),
    ("seeds", "trust-constr"): (1.985, 4752, 75, 4.815),
    ("wine", "direct"): (-0.154, 7422, 115, 13.51),
    ("wine", "trust-constr"): (0.0387, 7316, 116, 4.562),
}
PAPER_K = {"iris": 2, "seeds": 2, "wine": 3}
BL2_TARGETS = (500, 1200, 2500, 4000)  # the paper's kappa = 1200, and three more levels
TRUST_CONSTR_X0 = 1.0


@dataclass
class Outcome:
    table: dict
    params: dict
    claims: list = field(default_factory=list)  # (statement, passed, detail)
    skipped: list = field(default_factory=list)  # "name: why" for each data set not run


def _one(setups) -> Setup:
    """The one setting of a single-data-set experiment."""
    if isinstance(setups, Setup):
        return setups
    if len(setups) != 1:
        raise ValueError(f"this experiment runs on one data set, got {sorted(setups)}.")
    return next(iter(setups.values()))


class _Attack:
    """The model, data and perturbation of one setting; a fresh model per instance."""

    def __init__(self, setup: Setup, data_dir=None):
        self.setup = setup
        self.A, self.y, self.index, self.feature = load_setup(setup, data_dir)
        self.n = self.A.shape[0]
        self.model = ConvexClusteringModel(setup.gamma, weights=setup.weights)
        self.pert = Additive(self.index, [0], ord="inf")  # ||E||_inf = |eps|
        self.budget = max(abs(setup.eps_low), abs(setup.eps_high))
        self.clean = self.bl1().reference.labels  # the clean clustering, solved once

    def grid(self, num=None, low=None, high=None):
        low = self.setup.eps_low if low is None else low
        high = self.setup.eps_high if high is None else high
        return np.linspace(low, high, num or self.setup.num)

    def bl1(self, budget=None):
        return BL1(self.model, self.A, self.pert, self.budget if budget is None else budget)

    def sweep(self, points):
        """Grid evaluations sorted by eps (the paper's direct method over the range)."""
        res = attack(self.bl1(float(np.max(np.abs(points)))), "grid", points=points)
        return sorted(res.history, key=lambda e: e.theta[0]), res

    def params(self, **extra):
        out = dict(self.setup.as_dict())
        out.update(n=self.n, feature_name=self.feature, perturbed_rows=int(self.index.size),
                   clean_clusters=int(self.clean.max() + 1))
        out.update(extra)
        return out


def _rows(evaluations, **constant):
    rows = {k: [] for k in (*constant, "eps", "delta", "n_changed", "n_clusters")}
    for e in evaluations:
        for k, v in constant.items():
            rows[k].append(v)
        rows["eps"].append(float(e.theta[0]))
        rows["delta"].append(int(e.value))
        rows["n_changed"].append(int(e.n_changed))
        rows["n_clusters"].append(int(e.n_clusters))
    return rows


def _interval_around_zero(plateaus):
    zero = next(p for p in plateaus if p.lower <= 0.0 <= p.upper)
    return zero.lower, zero.upper, zero.value


def robustness(setups=SETUPS["iris"], quick=False, data_dir=None) -> Outcome:
    """Fig. 4: near eps = 0 nothing changes (N_c = 0, delta = 0) on an interval, found exactly."""
    run = _Attack(_one(setups), data_dir)
    points = run.grid(41 if quick else 201, -1.0, 1.0)
    evs, _ = run.sweep(points)
    stair = attack(run.bl1(1.0), "staircase", points=points)
    lo, hi, value = _interval_around_zero(stair.extra["plateaus"])
    table = _rows(evs)
    eps = np.array(table["eps"])
    inside = (eps >= lo) & (eps <= hi)
    zero_ok = bool(value == 0 and lo < 0 < hi and np.all(np.array(table["n_changed"])[inside] == 0))
    claims = [
        (f"N_c = 0 and delta = 0 on an interval around eps = 0: [{lo:.6g}, {hi:.6g}] (exact to 1e-8)", zero_ok,
         f"{int(inside.sum())} grid points inside, all unchanged"),
        ("outside that interval the clustering changes within [-1, 1]",
         bool(np.any(np.array(table["delta"])[~inside] > 0)), f"max delta {max(table['delta'])}"),
    ]
    return Outcome(table, run.params(eps_low=-1.0, eps_high=1.0, num=len(points), robust_interval=[lo, hi]), claims)


def staircase(setups=SETUPS["iris"], quick=False, data_dir=None) -> Outcome:
    """Fig. 5: N_c and delta are staircases in eps: the grid, and the exact plateaus beside it."""
    run = _Attack(_one(setups), data_dir)
    points = run.grid(81 if quick else None)
    evs, _ = run.sweep(points)
    stair = attack(run.bl1(), "staircase", points=points)
    table = _rows(evs, source="grid", plateau=-1)
    for k, p in enumerate(stair.extra["plateaus"]):
        for eps in (p.lower, p.upper):
            for col, v in (("source", "staircase"), ("plateau", k), ("eps", eps), ("delta", int(p.value)),
                           ("n_changed", p.n_changed), ("n_clusters", p.n_clusters)):
                table[col].append(v)
    plateaus, brackets, xtol = stair.extra["plateaus"], np.asarray(stair.extra["breakpoints"]), stair.extra["xtol"]
    claims = [
        (f"the deviation is piecewise constant: {len(plateaus)} plateaus, {len(brackets)} breakpoints "
         f"located to {xtol:.1g}",
         len(plateaus) == len(brackets) + 1 and bool(np.all(brackets[:, 1] - brackets[:, 0] <= xtol * (1 + 1e-12)))
         and all(p.certified for p in plateaus),
         "one more plateau than breakpoints, every bracket within xtol, every plateau's labels proven"),
        ("every grid value of delta is the value of an exact plateau",
         set(int(e.value) for e in evs) <= {int(p.value) for p in stair.extra["plateaus"]}, ""),
    ]
    return Outcome(table, run.params(num=len(points), plateaus=len(stair.extra["plateaus"]),
                                     staircase_evaluations=stair.n_evals), claims)


def _one_way_moves(clean, labels) -> int:
    """``m`` when ``labels`` are the clean two clusters with ``m > 0`` points moved one way, else 0."""
    if clean.max() != 1 or labels.max() != 1:
        return 0
    T = np.zeros((2, 2), dtype=int)
    np.add.at(T, (clean, labels), 1)
    moves = (T[0, 1], T[1, 0]) if T[0, 0] + T[1, 1] >= T[0, 1] + T[1, 0] else (T[0, 0], T[1, 1])
    return int(max(moves)) if min(moves) == 0 else 0


def bilevel(setups=SETUPS["iris"], quick=False, data_dir=None) -> Outcome:
    """Fig. 6: BL1 (most damage within a budget) and BL2 (least |eps| reaching kappa = 1200)."""
    run = _Attack(_one(setups), data_dir)
    points = run.grid(81 if quick else None)
    grid_evs, _ = run.sweep(points)
    stair = attack(run.bl1(), "staircase", points=points)
    budgets = np.linspace(0, run.budget, 9 if quick else 33)
    table = {k: [] for k in ("problem", "method", "level", "eps", "norm", "delta", "n_changed", "feasible")}

    def add(problem, method, level, theta=None, norm=math.nan, value=-1, n_changed=-1, feasible=False):
        """One answer; an infeasible one (BL2's target not reached) keeps NaN and -1 placeholders."""
        for col, v in (("problem", problem), ("method", method), ("level", float(level)),
                       ("eps", math.nan if theta is None else float(theta[0])), ("norm", norm),
                       ("delta", int(value)), ("n_changed", n_changed), ("feasible", feasible)):
            table[col].append(v)

    for method, evs in (("grid", grid_evs), ("staircase", stair.history)):
        for b in budgets:
            best = None
            for e in evs:
                if e.norm <= b * (1 + 1e-12) and (best is None or (e.value, -e.norm) > (best.value, -best.norm)):
                    best = e
            add("BL1", method, b, best.theta, best.norm, best.value, best.n_changed, True)
    targets = BL2_TARGETS[1:2] if quick else BL2_TARGETS
    bl2 = {}
    for kappa in targets:
        for method in ("grid", "staircase"):
            res = attack(BL2(run.model, run.A, run.pert, kappa, max_norm=run.budget), method, points=points)
            bl2[(kappa, method)] = res
            if res.feasible:
                add("BL2", method, kappa, res.theta, res.norm, res.deviation, res.n_changed, True)
            else:
                add("BL2", method, kappa)
    stair_b = np.array(table["delta"])[[i for i, (p, m) in enumerate(zip(table["problem"], table["method"]))
                                        if p == "BL1" and m == "staircase"]]
    grid_b = np.array(table["delta"])[[i for i, (p, m) in enumerate(zip(table["problem"], table["method"]))
                                       if p == "BL1" and m == "grid"]]
    k1200 = bl2.get((1200, "staircase"))
    claims = [
        ("BL1's best delta never decreases as the budget grows", bool(np.all(np.diff(stair_b) >= 0)), ""),
        ("the exact staircase is never worse than the grid", bool(np.all(stair_b >= grid_b)),
         f"larger at {int(np.sum(stair_b > grid_b))} of {len(budgets)} budgets"),
    ]
    if k1200 is not None:
        g = bl2[(1200, "grid")]
        claims.append((f"BL2 with kappa = 1200: smallest |eps| = {k1200.norm:.8g} (exact), grid {g.norm:.4g}",
                       bool(k1200.success and (not g.feasible or k1200.norm <= g.norm + 1e-12)),
                       f"delta {k1200.deviation:g}, N_c {k1200.n_changed}"))
    return Outcome(table, run.params(num=len(points), budgets=len(budgets), bl2_targets=list(targets)), claims)


def _similarity_rows(setups, quick, data_dir):
    run = _Attack(_one(setups), data_dir)
    points = run.grid(161 if quick else None)
    evs, res = run.sweep(points)
    clean = run.clean
    rows = _rows(evs)
    rows["rand_index"] = [1.0 - rand_deviation(clean, e.labels) for e in evs]
    rows["ri_deviation"] = [rand_deviation(clean, e.labels) for e in evs]
    rows["nmi"] = [nmi(clean, e.labels) for e in evs]
    rows["moved_one_way"] = [_one_way_moves(clean, e.labels) for e in evs]
    return run, rows


def similarity(setups=SETUPS["iris"], quick=False, data_dir=None) -> Outcome:
    """Fig. 7: the Rand index and NMI against eps; NMI falls to 0 where everything fuses, then recovers."""
    run, t = _similarity_rows(setups, quick, data_dir)
    n = run.n
    eps, nm, k = np.array(t["eps"]), np.array(t["nmi"]), np.array(t["n_clusters"])
    m_all, d_all = np.array(t["moved_one_way"]), np.array(t["delta"])
    moved = m_all > 0
    fused = k == 1
    after = eps > (eps[fused].max() if fused.any() else np.inf)
    claims = [
        ("1 - RI = delta / (n (n - 1)) on every row",
         all(abs(r - d / (n * (n - 1))) <= 1e-12 for r, d in zip(t["ri_deviation"], t["delta"])), ""),
        ("NMI = 0 where everything fuses into one cluster",
         bool(fused.any() and np.all(nm[fused] == 0)),
         f"fused for eps in [{eps[fused].min():.3g}, {eps[fused].max():.3g}]" if fused.any() else "never fused"),
        ("NMI jumps back above 0 after the fused interval", bool(np.any(nm[after] > 0)), ""),
        ("where exactly m points move between the two clusters, delta = 2 m (n - m)",
         bool(moved.any() and all(d == 2 * m * (n - m) for m, d in zip(m_all[moved], d_all[moved]))),
         f"{int(moved.sum())} rows: " + ", ".join(sorted({f"m = {m}: delta = {d}" for m, d in zip(m_all[moved], d_all[moved])}))),
    ]
    return Outcome(t, run.params(num=len(eps)), claims)


def overlay(setups=SETUPS["iris"], quick=False, data_dir=None) -> Outcome:
    """Fig. 8: every measure normalised to [0, 1] on one axis: delta / n(n-1), 1 - RI, 1 - NMI, N_c / n."""
    run, t = _similarity_rows(setups, quick, data_dir)
    n = run.n
    table = {"eps": [], "measure": [], "value": []}
    series = {
        "delta / n(n-1)": [d / (n * (n - 1)) for d in t["delta"]],
        "1 - RI": t["ri_deviation"],
        "1 - NMI": [1.0 - v for v in t["nmi"]],
        "N_c / n": [c / n for c in t["n_changed"]],
    }
    for name, values in series.items():
        table["eps"] += list(t["eps"])
        table["measure"] += [name] * len(values)
        table["value"] += [float(v) for v in values]
    same = np.allclose(series["delta / n(n-1)"], series["1 - RI"], rtol=0, atol=1e-12)
    claims = [("delta / n(n-1) and 1 - RI coincide (the curves overlap)", bool(same), ""),
              ("every normalised measure lies in [0, 1]", all(0 <= v <= 1 for v in table["value"]), "")]
    return Outcome(table, run.params(num=len(t["eps"])), claims)


def table1(setups=SETUPS, quick=False, data_dir=None) -> Outcome:
    """Table 1: the direct method (grid) against trust-constr (fmincon's stand-in), and the exact staircase."""
    from ..datasets import DatasetNotFoundError

    cols = ("dataset", "method", "n", "K", "clusters", "eps", "delta", "n_changed", "time", "n_evals",
            "paper_eps", "paper_delta", "paper_n_changed", "paper_time")
    table = {c: [] for c in cols}
    claims, skipped = [], []
    for name, setup in setups.items():
        try:
            run = _Attack(setup, data_dir)
        except DatasetNotFoundError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        points = run.grid(81 if quick else None)
        results = {
            "direct": attack(run.bl1(), "grid", points=points),
            "trust-constr": attack(BL1(ConvexClusteringModel(setup.gamma, weights=setup.weights), run.A, run.pert,
                                       run.budget), "trust-constr", x0=[TRUST_CONSTR_X0]),
            "staircase": attack(run.bl1(), "staircase", points=points, rtol=1e-5 if quick else 1e-8),
        }
        for method, r in results.items():
            paper = PAPER_TABLE1.get((name, method), (math.nan,) * 4)
            row = (name, method, run.n, PAPER_K[name], int(run.clean.max() + 1),
                   float(r.theta[0]), int(r.deviation), r.n_changed, r.time, r.n_evals, *paper)
            for c, v in zip(cols, row):
                table[c].append(v)
        d, t = results["direct"], results["trust-constr"]
        claims.append((f"{name}: the grid's delta ({d.deviation:g}) is at least trust-constr's ({t.deviation:g})",
                       bool(d.deviation >= t.deviation), f"trust-constr: {t.message}"))
    return Outcome(table, {"setups": {k: s.as_dict() for k, s in setups.items()},
                           "trust_constr_x0": TRUST_CONSTR_X0, "grid_points": 81 if quick else SETUPS["iris"].num,
                           "staircase_rtol": 1e-5 if quick else 1e-8}, claims, skipped)
