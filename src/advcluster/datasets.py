"""Where data sets come from: bundled, downloaded and generated data under one name each.

:func:`load_dataset` returns a :class:`Dataset` for a name in :data:`DATASETS`:

* ``"iris"``, ``"wine"``, ``"breast-cancer"``, ``"digits"``: the copies bundled with
  scikit-learn (no download; ``digits`` takes ``n_class``, the first classes kept);
* ``"seeds"``: the UCI wheat seeds data (id 236, CC BY 4.0), read from ``seeds_dataset.txt``
  in ``data_dir`` or in the folder named by ``$ADVCLUSTER_DATA`` when given (another copy),
  else from the copy shipped with the package (``advcluster/data``, with its attribution in
  ``SEEDS_LICENSE.txt``); only when that copy is absent or hidden
  (``$ADVCLUSTER_NO_PACKAGED_DATA=1``), from the user cache (:func:`cache_dir`), else
  downloaded once into the cache;
* ``"blobs"``, ``"moons"``: synthetic sets from scikit-learn's generators.

Every problem with a data file is a ``ValueError`` naming the file, the line and the problem;
a file found nowhere is a :class:`DatasetNotFoundError` (an ``OSError``) naming every place
looked in and how to provide it.
"""

from __future__ import annotations

import http.client
import importlib.resources
import math
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._validation import Worded, is_integer, is_real
from .io import atomic_write

__all__ = [
    "Dataset",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DATASETS",
    "SEEDS_FILE",
    "SEEDS_URL",
    "cache_dir",
    "list_datasets",
    "load_dataset",
    "packaged_seeds",
]

SEEDS_FILE = "seeds_dataset.txt"
SEEDS_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00236/seeds_dataset.txt"
DATA_ENV = "ADVCLUSTER_DATA"
CACHE_ENV = "ADVCLUSTER_CACHE"
NO_PACKAGED_ENV = "ADVCLUSTER_NO_PACKAGED_DATA"  # set (not "" or "0") to ignore the packaged copy
_TIMEOUT = 30.0  # seconds, for the download
_MAX_BYTES = 1 << 20  # the real file is 9,300 bytes; refuse anything absurd

_SEEDS_FEATURES = (
    "area",
    "perimeter",
    "compactness",
    "length of kernel",
    "width of kernel",
    "asymmetry coefficient",
    "length of kernel groove",
)
_SEEDS_CLASSES = ("Kama", "Rosa", "Canadian")  # class codes 1, 2, 3 in the file
_SEEDS_ROWS = 210
_SEEDS_PER_CLASS = 70

# Generator options and their defaults.
_OPTIONS = {
    "blobs": {"n_samples": 300, "random_state": 0, "centers": 3, "n_features": 2, "cluster_std": 1.0},
    "moons": {"n_samples": 300, "random_state": 0, "noise": 0.05},
    "digits": {"n_class": 10},
}


class _Spec(NamedTuple):
    summary: str
    n_samples: int
    n_features: int
    n_classes: int
    source: str


_SPECS = {
    "iris": _Spec("Fisher's iris flowers, 3 species", 150, 4, 3, "scikit-learn (bundled)"),
    "wine": _Spec("Wine chemical analysis, 3 cultivars", 178, 13, 3, "scikit-learn (bundled)"),
    "breast-cancer": _Spec("Breast cancer diagnosis (Wisconsin), malignant or benign", 569, 30, 2,
                           "scikit-learn (bundled)"),
    "digits": _Spec("Handwritten digits, 8 x 8 pixels, 10 classes", 1797, 64, 10, "scikit-learn (bundled)"),
    "seeds": _Spec("Wheat kernel geometry, 3 varieties (UCI 236)", 210, 7, 3, "UCI (packaged, CC BY 4.0)"),
    "blobs": _Spec("Isotropic Gaussian blobs (make_blobs)", 300, 2, 3, "generated"),
    "moons": _Spec("Two interleaving half circles (make_moons)", 300, 2, 2, "generated"),
}

#: Data set name -> one-line description.
DATASETS: dict[str, str] = {name: spec.summary for name, spec in _SPECS.items()}


