"""``advcluster attack``: a bilevel attack (BL1 or BL2) by any registered optimizer."""

from __future__ import annotations

import argparse
import textwrap
import warnings

import numpy as np

from .. import (
    BL1,
    BL2,
    MEASURES,
    METHODS,
    OPTIMIZERS,
    Additive,
    ConvexClusteringModel,
    FeatureShift,
    Injection,
    Multiplicative,
    Pointwise,
    attack,
)
from .args import (
    UsageError,
    add_json,
    add_model,
    bounds_range,
    check_memory,
    column_list,
    index_list,
    integer,
    job_count,
    number,
    key_value,
    model_spec,
    positive_int,
)
from ..perturbation import NORMS, matrix_norm
from .inputs import add_input, positions, read_input
from .output import json_head, print_json, warn, save_table
from .solve import choice_lines, fit, standardized

PERTURBATIONS = {"additive": Additive, "pointwise": Pointwise, "multiplicative": Multiplicative,
                 "feature-shift": FeatureShift}


def add_attack(subparsers):
    dims = {"1": "1 parameter", "1-2": "1 or 2 parameters", "any": "any parameters"}
    listing = "\n".join(
        textwrap.fill(f"{name} ({'/'.join(o.problems)}, {dims.get(o.dims, o.dims)}): {o.summary}",
                      width=88, initial_indent="  ", subsequent_indent="      ")
        for name, o in sorted(OPTIMIZERS.items())
    )
    p = subparsers.add_parser(
        "attack", help="bilevel attack (BL1 or BL2) on convex clustering of a data file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Perturb the data A by E(theta) and cluster A + E(theta) by convex clustering. "
            "BL1: the largest deviation of the clustering with ||E|| <= budget. BL2: the smallest ||E|| "
            "whose deviation reaches the target. Prints the result (for staircase, the plateaus of the "
            "deviation along theta).", width=88),
        epilog="optimizers (--optimizer NAME; their options go in --option KEY=VALUE, see each one's\n"
        "docstring in advcluster.attacks):\n" + listing + "\n\n" + textwrap.fill(
            "Exit status: 0 when the attack ran, also when it did not succeed (a BL2 whose target "
            "is not reached in the search range, a BL1 with no point within the budget): then the output "
            "says success false (FAILED in text) and a warning line goes to stderr; 2 for bad "
            "arguments or input.", width=88),
    )
    add_input(p, demo=False)
    measures = sorted(MEASURES)
    prob = p.add_argument_group("problem")
    prob.add_argument("--problem", type=str.lower, choices=("bl1", "bl2"), required=True,
                      help="bl1: most damage within --budget; bl2: least ||E|| reaching --target")
    prob.add_argument("--budget", type=number(0), metavar="B", help="bl1: ||E|| <= B")
    prob.add_argument("--target", type=number(0, strict=True), metavar="K",
                      help="bl2: the deviation to reach (in the measure's units; 1 - NMI for nmi)")
    prob.add_argument("--max-norm", type=number(0, strict=True), metavar="M",
                      help="bl2: search only ||E|| <= M (needed unless --bounds are given)")
    prob.add_argument("--deviation", choices=measures, default=None, metavar="MEASURE",
                      help=f"deviation measure: {', '.join(measures)} (default: delta, the pairs "
                      "whose co-membership changed)")
    pert = p.add_argument_group("perturbation")
    pert.add_argument("--rows", type=index_list, metavar="ROWS",
                      help="rows perturbed: comma list of 0-based indices and ranges start:stop[:step] "
                      "(stop excluded), e.g. '0:50' or '0,3,100:200:2' (default: all rows)")
    pert.add_argument("--features", type=column_list, metavar="COLS",
                      help="features perturbed: column names or 0-based indices of the data read "
                      "(after --columns) (default: all)")
    pert.add_argument("--perturbation", choices=(*PERTURBATIONS, "injection"), default=None,
                      help="additive: one eps added to every selected entry (the default with --rows); pointwise: one "
                      "parameter per entry; multiplicative: entries scaled by 1 + theta; feature-shift: one "
                      "shift per feature for all rows; injection: --points new points added (poisoning), "
                      "the deviation measured on the given rows. Default without --rows: pointwise, since one "
                      "value added to every row is a translation, which never changes a convex clustering")
    pert.add_argument("--norm", choices=(*NORMS, *Injection.ORDS), default=None,
                      help="the norm of E: fro (default), inf, l1, l0, or point (the largest distance a row "
                      "moves: every point within the budget); for injection: distance (default: the largest "
                      "distance of an injected point from the data) or count (the number of points)")
    pert.add_argument("--points", type=positive_int, metavar="K",
                      help="injection: how many points are added (inside the data's bounding box)")
    pert.add_argument("--bounds", type=bounds_range, metavar="LO,HI",
                      help="box on every parameter, LO <= 0 <= HI, e.g. --bounds -2,2 (default: none)")
    opt = p.add_argument_group("optimizer")
    opt.add_argument("--optimizer", default="auto", metavar="NAME",
                     help=f"auto (default: staircase for one parameter, merge-split for one parameter per entry, "
                     f"capture-bridge for injection, else random) or one of {', '.join(sorted(OPTIMIZERS))}; see below")
    opt.add_argument("--option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="an option of the optimizer, repeatable, e.g. --option num=641 --option rtol=1e-9 "
                     "(values read as int, float, true/false, none, a comma list of numbers, JSON, else text)")
    opt.add_argument("--random-state", type=integer(0), metavar="N", help="seed for optimizers that sample")
    opt.add_argument("--max-evals", type=positive_int, metavar="N", help="upper-level evaluation limit")
    opt.add_argument("--n-jobs", type=job_count, metavar="N",
                     help="parallel lower-level solves (joblib; -1: all cores) where the optimizer evaluates "
                     "batches; the answer does not depend on it")
    g = add_model(p)
    g.add_argument("--model", type=model_spec, default=("convex", {}), metavar="NAME[:KEY=VALUE,...]",
                   help="the clusterer attacked: convex (default; --gamma, --weights, ... set it) or a scikit-learn "
                   "clusterer by name with its parameters, e.g. kmeans:n_clusters=3, agglomerative:n_clusters=3,"
                   "linkage=ward, gmm:n_components=2, dbscan:eps=0.5, hdbscan, spectral:n_clusters=3 (seeded "
                   "ones get random_state=0)")
    g.add_argument("--method", choices=["auto", *sorted(METHODS)], default="auto",
                   help="auto (default: exact for uniform weights with one feature or p=1, else ssnal)")
    g.add_argument("--tol", type=number(0, strict=True), default=1e-6, metavar="TOL",
                   help="solver tolerance (default: 1e-6)")
    g.add_argument("--no-reweight", action="store_true",
                   help="keep the clean data's weight graph (default: rebuild it on the perturbed data)")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="HISTORY.csv", help="write every evaluation (theta, norm, value, ...) as CSV")
    out.add_argument("--cache", metavar="FILE", help="keep every lower-level answer in FILE (SQLite, created when "
                     "missing): the same command run again, after an interrupt, replays the finished solves")
    add_json(out)
    p.set_defaults(run=_run_attack)


