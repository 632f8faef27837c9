"""Named, reproducible experiments: the paper's Section 6 (Figures 4-8, Table 1) and :func:`reproduce`.

Each experiment is a spec in :data:`EXPERIMENTS`; :func:`run_experiment` runs one and writes
its tidy CSV, its figures (PNG and SVG) and a JSON record of every parameter, the package
version and the checked claims. :func:`reproduce` runs them all and writes ``report.md`` and
a self-contained ``report.html``.
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
from ..io import atomic_write, write_table
from . import section6
from .setups import SETUPS, Setup, load_setup

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentOutput", "Report", "SETUPS", "Setup", "load_setup",
           "reproduce", "run_experiment"]


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run(setups, quick, data_dir) -> Outcome`` on the data sets ``datasets``,
    each in its :data:`SETUPS` setting changed by ``setting`` (what this experiment does
    differently, stated in its record)."""

    name: str
    title: str
    run: Callable
    text: str
    datasets: tuple = ("iris",)
    setting: dict = field(default_factory=dict)


EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment("fig4", "Fig. 4: robustness near eps = 0", section6.robustness,
                   "Iris: the deviation (delta and N_c) for eps in [-1, 1]. Convex clustering is robust to small "
                   "perturbations: nothing changes on an interval around 0. The exact staircase gives its ends to "
                   "1e-8 instead of the grid's spacing."),
        Experiment("fig5", "Fig. 5: the staircase", section6.staircase,
                   "Iris over the paper's range [-8, 8]: delta and N_c are piecewise constant in eps. Dots: the "
                   "paper's grid of 321 values; segments: the exact plateaus, every breakpoint bisected to 1e-8 "
                   "of the range."),
        Experiment("fig6", "Fig. 6: BL1 and BL2", section6.bilevel,
                   "BL1: the largest delta reachable with |eps| <= budget, for budgets from 0 to 8. BL2: the "
                   "smallest |eps| whose delta reaches kappa (the paper's kappa = 1200, and three more levels). "
                   "Both by the grid and by the exact staircase."),
        Experiment("fig7", "Fig. 7: Rand index and NMI", section6.similarity,
                   "Iris, perturbing the even rows of the first species. The Rand index falls as points move; "
                   "NMI drops to 0 where the perturbed points pull everything into one cluster, and jumps back "
                   "when they pass through and separate again.",
                   setting={"index": "even-first-class"}),
        Experiment("fig8", "Fig. 8: all measures on one axis", section6.overlay,
                   "The same sweep as Fig. 7 with each measure normalised to [0, 1]: delta / n(n-1) and 1 - RI "
                   "coincide exactly (1 - RI = delta / n(n-1)); 1 - NMI and N_c / n tell the same story with "
                   "different emphasis.",
                   setting={"index": "even-first-class"}),
        Experiment("table1", "Table 1: direct method against trust-constr", section6.table1,
                   "On Iris, Seeds and Wine: the direct method (grid of 321 values of eps) against trust-constr "
                   "with forward-difference gradients (the stand-in for MATLAB fmincon's interior point method, "
                   "started at eps = 1), and the exact staircase. f is piecewise constant, so its finite-difference "
                   "gradient is zero almost everywhere and trust-constr stops where it starts.",
                   datasets=tuple(SETUPS)),
    )
}
"""The experiments by name."""


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


def run_experiment(name, out=None, quick=False, data_dir=None, **settings) -> ExperimentOutput:
    """Run one experiment; with ``out``, write ``name.csv``, ``name.json`` and its figures there.

    ``settings`` override the experiment's setting on every data set it runs on (``gamma``,
    ``index``, ``eps_low``, ``eps_high``, ``num``, ``weights``, ``standardize``; see
    :class:`Setup` and :attr:`Experiment.setting`).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {list(EXPERIMENTS)}.")
    exp = EXPERIMENTS[name]
    t0 = time.perf_counter()
    setups = {k: SETUPS[k].with_(**{**exp.setting, **settings}) for k in exp.datasets}
    outcome = exp.run(setups, quick=quick, data_dir=data_dir)
    result = ExperimentOutput(name, exp.title, exp.text, outcome.table, outcome.params, outcome.claims,
                              time.perf_counter() - t0, notes=[f"skipped {n}" for n in outcome.skipped])
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        result.csv = write_table(result.table, out / f"{name}.csv")
        result.figures = _figures(name, result, out)
        record = dict(experiment=name, title=exp.title, advcluster=_version(), quick=quick,
                      params=result.params, claims=[dict(statement=s, passed=ok, detail=d) for s, ok, d in result.claims],
                      notes=result.notes, seconds=result.time)
        with atomic_write(out / f"{name}.json") as fh:
            json.dump(plain(record), fh, indent=2, allow_nan=False)
    return result


def _figures(name, result, out):
    try:
        from .. import plotting
    except ImportError as exc:  # pragma: no cover - matplotlib missing
        result.notes.append(f"no figures: {exc}")
        return []
    plot = plotting.FIGURES.get(name)
    if plot is None:
        return []
    try:
        fig = plot(result.table, dataset=str(result.params.get("dataset", "")).capitalize() or None,
                   params=result.params)
    except ImportError as exc:
        result.notes.append(f"no figures: {exc}")
        return []
    return list(plotting.save_figure(fig, out / name))


def _settings_section():
    """The report's first section: the settings the paper left open, and why these."""
    from . import setups

    text = setups.RATIONALE.strip()
    return dict(name="settings", title="Settings and why", text=text, claims=[], figures=[],
                params={name: s.as_dict() for name, s in SETUPS.items()})