class DatasetNotFoundError(Worded, OSError):
    """A data file found in none of the places looked in, and not downloaded.

    Attributes
    ----------
    searched : tuple of Path
        The file paths looked at, in order.
    """

    def __init__(self, message, searched=(), **words):
        super().__init__(self._word(message, words))
        self.searched = tuple(searched)


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled data set.

    Attributes
    ----------
    name : str
        Lower-case name, a key of :data:`DATASETS`.
    data : ndarray of shape (n_samples, n_features), float64
    target : ndarray of shape (n_samples,), int64
        Class codes ``0 .. n_classes - 1``.
    feature_names : tuple of str
    target_names : tuple of str
        ``target_names[k]`` names class code ``k``.
    description : str
        One line: source and licence.
    """

    name: str
    data: np.ndarray
    target: np.ndarray
    feature_names: tuple
    target_names: tuple
    description: str

    @property
    def n_samples(self) -> int:
        return self.data.shape[0]

    @property
    def n_features(self) -> int:
        return self.data.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.target_names)

    def __repr__(self):
        return (
            f"Dataset(name={self.name!r}, n_samples={self.n_samples}, "
            f"n_features={self.n_features}, n_classes={self.n_classes})"
        )


class DatasetInfo(NamedTuple):
    """One row of :func:`list_datasets`."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    source: str
    available: bool


# ---------------------------------------------------------------------------- public API
def load_dataset(name, data_dir=None, download=True, **options) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (case-insensitive): ``"iris"``, ``"wine"``,
        ``"breast-cancer"``, ``"digits"``, ``"seeds"``, ``"blobs"``, ``"moons"``.
    data_dir : str or path-like, optional
        Seeds only: a folder holding ``seeds_dataset.txt``, looked in first, before the
        folder named by ``$ADVCLUSTER_DATA``, the copy shipped with the package
        (:func:`packaged_seeds`) and the cache (:func:`cache_dir`). A given folder (or
        ``$ADVCLUSTER_DATA``) without the file is passed over for the next place; the
        :attr:`Dataset.description` names the file read.
    download : bool, default=True
        Seeds only: when the file is found nowhere (the packaged copy hidden or removed),
        download it from :data:`SEEDS_URL` into the cache (one notice line on stderr).
    **options
        ``"digits"``: ``n_class`` (default 10), the classes 0 .. n_class - 1 kept. Both
        generators: ``n_samples`` (default 300), ``random_state`` (default 0; None for fresh
        randomness). ``"moons"``: ``noise`` (default 0.05). ``"blobs"``:
        ``centers`` (number of centres, default 3, or an array of centres),
        ``n_features`` (default 2), ``cluster_std`` (default 1.0).

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        An unknown name (listing the names), an option that does not apply to the data
        set or a bad option value, a corrupt data file (naming the file and the line).
    DatasetNotFoundError
        The Seeds file was found nowhere and could not be downloaded.
    """
    key = _key(name)
    allowed = _OPTIONS.get(key, {})
    extra = sorted(set(options) - set(allowed))
    if extra:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes no options"
        raise ValueError(f"option(s) {', '.join(extra)} do not apply to data set {key!r}; {takes}.")
    if key in _BUNDLED:
        return _load_bundled(key, options)
    if key == "seeds":
        return _load_seeds(data_dir, download)
    return _generate(key, options)


def list_datasets(data_dir=None) -> list[DatasetInfo]:
    """Describe every data set, for display.

    Parameters
    ----------
    data_dir : str or path-like, optional
        As in :func:`load_dataset`, for the availability of the Seeds file.

    Returns
    -------
    list of DatasetInfo
        Rows ``(name, n_samples, n_features, n_classes, source, available)``; the sizes of
        generated sets are those of the default options. ``available`` tells whether the
        set loads without a download (for Seeds: the file is found locally).
    """
    rows = []
    for name, spec in _SPECS.items():
        available = _find_seeds(data_dir)[0] is not None if name == "seeds" else True
        rows.append(DatasetInfo(name, spec.n_samples, spec.n_features, spec.n_classes, spec.source, available))
    return rows


def cache_dir() -> Path:
    """The folder that downloaded data files go to.

    Returns
    -------
    Path
        ``$ADVCLUSTER_CACHE`` if set, else ``$XDG_CACHE_HOME/advcluster``, else
        ``~/.cache/advcluster``. It may not exist yet.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore a relative path
        return Path(xdg) / "advcluster"
    return Path.home() / ".cache" / "advcluster"


# ---------------------------------------------------------------------------- helpers
def _key(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}.")
    key = name.strip().lower()
    if key not in _SPECS:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(_SPECS)}.")
    return key


# name -> (scikit-learn loader, description)
_BUNDLED = {
    "iris": ("load_iris", "Fisher's Iris data (UCI id 53) as bundled with scikit-learn; CC BY 4.0."),
    "wine": ("load_wine", "UCI Wine data (UCI id 109) as bundled with scikit-learn; CC BY 4.0."),
    "breast-cancer": ("load_breast_cancer", "Breast Cancer Wisconsin (Diagnostic) data (UCI id 17) as bundled "
                      "with scikit-learn; CC BY 4.0."),
    "digits": ("load_digits", "Optical recognition of handwritten digits, test part (UCI id 80) as bundled with "
               "scikit-learn; CC BY 4.0."),
}


