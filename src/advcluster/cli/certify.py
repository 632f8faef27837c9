"""``advcluster certify``: Theorem 5's recovery bounds and the certified radius of a solve."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .. import certified_radius, complete_graph, knn_graph, recovery_bounds
from .args import UsageError, add_json, add_model, add_solver
from .inputs import add_input, read_input
from .output import json_head, print_json
from .solve import choice_lines, choices, fit, graph_text, standardized, warn_result

# What ``certify --json`` prints of the recovery bounds (with "failure") and of the solver's result.
_BOUNDS_KEYS = ("c1", "c1_slack", "c2", "distinct_centroids", "certified", "gamma_min", "gamma_min_pair",
                "gamma_max", "gamma_max_clusters", "coarsening_bound", "coarsening_cluster")
_RESULT_KEYS = ("method", "n_clusters", "labels", "labels_certified", "kkt_residual")


def add_certify(subparsers):
    p = subparsers.add_parser(
        "certify", help="recovery bounds and certified radius of a convex clustering",
        description="Solve convex clustering, then check the recovery conditions of Sun, Toh & Yuan "
        "(2021, Theorem 5) for the partition found: the range [gamma_min, gamma_max) of gamma that is "
        "guaranteed to recover it. With --radius, also a certified radius r (Zheng & Li 2025, Theorem 2, "
        "or a certificate from the clusters' flows, whichever is larger): no perturbation E whose rows "
        "all have ||e_i||_2 <= r (in particular, none with ||E||_F <= r) changes the clustering. The "
        "conditions are sufficient, not necessary: a partition that is not certified may still be stable.",
    )
    add_input(p)
    g = add_model(p)
    g.add_argument("--no-reweight", action="store_true",
                   help="--radius: the weights stay those of the clean data (default: Gaussian weights "
                   "recomputed on the perturbed data, as the attack's pipeline does; uniform weights "
                   "never change)")
    add_solver(p)
    out = p.add_argument_group("output")
    out.add_argument("--radius", action="store_true",
                     help="also compute the certified radius (rows of E within an l2 ball)")
    out.add_argument("--certificate", choices=("theorem2", "flow", "best"), default="best",
                     help="--radius: Theorem 2's conditions, the clusters' flows (l2 balls, --p 2, uniform, "
                     "fixed or complete weights), or the larger of the two (default)")
    add_json(out)
    p.set_defaults(run=_run_certify)


def _radius_weights(args, graph):
    if args.no_reweight or args.weights == "uniform":
        return graph, "fixed"
    if args.weights == "knn":
        return functools.partial(knn_graph, k=args.k, phi=args.phi), "recomputed"
    return functools.partial(complete_graph, phi=args.phi), "recomputed"


def _radius_meaning(r, gamma):
    if r.radius == 0:
        if r.binding == "clean":
            return "no perturbation is certified: the recovery conditions do not hold for the clean clustering"
        return f"no perturbation is certified: {r.reason.rstrip('.')}"
    if math.isinf(r.radius):
        return f"no perturbation of any size changes the clustering at gamma = {gamma:g} ({r.reason})"
    op = "<=" if r.attained else "<"
    return (f"no perturbation E with ||e_i||_2 {op} {r.radius:.6g} for every row (in particular none with "
            f"||E||_F {op} {r.radius:.6g}) changes the clustering at gamma = {gamma:g}")


def _run_certify(args):
    data = read_input(args)
    X, _, scale = standardized(args, data.X)
    model = fit(args, X)
    res = model.result_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        bounds = recovery_bounds(X, res.labels, model.graph_, p=args.p)
        recovers = bounds.recovers(args.gamma)
        radius = None
        if args.radius:
            weights, mode = _radius_weights(args, model.graph_)
            if args.certificate == "flow" and (args.p != 2 or (mode == "recomputed" and args.weights == "knn")):
                raise UsageError("--certificate flow needs --p 2 and weights that are uniform, fixed "
                                 "(--no-reweight) or complete; use --certificate theorem2 or best")
            radius = certified_radius(X, res.labels, weights, args.gamma, p=args.p, method=args.certificate)
    verdict = (f"Theorem 5 certifies that gamma = {args.gamma:g} recovers this partition" if recovers
               else f"Theorem 5 does not certify gamma = {args.gamma:g} for this partition: "
               + bounds.why_not(args.gamma))
    if args.json:
        out = {
            **json_head(data, args),
            "gamma": args.gamma,
            **choices(args, model),
            "p": args.p,
            **res.to_dict(*_RESULT_KEYS),
            "sizes": np.bincount(res.labels),
            "solver_success": res.success,
            "solver_message": res.message,
            "recovers": recovers,
            "verdict": verdict,
            "bounds": {**bounds.to_dict(*_BOUNDS_KEYS), "failure": bounds.failure()},
            "hint": _hint(bounds, args, X.shape[0], recovers),
        }
        if radius is not None:  # less radius.bounds: Theorem 5 again
            out["radius"] = {**radius.to_dict(exclude=("bounds",)), "meaning": _radius_meaning(radius, args.gamma)}
        print_json(out)
    else:
        print(f"data: {data.source}")
        print(f"{X.shape[0]} samples, {X.shape[1]} features; weights {graph_text(args)}, "
              f"{model.graph_.n_edges} edges; gamma = {args.gamma:g}, p = {args.p}")
        for line in choice_lines(args, model):
            print(line)
        sizes = ", ".join(map(str, np.bincount(res.labels)[:20])) + (", ..." if res.n_clusters > 20 else "")
        print(f"clusters: {res.n_clusters} (sizes {sizes}); solver {res.method}, "
              f"{'converged' if res.success else 'NOT CONVERGED'}, KKT residual {res.kkt_residual:.2e}")
        print(res.partition_line())
        print(bounds)
        print(verdict if recovers or bounds.c1 else
              f"Theorem 5 does not certify gamma = {args.gamma:g} for this partition: (C1) fails (above)")
        if radius is not None:
            if radius.radius == 0 and radius.binding == "clean" and args.certificate != "flow":  # said above
                print(f"Certified radius 0 (ball, weights {mode}): Theorem 5 does not certify the clean "
                      "clustering (above).")
            else:
                print(radius)
                print(f"meaning: {_radius_meaning(radius, args.gamma)} (weights {mode}).")
                if not args.no_standardize and 0 < radius.radius < math.inf:
                    print(f"in the data's own units: the radius is in standard deviations, so every row may move "
                          f"by {radius.radius * scale.min():.6g} in any direction (the smallest column's standard "
                          f"deviation, {scale.min():.4g}, times the radius) without changing the clustering")
        hint = _hint(bounds, args, X.shape[0], recovers)
        if hint:
            print(f"hint: {hint}")
    warn_result(res)
    return 0


def _hint(bounds, args, n, recovers):
    """What would give a certificate (and a positive radius), where the conditions fail."""
    if recovers:
        return ""
    if not bounds.c1:
        if args.weights == "knn":
            return ("(C1) needs a positive weight on every pair inside a cluster, and a kNN graph has edges "
                    f"between near neighbours only; --weights complete (Gaussian weights on all {n * (n - 1) // 2:,} "
                    "pairs) or --weights uniform can meet it where the clusters are well separated")
        return ("(C1) fails: some pairs inside a cluster have weight 0 (with --weights complete, a smaller --phi "
                "keeps far pairs' weights above 0)")
    if bounds.gamma_min < bounds.gamma_max:
        return (f"this partition is certified for gamma in [{bounds.gamma_min:.6g}, {bounds.gamma_max:.6g}); "
                "choose --gamma there")
    return ("no gamma meets both bounds for this partition (gamma_min >= gamma_max): its clusters are not "
            "separated enough for Theorem 5")
