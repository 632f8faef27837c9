"""Named, reproducible experiments: the paper's Section 6 (Figures 4-8, Table 1) and :func:`reproduce`.

Each experiment is a spec in :data:`EXPERIMENTS`; :func:`run_experiment` runs one and writes
its tidy CSV, its figures (PNG and SVG) and a JSON record of every parameter, the package
version and the checked claims. :func:`reproduce` runs them all and writes ``report.md`` and
a self-contained ``report.html``.

An interrupted run resumes: each data set's finished experiments are kept in the output
folder (``.advcluster-runs.sqlite``) as they finish, and a rerun with the same settings replays
them (their figures must still be there) and computes only the rest. The file is deleted when a
run completes, so a later run computes everything afresh.
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .._records import plain
from ..io import atomic_write, run_folder, write_table
from . import section6
from .setups import SETUPS, UNIFORM_SETUPS, Setup, load_setup, setup_for

RUNS_FILE = ".advcluster-runs.sqlite"  # what an interrupted run finished, per data set (resumed)

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentOutput", "Report", "SETUPS", "UNIFORM_SETUPS", "Setup",
           "check_settings", "load_setup", "reproduce", "run_experiment", "setup_for"]


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run(setups, quick, data_dir) -> Outcome`` on the data sets ``datasets``,
    each in its :data:`SETUPS` setting changed by ``setting`` (what this experiment does
    differently, stated in its record) and, with ``quick``, by ``quick_setting`` (coarser grids);
    what the user sets overrides both."""

    name: str
    title: str
    run: Callable
    text: str
    datasets: tuple = tuple(SETUPS)
    setting: dict = field(default_factory=dict)
    quick_setting: dict = field(default_factory=dict)
    columns: tuple = ()  # the table's columns the report shows (default: all; the CSV has every one)

    def setups(self, quick=False, **settings) -> dict:
        """The setting of each data set, checked (a bad value is a ValueError, before any work)."""
        if "dataset" in settings:
            raise ValueError("dataset cannot be set: each experiment runs on its own data sets "
                             f"({', '.join(self.datasets)}).")
        base = {**self.setting, **(self.quick_setting if quick else {})}
        setups = {}
        for k in self.datasets:
            try:
                setups[k] = setup_for(k, **{**base, **settings})
            except ValueError as exc:
                raise ValueError(f"{self.name} on {k}: {exc}") from None
        return setups


EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment("fig4", "Fig. 4: robustness near eps = 0", section6.robustness,
                   "The deviation (delta and N_c) for eps in [-1, 1] on each data set. Convex clustering is robust "
                   "to small perturbations: nothing changes on an interval around 0. The exact staircase gives "
                   "the interval's ends to 1e-8 of the range instead of the grid's spacing, and the first "
                   "change beyond them (the paper's is N_c = 6, delta = 1128 on Iris).",
                   setting={"eps_low": -1.0, "eps_high": 1.0, "num": 201}, quick_setting={"num": 41}),
        Experiment("fig5", "Fig. 5: the staircase", section6.staircase,
                   "Over the paper's range [-8, 8]: delta and N_c are piecewise constant in eps. Dots: the "
                   "paper's grid of 321 values; segments: the exact plateaus, every breakpoint between grid "
                   "points bisected to 1e-8 of the range. With weights rebuilt from the perturbed data, a change "
                   "that undoes itself between two grid points is not seen. The paper's readings of the "
                   "staircase (delta grows with |eps|; delta jumps when N_c jumps) are checked on the plateaus."),
        Experiment("fig6", "Fig. 6: BL1 and BL2", section6.bilevel,
                   "BL1: the largest delta reachable with |eps| <= budget, for budgets from 0 to 8. BL2: the "
                   "smallest |eps| whose delta reaches kappa, for every level the staircase reaches (the paper's "
                   "kappa = 1200 among them). Both by the grid and by the exact staircase."),
        Experiment("fig7", "Fig. 7: Rand index and NMI", section6.similarity,
                   "The Rand index and NMI of each perturbed clustering against the clean one, in the setting of "
                   "Figs. 4-6 (the paper says the figures share it). The paper: the Rand index falls as points "
                   "move; NMI drops to 0 where the perturbed points pull everything into one cluster, and jumps "
                   "back when they pass through and separate again."),
        Experiment("fig8", "Fig. 8: all measures on one axis", section6.overlay,
                   "The same sweep as Fig. 7 with each measure normalised to [0, 1]: delta / n(n-1) and 1 - RI "
                   "coincide exactly (1 - RI = delta / n(n-1)); 1 - NMI and N_c / n tell the same story with "
                   "different emphasis."),
        Experiment("table1", "Table 1: direct method against trust-constr", section6.table1,
                   "The direct method (the paper's grid of 321 values of eps) against trust-constr with "
                   "forward-difference gradients (the stand-in for MATLAB fmincon's interior point method, "
                   "started at eps = 1), and the exact staircase beside both; each timed on a fresh model. For "
                   "every number of the paper: ours, the deviation at the paper's own eps*, and a verdict per "
                   "cell (same / differs, with the reason where it is known). Times are not compared across "
                   "machines.",
                   columns=("dataset", "method", "clusters", "eps", "delta", "n_changed", "time", "paper_eps",
                            "paper_delta", "paper_n_changed", "delta_at_paper_eps", "n_changed_at_paper_eps",
                            "verdict", "reason")),
    )
}
"""The experiments by name."""