@dataclass
class Report:
    """What :func:`reproduce` did: the outputs, where the report is, how long it took."""

    outputs: list
    out: Path
    markdown: Path | None
    html: Path | None
    time: float
    skipped: list

    def table1_text(self) -> str:
        t1 = next((o for o in self.outputs if o.name == "table1"), None)
        if t1 is None:
            return ""
        t = t1.table
        lines = ["Table 1 (advcluster | paper); K: classes, clean: clusters of the unperturbed data",
                 f"{'data':6} {'method':12} {'n':>4} {'K':>2} {'clean':>5} {'eps*':>10} {'delta':>6} {'N_c':>4} {'time s':>8}"
                 f"   | {'eps*':>7} {'delta':>6} {'N_c':>4} {'time s':>7}"]
        for i in range(len(t["dataset"])):
            pe, pd, pn, pt = (t[c][i] for c in ("paper_eps", "paper_delta", "paper_n_changed", "paper_time"))
            paper = "" if math.isnan(pe) else f"{pe:>7.4g} {pd:>6} {pn:>4} {pt:>7.4g}"
            lines.append(f"{t['dataset'][i]:6} {t['method'][i]:12} {t['n'][i]:>4} {t['K'][i]:>2} {t['clusters'][i]:>5} "
                         f"{t['eps'][i]:>10.6g} {t['delta'][i]:>6} {t['n_changed'][i]:>4} {t['time'][i]:>8.3f}"
                         f"   | {paper}")
        return "\n".join(lines)

    def summary(self) -> str:
        claims = [c for o in self.outputs for c in o.claims]
        passed = sum(ok for _, ok, _ in claims)
        lines = [self.table1_text(), ""] if self.table1_text() else []
        lines += [f"{passed} of {len(claims)} claims hold."]
        lines += [f"  FAILED: {s} ({d})" for o in self.outputs for s, ok, d in o.claims if not ok]
        lines += [f"  note: {s}" for s in self.skipped]
        if self.markdown:
            lines.append(f"Report: {self.markdown} and {self.html} ({self.time:.1f} s)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return dict(
            out=str(self.out), report_md=str(self.markdown), report_html=str(self.html), seconds=self.time,
            skipped=self.skipped,
            experiments={o.name: dict(title=o.title, csv=str(o.csv), figures=[str(f) for f in o.figures],
                                      seconds=o.time, claims=[dict(statement=s, passed=ok, detail=d)
                                                              for s, ok, d in o.claims])
                         for o in self.outputs},
        )


def reproduce(out="advcluster-report", only=None, quick=False, data_dir=None, progress=True,
              settings=None) -> Report:
    """Run the Section 6 experiments (all, or ``only``), write their files and the report in ``out``.

    ``settings`` (a dict) overrides :class:`Setup` fields in every experiment (see
    :func:`run_experiment`); the report records them.
    """
    names = list(EXPERIMENTS) if only is None else list(only)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)}.")
    settings = dict(settings or {})
    SETUPS["iris"].with_(**settings)  # an unknown setting fails here, before any work
    out = Path(out)
    t0 = time.perf_counter()
    outputs = []
    for name in names:
        if progress:
            print(f"[{name}] {EXPERIMENTS[name].title} ...", end="", file=sys.stderr, flush=True)
        o = run_experiment(name, out, quick=quick, data_dir=data_dir, **settings)
        outputs.append(o)
        if progress:
            flag = "ok" if o.passed else "CLAIM FAILED"
            print(f" {o.time:.1f} s, {flag}" + "".join(f"; {n}" for n in o.notes), file=sys.stderr, flush=True)
    skipped = [n for o in outputs for n in o.notes]
    report = Report(outputs, out, None, None, time.perf_counter() - t0, skipped)
    try:
        from ..report import write_report
    except ImportError:  # pragma: no cover
        return report
    meta = dict(version=_version(), date=datetime.date.today().isoformat(),
                command="advcluster reproduce" + (" --quick" if quick else "") + (f" --only {','.join(only)}" if only else "")
                + "".join(f" --set {k}={v}" for k, v in settings.items()),
                machine=f"{platform.platform()}, Python {platform.python_version()}",
                total_time=report.time, table1=report.table1_text(), quick=quick)
    sections = [_settings_section()] + [dict(name=o.name, title=o.title, text=o.text + "".join(f" Note: {n}." for n in o.notes),
                     table=o.table, csv=o.csv, figures=[f for f in o.figures if str(f).endswith(".png")],
                     params=o.params, claims=o.claims) for o in outputs]
    report.markdown, report.html = write_report(sections, out, meta)
    report.time = time.perf_counter() - t0
    return report