TRANSLATION = ("one value added to every row is a translation of the data, which never changes a convex "
               "clustering")


def _perturbation(args, data):
    """The threat model of the arguments, and a sentence on how the default was chosen ('' if given)."""
    n, d = data.X.shape
    chosen = ""
    if args.perturbation is None:
        args.perturbation = "additive" if args.rows is not None else "pointwise"
        if args.rows is None:
            chosen = f"perturbation: pointwise, each entry on its own (the default without --rows: {TRANSLATION})"
    elif args.perturbation == "additive" and args.rows is None:
        warn(f"--perturbation additive without --rows: {TRANSLATION}; give --rows, or --perturbation pointwise")
    return _threat(args, n, d, data), chosen


def _threat(args, n, d, data):
    if args.perturbation == "injection":
        for given, flag in ((args.rows, "--rows"), (args.features, "--features"), (args.bounds, "--bounds")):
            if given is not None:
                raise UsageError(f"{flag} does not apply to --perturbation injection (it adds points inside the "
                                 "data's bounding box; --norm distance limits how far from the data)")
        if args.points is None:
            raise UsageError("--perturbation injection needs --points K, the number of points to add")
        if args.norm not in (None, *Injection.ORDS):
            raise UsageError(f"--norm {args.norm} does not apply to --perturbation injection; use distance or count")
        return Injection(args.points, ord=args.norm or "distance")
    if args.points is not None:
        raise UsageError("--points applies to --perturbation injection only")
    if args.norm in Injection.ORDS:
        raise UsageError(f"--norm {args.norm} applies to --perturbation injection only; use one of {', '.join(NORMS)}")
    rows = None if args.rows is None else positions(args.rows, n, None, "--rows", "rows")
    features = None
    if args.features is not None:
        features = positions(args.features, d, data.names, "--features", "columns")
    kw = dict(ord=args.norm or "fro", bounds=args.bounds)
    if args.perturbation == "feature-shift":
        if rows is not None:
            raise UsageError("--rows does not apply to --perturbation feature-shift (it shifts all rows)")
        return FeatureShift(features=features, **kw)
    return PERTURBATIONS[args.perturbation](index=rows, features=features, **kw)


def _check_attack_args(args):
    """The optimizer's options as a dict, once the problem's options are checked."""
    if args.optimizer != "auto" and args.optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {args.optimizer!r}; choose auto or one of {', '.join(sorted(OPTIMIZERS))}")
    if args.problem == "bl1":
        if args.budget is None:
            raise UsageError("--problem bl1 needs --budget B")
        for flag, value in (("--target", args.target), ("--max-norm", args.max_norm)):
            if value is not None:
                raise UsageError(f"{flag} applies to --problem bl2, not bl1")
    else:
        if args.target is None:
            raise UsageError("--problem bl2 needs --target K")
        if args.budget is not None:
            raise UsageError("--budget applies to --problem bl1, not bl2 (bl2 limits the search with --max-norm)")
    options = {}
    for key, value in args.option:
        if key in options:
            raise UsageError(f"--option {key} is given twice")
        options[key] = value
    if args.problem == "bl2" and args.bounds is None and options.get("points") is None:
        if args.max_norm is None:
            raise UsageError("--problem bl2 needs --max-norm M or --bounds LO,HI: the range of ||E|| to search")
        if args.norm == "l0":
            raise UsageError("--problem bl2 with --norm l0 needs --bounds LO,HI: --max-norm counts entries "
                             "and does not bound their size")
    return options