def check_settings(settings, only=None, quick=False) -> dict:
    """Every setting the experiments ``only`` (default: all) will run, checked before any work:
    ``{experiment: {dataset: Setup}}``; a bad name or value is a ValueError."""
    names = list(EXPERIMENTS) if only is None else list(only)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)}.")
    return {n: EXPERIMENTS[n].setups(quick, **dict(settings or {})) for n in names}


@dataclass
class ExperimentOutput:
    name: str
    title: str
    text: str
    table: dict
    params: dict
    claims: list
    time: float
    csv: Path | None = None
    figures: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.claims)


def _version():
    from .. import __version__

    return __version__


def run_experiment(name, out=None, quick=False, data_dir=None, n_jobs=1, **settings) -> ExperimentOutput:
    """Run one experiment; with ``out``, write ``name.csv``, ``name.json`` and its figures
    (``name_dataset.png``, and ``.svg`` unless ``quick``) there.

    ``settings`` override the experiment's setting on every data set it runs on (any field of
    :class:`Setup` but ``dataset``; ``weights="uniform"`` selects :data:`UNIFORM_SETUPS`).
    ``n_jobs``: data sets run in parallel processes (joblib).
    """
    return _execute(check_settings(settings, [name], quick), out, quick, data_dir, n_jobs)[0]


def _execute(setups, out, quick, data_dir, n_jobs=1, progress=False) -> list[ExperimentOutput]:
    """The experiments of ``setups`` (:func:`check_settings`'s answer) on every data set, one
    process per data set (its experiments run in order and share its runs), merged into one
    output per experiment and written to ``out``."""
    names = list(setups)
    by_dataset = {}  # dataset -> {experiment: Setup}, experiments in order
    for name in names:
        for dataset, setup in setups[name].items():
            by_dataset.setdefault(dataset, {})[name] = setup
    parts, memo, keys = {}, None, {}
    if out is not None:
        from ..sweep.store import Memo

        Path(out).mkdir(parents=True, exist_ok=True)
        memo = Memo(Path(out) / RUNS_FILE)
        for d in by_dataset:  # what an interrupted run finished: replayed, if its figures are still there
            keys[d] = _job_key(d, by_dataset[d], quick, data_dir)
            hit = memo.get(keys[d])
            if hit is not None and all(Path(f).is_file() for r in hit.values() for f in r[2]):
                parts[d] = hit
                if progress:
                    print(f"[{d}] finished by an interrupted run: replayed", file=sys.stderr, flush=True)
    # The largest data set first, so that it does not start last on a busy worker.
    jobs = [(d, by_dataset[d], quick, None if data_dir is None else str(data_dir), out)
            for d in sorted(by_dataset, key=lambda d: -max(s.rows for s in by_dataset[d].values())) if d not in parts]
    from ..sweep.backends import unordered

    try:
        for _, (dataset, results) in unordered(_on_dataset, jobs, workers=n_jobs):
            parts[dataset] = results
            if memo is not None:
                memo.put(keys[dataset], results)
            if progress:
                print(f"[{dataset}] " + ", ".join(f"{name} {r[1]:.1f} s" for name, r in results.items()),
                      file=sys.stderr, flush=True)
    finally:
        if memo is not None:
            memo.close()
    outputs = []
    for name in names:
        exp = EXPERIMENTS[name]
        o = ExperimentOutput(name, exp.title, exp.text, {}, {}, [], 0.0)
        for dataset in exp.datasets:
            outcome, seconds, figures, notes = parts[dataset][name]
            for col, values in outcome.table.items():
                o.table.setdefault(col, []).extend(values)
            o.params.update(outcome.params)
            o.claims += outcome.claims
            o.time += seconds
            o.figures += figures
            o.notes += [f"skipped {n}" for n in outcome.skipped] + notes
        if out is not None:
            _write(o, Path(out), quick)
        outputs.append(o)
    if out is not None:  # complete: a later run computes afresh
        for suffix in ("", "-wal", "-shm"):
            Path(f"{Path(out) / RUNS_FILE}{suffix}").unlink(missing_ok=True)
    return outputs


