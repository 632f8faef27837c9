"""The paper's Section 6 settings (docs/reproduction.md): the paper's model, with the settings it
does not print recovered from its own numbers where they can be, and an honest choice where not.

:data:`SETUPS` is the paper's model (kNN weights rebuilt on the perturbed data, solved by
ssnal); :data:`UNIFORM_SETUPS` is the named variant with uniform weights, solved exactly
(``--set weights=uniform``). :data:`RATIONALE` says why (it is the report's first section).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from .._validation import Flag, Integer, OneOf, Real, is_integer, validate
from ..datasets import list_datasets, load_dataset

__all__ = ["Setup", "SETUPS", "UNIFORM_SETUPS", "RATIONALE", "setup_for", "load_setup", "index_rows"]

RATIONALE = """\
The paper fixes the data (Iris feature 4 on the first two species, Seeds feature 1 on the
first two varieties, Wine feature 13 on all rows), the attack (``eps`` added to one feature of
a set of rows), the grid ``-8:0.05:8`` (321 values) and the solver (SSNAL "with default
settings"). It does not print gamma, the weights or the index set. Here they are recovered from
the paper's own Table 1 where that is possible:

- **the model**: kNN weights (k = 10, phi = 0.5, the SSNAL demo's defaults) rebuilt on the
  perturbed data, as the attacked pipeline would, solved by ssnal with proven labels;
- **Seeds**: the raw feature (area, not standardised), gamma = 12 (10 to 12 give the same
  answers), the perturbed rows ``1:5`` (1-based): the clean clustering has 2 clusters (67 and
  73 points) and the direct method's maximum is the paper's, eps* = 0.95, delta = 5750,
  N_c = 25;
- **Wine**: proline z-scored, gamma = 10 (8 to 10 work), the perturbed rows ``61:2:129``
  (1-based: the second class's rows at odd positions): the clean clustering is 62 / 59 / 57,
  which the paper's numbers imply (7316 with N_c = 116 can only be two clean clusters of 62
  and 59 merging), and the deviation at the paper's two eps values is the paper's
  (delta(-0.154) = 7422 with N_c = 115, delta(0.0387) = 7316 with N_c = 116). The grid's
  maximum of this setting lies elsewhere, so the paper's direct-method row is only half
  explained;
- **Iris**: no setting tried gives the paper's numbers (uniform weights over 93 index sets,
  400 scales and 200 gammas; kNN and complete-Gaussian weights over scales, gammas and index
  sets; the SSNAL demo's own kNN rule, with MATLAB's tie-breaking, over 190 index ranges and
  11 gammas). Iris uses Seeds's recovered recipe (raw feature, kNN weights, gamma = 12, rows
  ``1:5``), which gives the paper's two clean clusters; its Table 1 cells are reported as
  differing.