def _run_attack(args):
    options = _check_attack_args(args)
    data = read_input(args, demo=False)
    X, _, scale = standardized(args, data.X)
    data.X = X
    perturbation, chosen = _perturbation(args, data)
    name, params = args.model
    lines = []
    if name == "convex":
        if params:
            raise UsageError("--model convex takes its parameters from --gamma, --weights, --k, --phi, --p, "
                             f"--method and --tol, not from --model (got {', '.join(params)})")
        check_memory(args, X)
        if args.gamma is None or args.phi is None:  # chosen on the clean data, then fixed for the attack
            lines = choice_lines(args, fit(args, X))
        elif not args.no_standardize:
            lines = choice_lines(args, None)
        model = ConvexClusteringModel(args.gamma, weights=args.weights, k=args.k, phi=args.phi, p=args.p,
                                      reweight=not args.no_reweight, method=args.method, tol=args.tol)
    else:
        from ..clusterers import make_model

        try:
            model = make_model(name, **params)
        except TypeError as exc:
            raise UsageError(f"--model {name}: {exc}") from None
    if args.cache:
        model.persist(args.cache)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # the result reports failed solves
        try:
            if args.problem == "bl1":
                problem = BL1(model, data.X, perturbation, args.budget, deviation=args.deviation)
            else:
                problem = BL2(model, data.X, perturbation, args.target, deviation=args.deviation,
                              max_norm=args.max_norm)
            result = attack(problem, args.optimizer, random_state=args.random_state, max_evals=args.max_evals,
                            n_jobs=args.n_jobs, progress=None, **options)
        except TypeError as exc:  # an --option value of a type the optimizer cannot use
            raise UsageError(f"optimizer {args.optimizer!r} cannot use its options {options}: {exc}") from None
    if args.out:
        save_table(args.out, result.history_table())
    plateaus = result.extra.get("plateaus")
    if args.json:
        limits = ({"budget": problem.budget} if args.problem == "bl1"
                  else {"target": problem.target, "max_norm": problem.max_norm})
        out = {
            **json_head(data, args),
            **result.to_dict(exclude=("E", "history", "extra")),
            "options": options,
            "model": model.describe(),
            "perturbation": problem.perturbation.describe(),
            "n_params": problem.n_params,
            **limits,
            "n_replayed": model.n_replayed,
            "standardized": not args.no_standardize,
            "norm_in_data_units": (None if isinstance(perturbation, Injection) or args.no_standardize
                                   else matrix_norm(result.E * scale, perturbation.ord)),
            "clean_n_clusters": len(np.unique(problem.reference.labels)),
            "clean_labels": problem.reference.labels,
        }
        if plateaus is not None:
            out["plateaus"] = plateaus
        if "breakpoints" in result.extra:
            out["breakpoints"] = result.extra["breakpoints"]
        print_json(out)
    else:
        print(f"data: {data.source}")
        print(f"{data.X.shape[0]} samples, {data.X.shape[1]} features; {problem.n_params} parameter(s)")
        for line in lines + ([chosen] if chosen else []):
            print(line)
        if not args.no_standardize:
            own = ("" if isinstance(perturbation, Injection) else
                   f"; in the data's own units E has norm {matrix_norm(result.E * scale, perturbation.ord):.6g}")
            print(f"budgets and ||E|| are in standard deviations of the columns{own}")
        print(problem.describe())
        print(result.summary())
        if plateaus is not None:
            print(_plateau_table(plateaus, problem))
        if args.out:
            print(f"{result.n_evals} evaluations written to {args.out}")
        if args.cache:
            print(f"lower level: {model.n_solves} solve(s), {model.n_replayed} answer(s) replayed from {args.cache}")
    if not result.success:
        warn(f"the attack did not succeed: {result.message}")
    return 0


def _plateau_table(plateaus, problem):
    lines = [f"plateaus of {problem.measure} along theta ({len(plateaus)}):",
             f"  {'theta from':>14} {'theta to':>14} {'||E|| from':>12} {problem.measure:>12} "
             f"{'N_c':>6} {'clusters':>8} {'points':>6}"]
    for pl in plateaus:
        inner = 0.0 if pl.lower <= 0 <= pl.upper else min(abs(pl.lower), abs(pl.upper))
        norm = problem.perturbation.norm(inner)
        lines.append(f"  {pl.lower:14.8g} {pl.upper:14.8g} {norm:12.6g} {pl.value:12.6g} "
                     f"{pl.n_changed:6d} {pl.n_clusters:8d} {pl.n_points:6d}")
    return "\n".join(lines)