def _job_key(dataset, setups, quick, data_dir) -> str:
    """What one data set's experiments compute: their settings, the data's bytes, the version."""
    import hashlib

    from ..datasets import load_dataset

    data = load_dataset(dataset, data_dir=data_dir).data
    spec = dict(dataset=dataset, setups={n: s.as_dict() for n, s in setups.items()}, quick=quick,
                data=hashlib.sha256(data.tobytes()).hexdigest(), version=_version())
    return hashlib.sha256(json.dumps(plain(spec), sort_keys=True).encode()).hexdigest()


def _on_dataset(dataset, setups, quick, data_dir, out):
    """``(dataset, {experiment: (Outcome, seconds, figures, notes)})``: the experiments of
    ``setups`` (experiment -> its Setup on ``dataset``), in order, each with its figure written
    to ``out``."""
    section6.forget_runs()  # shared within this call only: no answers or times from an earlier one
    results = {}
    for name, setup in setups.items():
        t0 = time.perf_counter()
        outcome = EXPERIMENTS[name].run({dataset: setup}, quick=quick, data_dir=data_dir)
        seconds = time.perf_counter() - t0
        figures, notes = _figure(name, outcome, dataset, out, svg=not quick) if out is not None else ([], [])
        results[name] = (outcome, seconds, figures, notes)
    return dataset, results


def _write(o: ExperimentOutput, out: Path, quick: bool):
    """``name.csv`` and the JSON record of every parameter, claim and note."""
    o.csv = write_table(o.table, out / f"{o.name}.csv") if o.table else None
    record = dict(experiment=o.name, title=o.title, advcluster=_version(), quick=quick, params=o.params,
                  claims=[dict(statement=s, passed=ok, detail=d) for s, ok, d in o.claims],
                  notes=o.notes, seconds=o.time)
    with atomic_write(out / f"{o.name}.json") as fh:
        json.dump(plain(record), fh, indent=2, allow_nan=False)


def _figure(name, outcome, dataset, out, svg=True):
    """``(paths, notes)``: the experiment's figure for one data set (PNG, and SVG unless quick)."""
    try:
        from .. import plotting
    except ImportError as exc:  # pragma: no cover - matplotlib missing
        return [], [f"no figures: {exc}"]
    plot = plotting.FIGURES.get(name)
    if plot is None or not outcome.table:
        return [], []
    table = {c: v for c, v in outcome.table.items() if c != "dataset"}
    try:
        fig = plot(table, dataset=dataset.capitalize(), params=outcome.params.get(dataset, {}))
    except ImportError as exc:
        return [], [f"no figures: {exc}"]
    return plotting.save_figure(fig, Path(out) / f"{name}_{dataset}", svg=svg), []


def _settings_section(settings):
    """The report's first section: the settings the paper left open, and why these."""
    from . import setups

    used = {k: setup_for(k, **settings).as_dict() for k in SETUPS}
    return dict(name="settings", title="Settings and why", text=setups.RATIONALE.strip(), claims=[], figures=[],
                params=used)