Figures 4 to 8 use the same setting (the paper says they share it) on all three data sets.
The variant ``--set weights=uniform`` switches to uniform weights on the standardised feature
(gamma 0.018 on Iris, 0.012 on Seeds and Wine, every other row perturbed): that problem is
solved exactly (isotonic regression, Hocking et al. 2011), which makes the exact staircase
cheap, but it is not the paper's model.
"""

WEIGHTS = ("knn", "uniform", "complete")
_RANGE = re.compile(r"^\s*(\d+)\s*:\s*(?:(\d+)\s*:\s*)?(\d+)\s*$")
INDEX_RULES = ("A:B", "A:STEP:B", "even", "even-first-class")
"""Index rules: 1-based MATLAB ranges (rows A to B, optionally every STEP-th), every other
row, or every other row of the first class."""


def index_rows(rule: str, y) -> np.ndarray:
    """The 0-based perturbed rows of ``rule`` (see :data:`INDEX_RULES`) for classes ``y``."""
    n = len(y)
    if not isinstance(rule, str):
        raise ValueError(f"index must be one of {INDEX_RULES} (e.g. '61:2:129'), got {rule!r}.")
    if rule == "even":
        return np.arange(0, n, 2)
    if rule == "even-first-class":
        return np.flatnonzero(np.asarray(y) == y[0])[::2]
    m = _RANGE.match(rule)
    if m is None:
        raise ValueError(f"index must be one of {INDEX_RULES} (e.g. '61:2:129'), got {rule!r}.")
    a, step, b = int(m.group(1)), int(m.group(2) or 1), int(m.group(3))
    if not 1 <= a <= b <= n or step < 1:
        raise ValueError(f"index {rule!r} must name rows within 1..{n} (1-based, A <= B, STEP >= 1).")
    return np.arange(a - 1, b, step)


@dataclass(frozen=True)
class Setup:
    """One attack setting: data, model and perturbation; checked when made.

    Attributes
    ----------
    dataset : str
        ``load_dataset`` name.
    feature : int
        0-based column (the paper counts from 1).
    rows : int
        The first ``rows`` rows are used (the first two classes for Iris and Seeds).
    gamma : float
        Convex clustering fusion penalty.
    weights : str
        ``"knn"`` (rebuilt on the perturbed data, ssnal), ``"uniform"`` (exact solver) or
        ``"complete"`` (Gaussian weights on all pairs, ssnal).
    k, phi : int, float
        kNN neighbours and the Gaussian kernel's ``phi`` (weights ``exp(-phi d^2)``).
    index : str
        Perturbed rows: a 1-based MATLAB range ``"A:B"`` or ``"A:STEP:B"``, ``"even"`` (every
        other row from the first) or ``"even-first-class"``.
    eps_low, eps_high : float
        The range of ``eps``.
    num : int
        Grid points over the range (the paper's 321: a step of 0.05 on [-8, 8]).
    standardize : bool
        z-score the feature first.
    """

    dataset: str
    feature: int
    rows: int
    gamma: float
    weights: str = "knn"
    k: int = 10
    phi: float = 0.5
    index: str = "1:5"
    eps_low: float = -8.0
    eps_high: float = 8.0
    num: int = 321
    standardize: bool = False

    def __post_init__(self):
        info = {d.name: d for d in list_datasets()}
        checked = validate(
            {"dataset": OneOf(tuple(info)), "gamma": Real(0.0, strict=True), "weights": OneOf(WEIGHTS),
             "k": Integer(1), "phi": Real(0.0, strict=True), "eps_low": Real(-math.inf),
             "eps_high": Real(-math.inf), "num": Integer(2), "standardize": Flag()},
            dataset=self.dataset, gamma=self.gamma, weights=self.weights, k=self.k, phi=self.phi,
            eps_low=self.eps_low, eps_high=self.eps_high, num=self.num, standardize=self.standardize)
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        shape = info[self.dataset]
        if not is_integer(self.feature) or not 0 <= self.feature < shape.n_features:
            raise ValueError(f"feature must be a column 0..{shape.n_features - 1} of {self.dataset} "
                             f"(0-based), got {self.feature!r}.")
        if not is_integer(self.rows) or not 2 <= self.rows <= shape.n_samples:
            raise ValueError(f"rows must be an integer in 2..{shape.n_samples} for {self.dataset}, "
                             f"got {self.rows!r}.")
        if not self.eps_low < self.eps_high:
            raise ValueError(f"eps_low must be below eps_high, got {self.eps_low:g} and {self.eps_high:g}.")
        if self.k >= self.rows:
            raise ValueError(f"k must be below rows ({self.rows}), got {self.k}.")
        index_rows(self.index, np.zeros(self.rows, dtype=int))  # a bad rule fails now, not mid-run

    def with_(self, **changes) -> "Setup":
        """This setting with ``changes`` (checked); an unknown name is a ValueError."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; the settings are {sorted(set(asdict(self)) - {'dataset'})}.")
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def points(self) -> np.ndarray:
        """The grid of ``eps`` (rounded to 12 decimals, so ``-8:0.05:8`` gives 0.95 exactly)."""
        return np.round(np.linspace(self.eps_low, self.eps_high, self.num), 12)


SETUPS = {
    "iris": Setup("iris", feature=3, rows=100, gamma=12.0),
    "seeds": Setup("seeds", feature=0, rows=140, gamma=12.0),
    "wine": Setup("wine", feature=12, rows=178, gamma=10.0, index="61:2:129", standardize=True),
}
"""The paper's model, by data set (see :data:`RATIONALE`)."""

UNIFORM_SETUPS = {
    "iris": Setup("iris", feature=3, rows=100, gamma=0.018, weights="uniform", index="even", standardize=True),
    "seeds": Setup("seeds", feature=0, rows=140, gamma=0.012, weights="uniform", index="even", standardize=True),
    "wine": Setup("wine", feature=12, rows=178, gamma=0.012, weights="uniform", index="even", standardize=True),
}
"""The uniform-weights variant (exact solver and staircase), by data set."""


def setup_for(dataset: str, **settings) -> Setup:
    """``dataset``'s setting with ``settings`` applied: the uniform variant's defaults when
    ``weights="uniform"`` is asked for, the paper's model otherwise."""
    base = UNIFORM_SETUPS if settings.get("weights") == "uniform" else SETUPS
    if dataset not in base:
        raise ValueError(f"no Section 6 setting for data set {dataset!r}; choose one of {sorted(base)}.")
    return base[dataset].with_(**settings)


def load_setup(setup: Setup, data_dir=None):
    """The data of a setting: ``(A (n, 1), classes (n,), index (perturbed rows), feature name)``."""
    ds = load_dataset(setup.dataset, data_dir=data_dir)
    A = ds.data[: setup.rows, setup.feature : setup.feature + 1].astype(float)
    y = ds.target[: setup.rows]
    if setup.standardize:
        A = (A - A.mean()) / A.std()
    return A, y, index_rows(setup.index, y), ds.feature_names[setup.feature]
