"""A study as data: a TOML config, checked whole before anything runs, expanded to tasks.

A config names data sets, models, threat models with their budgets (BL1) or targets (BL2),
attacks and seeds. Their cross product, less the tasks an ``[[exclude]]`` table matches, is the
study's list of :class:`Task`\\ s. Every problem in a config is found at once and reported one
line each (:class:`ConfigError`). The format is :data:`EXAMPLE`, commented.

A task's key is a hash of its whole specification, the package version and the data's
fingerprint (a hash of the array's bytes), so a result is reused only for exactly the same
computation.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ConfigError", "EXAMPLE", "Study", "Task", "load_config", "load_data"]

EXAMPLE = '''\
# An advcluster study: every data set x model x threat x budget x attack x seed is one task.
# Run it:   advcluster sweep study.toml --store results
# Export:   advcluster sweep --store results --export results.csv

problem = "bl1"        # bl1: the most damage within each budget; bl2: the least change reaching each target
deviation = "ari"      # 1 - ARI against the clean clustering (also: delta, rand, nmi, n_changed, ...)
max_evals = 20         # lower-level fits per attack
seeds = [0]            # random_state of each attack
standardize = true     # features to mean 0 and standard deviation 1 (budgets are then in SD units)
cache = false          # true: keep every lower-level answer in the store, so a task interrupted midway
                       # replays its finished fits when resumed (disk: one answer per fit)
attacks = ["auto", "random"]   # or tables: { name = "random", options = { ... }, max_evals = 40 }

[[datasets]]
name = "iris"          # a named data set (advcluster datasets), or file = "data.csv" with columns = [...]

[[datasets]]
name = "blobs"
options = { n_samples = 120, centers = 3 }

[[models]]
name = "kmeans"
n_clusters = "classes" # "classes": the data set's number of classes

[[models]]
name = "convex"
gamma = "auto"         # the smallest gamma with at most max_clusters clusters (default: twice the classes)
phi = "auto"           # 0.5 / the median squared distance to the 10 nearest neighbours

[[threats]]
label = "rows 5%"
kind = "rows"          # rows: chosen rows moved, each entry by at most the budget (norm inf)
share = 0.05           # of the points: those nearest another clean cluster (select = "boundary")
budgets = [0.25, 0.5]

[[threats]]
label = "inject 2"
kind = "injection"     # points added inside the data's bounding box
points = 2             # (or share = 0.02 of the data's points); the budget: "points", their number
'''
"""A small study that runs in well under a minute (``advcluster sweep --example``)."""

PROBLEMS = ("bl1", "bl2")
THREAT_KINDS = ("rows", "additive", "feature-shift", "injection")
SELECT = ("boundary", "random")
TOP_KEYS = {"problem", "deviation", "max_evals", "seeds", "standardize", "cache", "datasets", "models", "threats",
            "attacks", "exclude"}
LABEL_KEYS = ("dataset", "model", "threat", "budget", "attack", "seed")


class ConfigError(ValueError):
    """A config with problems: ``problems`` lists them, one line each."""

    def __init__(self, source, problems):
        self.source, self.problems = source, list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Task:
    """One unit of work: ``labels`` name it in the results (a row of the table), ``spec`` says
    everything it computes, ``key`` identifies that computation."""

    position: int
    key: str
    labels: dict
    spec: dict


@dataclass(frozen=True)
class Study:
    """A checked config and its tasks, in the config's order."""

    source: str
    config: dict
    tasks: tuple

    @property
    def fingerprint(self) -> str:
        """A hash of the config (after defaults; ``cache`` aside, which changes no answer): a store
        refuses another study's results."""
        return _digest({k: v for k, v in self.config.items() if k != "cache"})


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:24]


def load_config(config) -> Study:
    """A :class:`Study` from a TOML file path, TOML text (containing a newline) or a dict."""
    if isinstance(config, dict):
        source, raw = "config", config
    else:
        text, source = _read(config)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    return _Checker(source).study(raw)