@dataclass
class Report:
    """What :func:`reproduce` did: the outputs, where the report is, how long it took."""

    outputs: list
    out: Path
    markdown: Path | None
    html: Path | None
    time: float
    skipped: list
    removed: list = field(default_factory=list)  # files of an earlier run in ``out``, deleted
    foreign: list = field(default_factory=list)  # files in ``out`` no run wrote, kept
    took_over: str = ""  # the lock of a run that was gone, taken over

    def table1_text(self) -> str:
        t1 = next((o for o in self.outputs if o.name == "table1"), None)
        if t1 is None or not t1.table:
            return ""
        t = t1.table
        lines = ["Table 1 (advcluster | paper | verdict); K: the paper's clusters, clean: clusters of the "
                 "unperturbed data here",
                 f"{'data':6} {'method':12} {'K':>2} {'clean':>5} {'eps*':>9} {'delta':>6} {'N_c':>4} {'time s':>7}"
                 f" | {'eps*':>7} {'delta':>6} {'N_c':>4} {'time s':>7} | verdict"]
        for i in range(len(t["dataset"])):
            pe, pd, pn, pt = (t[c][i] for c in ("paper_eps", "paper_delta", "paper_n_changed", "paper_time"))
            paper = f"{'':>7} {'':>6} {'':>4} {'':>7}" if math.isnan(pe) else f"{pe:>7.4g} {pd:>6} {pn:>4} {pt:>7.4g}"
            verdict = t["verdict"][i]
            if verdict.startswith("differs; at the paper's eps*"):
                verdict = "differs (its delta, N_c at the paper's eps*)"
            lines.append(f"{t['dataset'][i]:6} {t['method'][i]:12} {t['K'][i]:>2} {t['clusters'][i]:>5} "
                         f"{t['eps'][i]:>9.6g} {t['delta'][i]:>6} {t['n_changed'][i]:>4} {t['time'][i]:>7.2f}"
                         f" | {paper} | {verdict}")
        return "\n".join(lines)

    def summary(self) -> str:
        claims = [c for o in self.outputs for c in o.claims]
        passed = sum(ok for _, ok, _ in claims)
        lines = [self.table1_text(), ""] if self.table1_text() else []
        lines += [f"Of the {len(claims)} claims checked, {passed} hold and {len(claims) - passed} fail:"]
        lines += [f"  fails: {s} ({d})" for o in self.outputs for s, ok, d in o.claims if not ok]
        lines += [f"  note: {s}" for s in self.skipped]
        if self.removed:
            lines.append(f"Removed {len(self.removed)} file(s) an earlier run left in {self.out}: "
                         + ", ".join(self.removed))
        if self.foreign:
            lines.append(f"Kept {len(self.foreign)} file(s) in {self.out} that no run wrote: " + ", ".join(self.foreign))
        if self.took_over:
            lines.append(f"Took over the lock of a run that is gone ({self.took_over}).")
        if self.markdown:
            lines.append(f"Report: {self.markdown} and {self.html} ({self.time:.1f} s)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return dict(
            out=str(self.out), report_md=str(self.markdown), report_html=str(self.html), seconds=self.time,
            skipped=self.skipped, removed=self.removed, foreign=self.foreign,
            experiments={o.name: dict(title=o.title, csv=str(o.csv), figures=[str(f) for f in o.figures],
                                      seconds=o.time, claims=[dict(statement=s, passed=ok, detail=d)
                                                              for s, ok, d in o.claims])
                         for o in self.outputs},
        )


def reproduce(out="advcluster-report", only=None, quick=False, data_dir=None, progress=True,
              settings=None, n_jobs=-1) -> Report:
    """Run the Section 6 experiments (all, or ``only``), write their files and the report in ``out``.

    ``settings`` (a dict) overrides :class:`Setup` fields in every experiment (see
    :func:`run_experiment`); every value is checked before anything runs, and the report
    records them. ``n_jobs``: data sets in parallel processes (default: one per data set, up to
    the number of CPUs).
    """
    names = list(EXPERIMENTS) if only is None else list(only)
    settings = dict(settings or {})
    setups = check_settings(settings, names, quick)
    out = Path(out)
    t0 = time.perf_counter()
    with run_folder(out) as folder:
        outputs = _execute(setups, out, quick, data_dir, n_jobs, progress)
        for o in outputs:
            folder.wrote(*[p for p in (o.csv, out / f"{o.name}.json", *o.figures) if p is not None])
        skipped = list(dict.fromkeys(n for o in outputs for n in o.notes))
        report = Report(outputs, out, None, None, time.perf_counter() - t0, skipped)
        try:
            from ..report import write_report
        except ImportError:  # pragma: no cover
            return report
        meta = dict(version=_version(), date=datetime.date.today().isoformat(),
                    command="advcluster reproduce" + (" --quick" if quick else "")
                    + (f" --only {','.join(only)}" if only else "") + "".join(f" --set {k}={v}" for k, v in settings.items()),
                    machine=f"{platform.platform()}, Python {platform.python_version()}",
                    total_time=report.time, table1=report.table1_text(), quick=quick)
        sections = [_settings_section(settings)] + [
            dict(name=o.name, title=o.title, text=o.text + "".join(f" Note: {n}." for n in o.notes),
                 table=o.table, columns=EXPERIMENTS[o.name].columns if o.table else (), csv=o.csv,
                 figures=[f for f in o.figures if str(f).endswith(".png")], params=o.params, claims=o.claims)
            for o in outputs]
        report.markdown, report.html = write_report(sections, out, meta)
        folder.wrote(report.markdown, report.html)
    report.removed, report.foreign, report.took_over = folder.removed, folder.foreign, folder.took_over
    report.time = time.perf_counter() - t0
    return report