def _load_bundled(key, options):
    from sklearn import datasets as skd

    loader, description = _BUNDLED[key]
    kwargs = {}
    if key == "digits":
        n_class = options.get("n_class", _OPTIONS["digits"]["n_class"])
        if not is_integer(n_class) or not 1 <= n_class <= 10:
            raise ValueError(f"n_class must be an integer from 1 to 10, got {n_class!r}.")
        kwargs["n_class"] = int(n_class)
        if n_class != 10:
            description += f" Classes 0-{n_class - 1} only."
    bunch = getattr(skd, loader)(**kwargs)
    target_names = bunch.target_names[:kwargs["n_class"]] if "n_class" in kwargs else bunch.target_names
    return Dataset(
        name=key,
        data=np.asarray(bunch.data, dtype=np.float64),
        target=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(str(f) for f in bunch.feature_names),
        target_names=tuple(str(t) for t in target_names),
        description=description,
    )


# ------------------------------------------------------------------------------ seeds
def _find_seeds(data_dir):
    """(path of the file found or None, [(place, path looked at), ...])."""
    places = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir).expanduser() / SEEDS_FILE))
    env = os.environ.get(DATA_ENV)
    if env:
        places.append((f"${DATA_ENV}", Path(env).expanduser() / SEEDS_FILE))
    packaged = packaged_seeds()
    if packaged is not None:
        places.append(("packaged", packaged))
    places.append(("cache", cache_dir() / SEEDS_FILE))
    for _, path in places:
        if path.is_file():
            return path, places
    return None, places


def packaged_seeds() -> Path | None:
    """The Seeds file shipped with the package, or None when it is absent or hidden by
    ``$ADVCLUSTER_NO_PACKAGED_DATA`` (set to anything but empty or ``0``)."""
    if os.environ.get(NO_PACKAGED_ENV, "0") not in ("", "0"):
        return None
    path = Path(str(importlib.resources.files("advcluster") / "data" / SEEDS_FILE))
    return path if path.is_file() else None


def _load_seeds(data_dir, download):
    path, places = _find_seeds(data_dir)
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise OSError(f"{path}: cannot read the Seeds data ({exc.strerror or exc}).") from exc
        data, target = _parse_seeds(raw, str(path))
        where = str(path)
    else:
        cache = places[-1][1]
        if not download:
            raise _not_found(places, "$no_download")
        try:
            data, target = _download(SEEDS_URL, cache)
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, an unwritable cache
            raise _not_found(places, f"downloading {SEEDS_URL} failed: {_one_line(exc)}") from exc
        where = str(cache)
    return Dataset(
        name="seeds",
        data=data,
        target=target,
        feature_names=_SEEDS_FEATURES,
        target_names=_SEEDS_CLASSES,
        description=f"UCI Seeds data (id 236, Charytanowicz et al. 2010) from {where}; CC BY 4.0.",
    )


def _not_found(places, why):
    looked = ", ".join(f"{path} ({place})" for place, path in places)
    env_note = "" if os.environ.get(DATA_ENV) else f"; ${DATA_ENV} is not set"
    return DatasetNotFoundError(
        f"Seeds data file {SEEDS_FILE} not found; looked in {looked}{env_note}; {why}. "
        f"To provide it, set {DATA_ENV} to a folder holding {SEEDS_FILE}, $data_dir, "
        f"or $download from {SEEDS_URL}.",
        searched=[path for _, path in places],
        no_download="download=False", data_dir="pass data_dir=FOLDER", download="allow the download (download=True)",
    )


def _download(url, dest):
    """Fetch the Seeds file, check it, and write it to ``dest`` atomically; return the parsed arrays."""
    print(f"advcluster: downloading the Seeds data set (UCI, CC BY 4.0) from {url} to {dest}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
        raw = response.read(_MAX_BYTES + 1)
    if len(raw) > _MAX_BYTES:
        raise OSError(f"the server sent more than {_MAX_BYTES} bytes, not the Seeds file")
    parsed = _parse_seeds(raw, url)  # a corrupt download is a ValueError and never cached
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest, "wb") as fh:
        fh.write(raw)
    return parsed