def _read(config):
    if isinstance(config, str) and "\n" in config:
        return config, "config"
    path = Path(config)
    try:
        return path.read_text(), str(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from None


def load_data(entry) -> tuple[np.ndarray, int | None]:
    """``(X, number of classes or None)`` of a checked ``[[datasets]]`` entry."""
    if "file" in entry:
        from ..io import load_matrix

        return load_matrix(entry["file"], columns=entry.get("columns")), None
    from ..datasets import load_dataset

    d = load_dataset(entry["name"], **entry.get("options", {}))
    return d.data, d.n_classes


class _Checker:
    """Collects every problem of a raw config; :meth:`study` raises them together."""

    def __init__(self, source):
        self.source, self.problems = source, []

    def bad(self, where, what):
        self.problems.append(f"{where}: {what}")

    def study(self, raw) -> Study:
        for key in sorted(set(raw) - TOP_KEYS):
            self.bad(key, f"unknown setting; the settings are {', '.join(sorted(TOP_KEYS))}")
        config = dict(
            problem=self.choice("problem", raw.get("problem", "bl1"), PROBLEMS),
            deviation=self.deviation(raw.get("deviation")),
            max_evals=self.count("max_evals", raw.get("max_evals", 40)),
            seeds=self.seeds(raw.get("seeds", [0])),
            standardize=self.flag("standardize", raw.get("standardize", True)),
            cache=self.flag("cache", raw.get("cache", False)),
        )
        datasets = [self.dataset(i, e) for i, e in enumerate(self.tables(raw, "datasets"))]
        models = [self.model(i, e) for i, e in enumerate(self.tables(raw, "models"))]
        threats = [self.threat(i, e, config["problem"]) for i, e in enumerate(self.tables(raw, "threats"))]
        attacks = [self.attack(i, e) for i, e in enumerate(self.entries(raw, "attacks"))]
        excludes = raw.get("exclude", [])
        if not isinstance(excludes, list):
            self.bad("exclude", "must be [[exclude]] tables")
            excludes = []
        excludes = [self.exclude(i, e) for i, e in enumerate(excludes)]
        for what, entries in (("datasets", datasets), ("models", models), ("threats", threats), ("attacks", attacks)):
            labels = [e["label"] for e in entries if e]
            for dup in sorted({x for x in labels if labels.count(x) > 1}):
                self.bad(what, f"two entries are labelled {dup!r}; give each a different label")
        data = {}
        for e in datasets:
            if e:
                try:
                    X, classes = load_data(e)
                    data[e["label"]] = (_digest([list(X.shape), hashlib.sha256(np.ascontiguousarray(X)).hexdigest()]),
                                        classes, X.shape)
                except (ValueError, OSError) as exc:
                    self.bad(f"datasets ({e['label']})", " ".join(str(exc).split()))
        for e in datasets:
            if e and e["label"] in data:
                self.fits(e, data[e["label"]], models, threats)
        if self.problems:
            raise ConfigError(self.source, self.problems)
        config.update(datasets=datasets, models=models, threats=threats, attacks=attacks, exclude=excludes)
        return Study(self.source, config, tuple(self.expand(config, data)))

    # -- the pieces
    def tables(self, raw, name):
        entries = raw.get(name)
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            self.bad(name, f"give at least one [[{name}]] table")
            return []
        return entries

    def entries(self, raw, name):
        entries = raw.get(name)
        if not isinstance(entries, list) or not entries:
            self.bad(name, f'give a list, e.g. {name} = ["auto", "random"]')
            return []
        return entries

    def choice(self, where, value, allowed):
        if value not in allowed:
            self.bad(where, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def flag(self, where, value):
        if not isinstance(value, bool):
            self.bad(where, f"must be true or false, got {value!r}")
        return value

    def count(self, where, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.bad(where, f"must be a whole number >= 1, got {value!r}")
        return value

    def number(self, where, value, positive=False):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < 0 or (positive and value == 0):
            self.bad(where, f"must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
            return value
        return float(value)

    def deviation(self, value):
        from ..deviation import MEASURES

        if value is not None and value not in MEASURES:
            self.bad("deviation", f"{value!r} is not a measure; choose one of {', '.join(sorted(MEASURES))}")
        return value

    def seeds(self, value):
        if not isinstance(value, list) or not value or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
            self.bad("seeds", f"must be a list of whole numbers >= 0, e.g. [0, 1, 2], got {value!r}")
        elif len(set(value)) < len(value):
            self.bad("seeds", f"{value!r} repeats a seed")
        return value

    def unknown(self, where, entry, allowed):
        for key in sorted(set(entry) - set(allowed)):
            self.bad(where, f"unknown key {key!r}; it takes {', '.join(sorted(allowed))}")

    def dataset(self, i, e):
        where = f"datasets[{i}]"
        self.unknown(where, e, {"name", "file", "columns", "options", "label"})
        if ("name" in e) == ("file" in e):
            self.bad(where, "give name (a named data set) or file (a data file), one of them")
            return None
        if "file" in e:
            if "options" in e:
                self.bad(where, "options apply to named data sets; a file takes columns")
            label = e.get("label", Path(str(e["file"])).stem)
            out = dict(file=str(e["file"]), label=str(label))
            if "columns" in e:
                out["columns"] = e["columns"]
            return out
        if "columns" in e:
            self.bad(where, "columns apply to a file; a named data set has its own")
        if not isinstance(e.get("options", {}), dict):
            self.bad(where, "options must be a table, e.g. options = { n_samples = 500 }")
        return dict(name=str(e["name"]).lower(), options=dict(e.get("options", {})),
                    label=str(e.get("label", str(e["name"]).lower())))

    def model(self, i, e):
        from ..clusterers import make_model

        where = f"models[{i}]"
        if "name" not in e:
            self.bad(where, 'give name, e.g. name = "kmeans"')
            return None
        name = str(e["name"]).lower()
        params = {k: v for k, v in e.items() if k not in ("name", "label", "max_clusters")}
        out = dict(name=name, label=str(e.get("label", name)), params=params)
        if "max_clusters" in e:
            if name != "convex" or e.get("gamma") != "auto":
                self.bad(where, 'max_clusters applies to name = "convex" with gamma = "auto"')
            out["max_clusters"] = self.count(f"{where} max_clusters", e["max_clusters"])
        from .tasks import AUTO

        trial = {k: (2 if v == "classes" else 1.0 if v == "auto" and k in AUTO.get(name, ()) else v)
                 for k, v in params.items()}
        try:
            make_model(name, **trial)
        except (ValueError, TypeError) as exc:
            self.bad(where, " ".join(str(exc).split()))
        return out

    def threat(self, i, e, problem):
        where = f"threats[{i}]"
        kind = e.get("kind")
        if kind not in THREAT_KINDS:
            self.bad(where, f"kind must be one of {', '.join(THREAT_KINDS)}, got {kind!r}")
            return None
        allowed = {"kind", "label", "norm", "budgets", "targets", "max_norm"}
        allowed |= {"points", "share"} if kind == "injection" else {"features"}
        if kind in ("rows", "additive"):
            allowed |= {"rows", "share", "select"}
        self.unknown(where, e, allowed)
        out = dict(kind=kind)
        if kind == "injection":
            if ("points" in e) == ("share" in e):
                self.bad(where, "give points (how many are added) or share (of the data's points), one of them")
            elif "points" in e:
                out["points"] = self.count(f"{where} points", e["points"])
            else:
                out["share"] = self.number(f"{where} share", e["share"], positive=True)
            out["norm"] = self.choice(f"{where} norm", e.get("norm", "count"), ("count", "distance"))
        else:
            from ..perturbation import NORMS

            out["norm"] = self.choice(f"{where} norm", e.get("norm", "inf" if kind == "rows" else "fro"), NORMS)
            if "features" in e:
                out["features"] = self.indices(f"{where} features", e["features"])
            if kind in ("rows", "additive"):
                if "rows" in e and "share" in e:
                    self.bad(where, "give rows (indices) or share (of the points), not both")
                elif "rows" in e:
                    out["rows"] = self.indices(f"{where} rows", e["rows"])
                else:
                    out["share"] = self.number(f"{where} share", e.get("share", 1.0), positive=True)
                    out["select"] = self.choice(f"{where} select", e.get("select", "boundary"), SELECT)
                if out.get("share", 0) > 1:
                    self.bad(f"{where} share", f"is a fraction of the points, at most 1, got {out['share']}")
        if problem == "bl1":
            for key in ("targets", "max_norm"):
                if key in e:
                    self.bad(where, f"{key} applies to problem = \"bl2\"; bl1 takes budgets")
            count = kind == "injection" and out["norm"] == "count"
            out["budgets"] = self.levels(f"{where} budgets", e.get("budgets", ["points"] if count else None),
                                         words=("points",) if count else ())
        elif problem == "bl2":
            if "budgets" in e:
                self.bad(where, 'budgets apply to problem = "bl1"; bl2 takes targets and max_norm')
            out["targets"] = self.levels(f"{where} targets", e.get("targets"), positive=True)
            if kind != "injection" or out["norm"] == "distance":
                out["max_norm"] = self.number(f"{where} max_norm", e.get("max_norm"), positive=True)
        out["label"] = str(e.get("label", f"{kind} {i}"))
        return out

    def levels(self, where, value, positive=False, words=()):
        """A list of numbers (``words``: names allowed too, e.g. "points", the injected count)."""
        if not isinstance(value, list) or not value:
            self.bad(where, "give a list of numbers, e.g. [0.1, 0.25]")
            return []
        return [v if v in words else self.number(where, v, positive) for v in value]

    def indices(self, where, value):
        if not isinstance(value, list) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            self.bad(where, f"must be a list of 0-based indices, got {value!r}")
        return value

    def attack(self, i, e):
        from ..attacks import OPTIMIZERS

        where = f"attacks[{i}]"
        if isinstance(e, str):
            e = {"name": e}
        if not isinstance(e, dict) or "name" not in e:
            self.bad(where, 'give a name, or a table { name = "random", options = { ... }, max_evals = 40 }')
            return None
        self.unknown(where, e, {"name", "options", "max_evals", "label"})
        name = e["name"]
        if name != "auto" and name not in OPTIMIZERS:
            self.bad(where, f"unknown attack {name!r}; choose auto or one of {', '.join(sorted(OPTIMIZERS))}")
        if not isinstance(e.get("options", {}), dict):
            self.bad(where, "options must be a table")
        out = dict(name=name, label=str(e.get("label", name)), options=dict(e.get("options", {})))
        if "max_evals" in e:
            out["max_evals"] = self.count(f"{where} max_evals", e["max_evals"])
        return out

    def exclude(self, i, e):
        where = f"exclude[{i}]"
        if not isinstance(e, dict) or not e:
            self.bad(where, f"an [[exclude]] table matches tasks by {', '.join(LABEL_KEYS)}")
            return {}
        self.unknown(where, e, {*LABEL_KEYS, "target"})
        return {("budget" if k == "target" else k): (v if isinstance(v, list) else [v]) for k, v in e.items()}

    def fits(self, dataset, data, models, threats):
        """The problems that only a data set reveals: classes needed but unknown, indices out of range."""
        _, classes, (n, d) = data
        where = f"datasets ({dataset['label']})"
        for m in models:
            if not m:
                continue
            needs = [k for k, v in m["params"].items() if v == "classes"]
            if m["name"] == "convex" and m["params"].get("gamma") == "auto" and "max_clusters" not in m:
                needs.append("max_clusters")
            if needs and classes is None:
                self.bad(where, f"model {m['label']} needs the data's classes for {', '.join(needs)}, and a file has "
                         "none; give numbers instead")
        for t in threats:
            for key, size in (("rows", n), ("features", d)):
                if t and any(v >= size for v in t.get(key, []) if isinstance(v, int)):
                    self.bad(where, f"threat {t['label']}: {key} go up to {size - 1} here")

    def expand(self, config, data):
        from .. import __version__

        tasks = []
        levels = "budgets" if config["problem"] == "bl1" else "targets"
        for ds in config["datasets"]:
            for m in config["models"]:
                for t in config["threats"]:
                    for level in t[levels]:
                        for a in config["attacks"]:
                            for seed in config["seeds"]:
                                labels = dict(dataset=ds["label"], model=m["label"], threat=t["label"],
                                              budget=level, attack=a["label"], seed=seed)
                                if any(_matches(x, labels) for x in config["exclude"]):
                                    continue
                                spec = dict(dataset=ds, model=m, threat={k: v for k, v in t.items() if k != levels},
                                            level=level, attack=a, seed=seed, problem=config["problem"],
                                            deviation=config["deviation"], max_evals=a.get("max_evals",
                                                                                          config["max_evals"]),
                                            standardize=config["standardize"])
                                key = _digest(dict(spec=spec, version=__version__, data=data[ds["label"]][0]))
                                if config["problem"] == "bl2":
                                    labels = {**labels, "target": labels.pop("budget")}
                                    labels = {k: labels[k] for k in ("dataset", "model", "threat", "target",
                                                                     "attack", "seed")}
                                tasks.append(Task(len(tasks), key, labels, spec))
        return tasks


def _matches(exclude, labels) -> bool:
    return all(labels.get(k) in v or str(labels.get(k)) in map(str, v) for k, v in exclude.items())