def _parse_seeds(raw, source):
    """Parse and check the Seeds file's bytes; ``source`` names it in error messages.

    Fields are separated by any run of whitespace: the UCI file has doubled tabs on some lines.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source}: not a text file ({exc.reason} at byte {exc.start}).") from None
    width = len(_SEEDS_FEATURES) + 1
    rows, codes = [], []
    counts = {1: 0, 2: 0, 3: 0}
    for no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != width:
            raise ValueError(
                f"{source}: line {no} has {len(fields)} fields; {width} are needed "
                f"(7 features and the class 1, 2 or 3, separated by whitespace)."
            )
        values = []
        for j, field in enumerate(fields[:-1]):
            try:
                value = float(field)
            except ValueError:
                raise ValueError(
                    f"{source}: line {no}, field {j + 1} ({_SEEDS_FEATURES[j]}): {field!r} is not a number."
                ) from None
            if not math.isfinite(value):
                raise ValueError(
                    f"{source}: line {no}, field {j + 1} ({_SEEDS_FEATURES[j]}): {field!r} is not a finite number."
                )
            values.append(value)
        try:
            code = float(fields[-1])
        except ValueError:
            code = math.nan
        if code not in counts:
            raise ValueError(f"{source}: line {no}, field {width} (class): {fields[-1]!r} is not 1, 2 or 3.")
        code = int(code)
        counts[code] += 1
        if counts[code] > _SEEDS_PER_CLASS:
            raise ValueError(
                f"{source}: line {no} is row {counts[code]} of class {code} ({_SEEDS_CLASSES[code - 1]}); "
                f"the Seeds data has {_SEEDS_PER_CLASS} rows of each class."
            )
        rows.append(values)
        codes.append(code - 1)
        last = no
    if len(rows) != _SEEDS_ROWS:
        found = ", ".join(f"{counts[c]} of class {c}" for c in counts)
        end = f", the last on line {last}" if rows else ""
        raise ValueError(
            f"{source}: {len(rows)} data rows ({found}){end}; "
            f"the Seeds data has {_SEEDS_ROWS}, {_SEEDS_PER_CLASS} of each class 1, 2, 3."
        )
    return np.array(rows, dtype=np.float64), np.array(codes, dtype=np.int64)


# -------------------------------------------------------------------------- generators
def _generate(key, options):
    from sklearn import datasets as skd

    opts = {**_OPTIONS[key], **options}
    n_samples = _positive_int("n_samples", opts["n_samples"])
    random_state = opts["random_state"]
    if key == "moons":
        noise = _real("noise", opts["noise"], allow_zero=True)
        data, target = skd.make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
        feature_names, target_names = ("x0", "x1"), ("upper", "lower")
        call = f"make_moons(n_samples={n_samples}, noise={noise!r}, random_state={random_state!r})"
    else:
        centers, n_features = _centers(opts["centers"], opts["n_features"], "n_features" in options)
        n_centers = centers if isinstance(centers, int) else len(centers)
        cluster_std = _cluster_std(opts["cluster_std"], n_centers)
        data, target = skd.make_blobs(
            n_samples=n_samples,
            n_features=n_features,
            centers=centers,
            cluster_std=cluster_std,
            random_state=random_state,
        )
        feature_names = tuple(f"x{j}" for j in range(n_features))
        target_names = tuple(f"blob {k}" for k in range(n_centers))
        shown_centers = centers if isinstance(centers, int) else f"<{n_centers} given>"
        shown_std = cluster_std if isinstance(cluster_std, float) else "<one per centre>"
        call = (
            f"make_blobs(n_samples={n_samples}, centers={shown_centers}, n_features={n_features}, "
            f"cluster_std={shown_std}, random_state={random_state!r})"
        )
    return Dataset(
        name=key,
        data=np.asarray(data, dtype=np.float64),
        target=np.asarray(target, dtype=np.int64),
        feature_names=feature_names,
        target_names=target_names,
        description=f"Synthetic, scikit-learn {call}; no licence needed.",
    )


def _centers(centers, n_features, n_features_given):
    """(an int or a (k, d) array of centres, d)."""
    n_features = _positive_int("n_features", n_features)
    if is_integer(centers):
        return _positive_int("centers", centers), n_features
    try:
        arr = np.asarray(centers, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"centers must be a positive integer or a 2-D array of finite centres, got {centers!r}.")
    if n_features_given and arr.shape[1] != n_features:
        raise ValueError(f"centers has {arr.shape[1]} columns but n_features={n_features}.")
    return arr, arr.shape[1]


def _cluster_std(value, n_centers):
    if np.ndim(value) == 0:
        return _real("cluster_std", value, allow_zero=False)
    try:
        std = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        std = None
    if std is None or std.shape != (n_centers,) or not np.all(np.isfinite(std)) or not np.all(std > 0):
        raise ValueError(
            f"cluster_std must be a finite number > 0 or {n_centers} of them (one a centre), got {value!r}."
        )
    return std


def _positive_int(what, value):
    if not is_integer(value) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


def _real(what, value, allow_zero):
    ok = is_real(value) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{what} must be {need}, got {value!r}.")
    return float(value)


def _one_line(exc):
    return " ".join(str(exc).split())
