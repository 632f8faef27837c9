"""Files in and out: a data matrix from delimited text (CSV, TSV, whitespace) or NumPy ``.npy``;
tables written as CSV; every file written atomically.

One function, :func:`load_matrix`, shared by the command line subcommands. Every problem
with a file is a ``ValueError`` (or ``OSError`` for a missing or unreadable file) whose
message names the file, the line and the column. :func:`atomic_write` is how every file
advcluster writes reaches the disk: whole, or not at all. :func:`run_folder` holds an output
folder for one run: a lock against a second run, and the files of an earlier run removed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

from ._validation import is_integer

__all__ = ["load_matrix", "load_table", "write_table", "atomic_write", "run_folder", "RunFolder", "FolderInUseError"]

_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) and restored
os.umask(_UMASK)

_NPY_MAGIC = b"\x93NUMPY"
# Tried in this order when no delimiter is given; whitespace is the fallback.
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_LINES = 20


def load_matrix(path, columns=None, delimiter=None, header="infer") -> np.ndarray:
    """Read a numeric data matrix (rows are samples) from a ``.npy`` or delimited text file.

    Parameters
    ----------
    path : str or path-like
        A NumPy ``.npy`` file (recognised by its header, whatever the suffix) holding a
        numeric 1-D array (read as one column) or 2-D array; anything else is read as
        delimited text (UTF-8). In text files, blank lines and lines starting with ``#``
        are skipped, and every row must have the same number of fields.
    columns : sequence of int or str, optional
        Columns to keep, in this order: 0-based indices, or names from the header row.
        Default: all columns, which must then all be numeric. Unselected columns may hold
        anything (e.g. a class label).
    delimiter : str, optional
        One character separating the fields of a text file (``"\\t"`` or ``"tab"`` for a
        tab, ``" "`` or ``"whitespace"`` for runs of spaces and tabs). Default: the first
        of ``, TAB ; |`` that occurs the same number of times on each of the first lines,
        else whitespace. A file split by tabs into rows of unequal length, but by runs of
        whitespace into rows of equal length (irregular runs of tabs), is read as
        whitespace-separated.
    header : {"infer", True, False}, default="infer"
        Whether the first row of a text file holds column names. ``"infer"``: it does when
        some column is non-numeric in the first row but numeric in the second.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64
        Finite values only.

    Raises
    ------
    ValueError
        A value that is not a number (naming the column and the line), a missing value,
        NaN or infinity, rows of different lengths, an unknown column, an empty file.
    OSError
        The file does not exist or cannot be read.
    """
    return load_table(path, columns, delimiter, header)[0]


def load_table(path, columns=None, delimiter=None, header="infer") -> tuple[np.ndarray, list | None]:
    """:func:`load_matrix` and the names of the columns it kept.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    names : list of str, or None
        The header's names of the selected columns, in order (``""`` for an unnamed one);
        None for a ``.npy`` file or a text file without a header row.
    """
    path = Path(path)
    if header not in ("infer", True, False):
        raise ValueError(f"header must be 'infer', True or False, got {header!r}.")
    if columns is not None:
        if isinstance(columns, (str, int)):
            columns = [columns]
        columns = list(columns)
        if not columns:
            raise ValueError("columns is empty; give at least one column, or None for all columns.")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a data file")
    with open(path, "rb") as fh:
        magic = fh.read(len(_NPY_MAGIC))
    if magic == _NPY_MAGIC:
        return _load_npy(path, columns), None
    if path.suffix.lower() == ".npy":
        raise ValueError(f"{path}: not a NumPy .npy file (no .npy header).")
    return _load_text(path, columns, _delimiter(delimiter), header)


# ---------------------------------------------------------------------- .npy
def _load_npy(path, columns):
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read as a .npy array ({_one_line(exc)}).") from None
    if arr.dtype.names is not None or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool
    ):
        raise ValueError(f"{path}: holds {arr.dtype} values; a numeric (integer or float) array is needed.")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{path}: holds a {arr.ndim}-D array of shape {arr.shape}; a 1-D or 2-D array is needed.")
    if columns is not None:
        idx = [_npy_column(c, arr.shape[1], path) for c in columns]
        arr = arr[:, idx]
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{path}: the array is empty (shape {arr.shape}).")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        what = "NaN" if np.isnan(arr[r, c]) else "an infinite value"
        raise ValueError(f"{path}: {what} at row {r}, column {c}; remove or impute it.")
    return arr


def _npy_column(c, ncols, path):
    if isinstance(c, str):
        if not c.strip().isdigit():
            raise ValueError(
                f"{path}: a .npy file has no column names; select columns by 0-based index, not {c!r}."
            )
        c = int(c)
    if not is_integer(c) or not 0 <= c < ncols:
        raise ValueError(f"{path}: no column {c!r}; the array has columns 0..{ncols - 1}.")
    return int(c)


# ---------------------------------------------------------------------- text
def _delimiter(delimiter):
    if delimiter is None:
        return None
    if not isinstance(delimiter, str):
        raise ValueError(f"delimiter must be a string, got {delimiter!r}.")
    named = {"\\t": "\t", "tab": "\t", "whitespace": " ", "space": " "}
    d = named.get(delimiter.lower(), delimiter)
    if len(d) != 1 or d in "\r\n\"'#" or d.isalnum() or d in ".-+":
        raise ValueError(
            f"delimiter must be one character such as ',' ';' '|' or 'tab' (not a digit, letter, "
            f"quote, '.', '-', '+' or '#'), got {delimiter!r}."
        )
    return d


def _read_lines(path):
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file, nor a .npy file.") from None
    # (line number, text) of every line that holds data
    return [
        (no, line)
        for no, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _sniff(lines):
    sample = [line for _, line in lines[:_SNIFF_LINES]]
    # Same count on every line first; then present on every line (ragged rows are reported
    # against the right delimiter); then whitespace.
    for d in _DELIMITERS:
        counts = {line.count(d) for line in sample}
        if len(counts) == 1 and counts.pop() > 0:
            return d
    for d in _DELIMITERS:
        if all(d in line for line in sample):
            return d
    return " "


def _split(lines, delimiter, path):
    if delimiter == " ":
        rows = [line.split() for _, line in lines]
    else:
        reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)), delimiter=delimiter)
        try:
            rows = [[f.strip() for f in row] for row in reader]
        except csv.Error as exc:
            raise ValueError(f"{path}: cannot split the lines with delimiter {delimiter!r} ({exc}).") from None
        if len(rows) != len(lines):  # a quoted field spanning lines
            raise ValueError(f"{path}: a quoted field spans several lines; one sample per line is needed.")
    width = len(rows[0])
    for (no, _), row in zip(lines, rows):
        if len(row) != width:
            raise ValueError(
                f"{path}: line {no} has {len(row)} fields but line {lines[0][0]} has {width} "
                f"(delimiter {_show(delimiter)}); every row needs the same number of fields."
            )
    return rows


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _has_header(rows):
    if len(rows) == 1:
        return not all(_is_number(f) for f in rows[0])
    return any(not _is_number(a) and _is_number(b) for a, b in zip(rows[0], rows[1]))


def load_ids(path, column, delimiter=None, header="infer"):
    """The column ``column`` (a name or 0-based index) of a text data file as text, for row ids:
    ``(ids, name, index, width)`` with ``name`` the header's (or ``"id"``) and ``width`` the
    number of columns. Rows are the same as :func:`load_table`'s."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        raise ValueError(f"{path}: a .npy file holds numbers only; row ids need a text column (CSV)")
    rows, _, names, _ = _rows(path, _delimiter(delimiter), header)
    width = len(rows[0])
    j = _text_column(column, names, width, path)
    return [row[j] for row in rows], (names[j] if names is not None and names[j] else "id"), j, width


def _rows(path, delimiter, header):
    """``(rows, lines, names, delimiter)`` of a text file: its data rows split into fields, their
    ``(line number, text)``, the header's names (or None) and the delimiter used."""
    lines = _read_lines(path)
    if not lines:
        raise ValueError(f"{path}: the file holds no data.")
    if delimiter is None:
        delimiter = _sniff(lines)
        try:
            rows = _split(lines, delimiter, path)
        except ValueError:
            # Irregular runs of tabs (e.g. the UCI Seeds file doubles some): if splitting on
            # any run of whitespace gives rows of equal length, that is the file's layout.
            if delimiter != "\t":
                raise
            rows = [line.split() for _, line in lines]
            if len({len(row) for row in rows}) != 1:
                raise
            delimiter = " "
    else:
        rows = _split(lines, delimiter, path)
    if header == "infer":
        header = _has_header(rows)
    names = rows[0] if header else None
    if header:
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise ValueError(f"{path}: the file holds a header row but no data rows.")
    return rows, lines, names, delimiter


def _load_text(path, columns, delimiter, header):
    rows, lines, names, delimiter = _rows(path, delimiter, header)
    width = len(rows[0])
    idx = list(range(width)) if columns is None else [_text_column(c, names, width, path) for c in columns]
    out = np.empty((len(rows), len(idx)))
    for k, j in enumerate(idx):
        out[:, k] = _parse_column(rows, lines, j, names, width, delimiter, path)
    return out, (None if names is None else [names[j] for j in idx])


def _text_column(c, names, width, path):
    if isinstance(c, str):
        if names is not None and c in names:
            if names.count(c) > 1:
                raise ValueError(f"{path}: several columns are named {c!r}; select them by 0-based index.")
            return names.index(c)
        if c.strip().isdigit():
            c = int(c)
        else:
            known = f"the columns are {', '.join(map(repr, names))}" if names is not None else (
                "the file has no header row; select columns by 0-based index"
            )
            raise ValueError(f"{path}: no column named {c!r}; {known}.")
    if not is_integer(c) or not 0 <= c < width:
        raise ValueError(f"{path}: no column {c!r}; the file has columns 0..{width - 1}.")
    return int(c)


def _parse_column(rows, lines, j, names, width, delimiter, path):
    fields = [row[j] for row in rows]
    try:
        values = np.array(fields).astype(np.float64)
    except ValueError:
        values = None
    if values is not None and np.all(np.isfinite(values)):
        return values
    label = f"column {j}" if names is None or not names[j] else f"column {names[j]!r} (index {j})"
    for (no, _), field in zip(lines, fields):
        if field == "":
            raise ValueError(f"{path}: {label} has a missing value on line {no}; remove or impute it.")
        if not _is_number(field):
            hint = ""
            others = [d for d in (*_DELIMITERS, " ") if d != delimiter and d in field]
            if width == 1 and others:
                hint = f" (is {_show(others[0])} the delimiter?)"
            raise ValueError(
                f"{path}: {label} is not numeric: line {no} has {field!r}"
                + (hint if hint else "; select numeric columns only")
                + "."
            )
        v = float(field)
        if not np.isfinite(v):
            what = "NaN" if np.isnan(v) else "an infinite value"
            raise ValueError(f"{path}: {label} has {what} on line {no}; remove or impute it.")
    return np.array([float(f) for f in fields])  # numpy and Python disagreed on a spelling


def _show(delimiter):
    return {"\t": "tab", " ": "whitespace"}.get(delimiter, repr(delimiter))


def _one_line(exc):
    return " ".join(str(exc).split())


def _cell(v):
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


def write_table(table: dict, path) -> Path:
    """Write a tidy table (column name -> equal-length values) as CSV: one header row, then rows.

    Booleans are written 1/0 and floats with all their digits (``repr``).
    """
    path = Path(path)
    cols = list(table)
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for row in zip(*(table[c] for c in cols)):
            w.writerow([_cell(v) for v in row])
    return path


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **open_kw):
    """Open a temporary file beside ``path`` for writing; when the block ends without error, it
    is flushed to disk and renamed onto ``path`` (atomic on POSIX and Windows), so an interrupt
    or a failure leaves the old file, or none, never a partial one. ``mode``: ``"w"`` or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes a new file: mode must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # the permissions open() would give, not mkstemp's 0600
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class FolderInUseError(OSError):
    """Another run holds the output folder (its lock file names it)."""


LOCK_FILE = ".advcluster.lock"
MANIFEST_FILE = ".advcluster-manifest.json"


class RunFolder:
    """An output folder held by one run (:func:`run_folder`).

    Attributes
    ----------
    path : Path
    removed : list of str
        Files an earlier run wrote there and this one did not (deleted when the run ends).
    foreign : list of str
        Files no run wrote (kept, listed).
    took_over : str
        The stale lock found on entry (a run that is gone), or ``""``.
    """

    def __init__(self, path: Path):
        self.path = path
        self.written: set[str] = set()
        self.removed: list[str] = []
        self.foreign: list[str] = []
        self.took_over = ""

    def wrote(self, *paths):
        """Record files this run wrote (inside the folder)."""
        for p in paths:
            rel = Path(os.path.relpath(Path(p).resolve(), self.path.resolve()))
            if rel.parts[:1] == ("..",) or rel.is_absolute():
                raise ValueError(f"{p} is outside the run's folder {self.path}.")
            self.written.add(rel.as_posix())

    def _files(self) -> set[str]:
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                if p.is_file() and not p.name.startswith(".advcluster") and not p.name.endswith(".part")}

    def _finish(self):
        """Delete what the previous run wrote and this one did not; list the rest; new manifest."""
        manifest = self.path / MANIFEST_FILE
        earlier = []
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            earlier = json.loads(manifest.read_text())["files"]
        if not isinstance(earlier, list):
            earlier = []
        root = self.path.resolve()
        for rel in sorted({f for f in earlier if isinstance(f, str)} - self.written):
            target, where = self.path / rel, (self.path / rel).parent.resolve()
            # An edited manifest reaches no file outside the folder, no folder, nor the lock.
            if (where != root and root not in where.parents) or target.name in (LOCK_FILE, MANIFEST_FILE) \
                    or not (target.is_file() or target.is_symlink()):
                continue
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
                self.removed.append(rel)
        self.foreign = sorted(self._files() - self.written)
        with atomic_write(manifest) as fh:
            json.dump({"files": sorted(self.written), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, fh, indent=1)


def _lock_owner(lock: Path):
    """``(pid, host, text)`` of a lock file, or None when it cannot be read."""
    try:
        info = json.loads(lock.read_text())
        return int(info["pid"]), str(info["host"]), f"pid {info['pid']} on {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def folder_lock(folder: Path, what: str = "output folder"):
    """Hold ``folder`` for this process: ``with folder_lock(path) as took_over: ...``.

    A lock file (``.advcluster.lock``, with the pid, host and start time) is created on entry;
    while another live process on this host holds it, :class:`FolderInUseError` is raised,
    naming it. A lock left by a process that is gone is taken over (``took_over`` names it,
    else ``""``). The lock is always released.
    """
    lock = folder / LOCK_FILE
    host = socket.gethostname()
    stamp = json.dumps({"pid": os.getpid(), "host": host, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    # The lock appears whole or not at all: written aside, then linked into place (which fails
    # if it exists), so a reader never sees an empty lock.
    fd, tmp = tempfile.mkstemp(prefix=f"{LOCK_FILE}.", suffix=".part", dir=folder)
    with os.fdopen(fd, "w") as fh:
        fh.write(stamp)
    took_over = ""
    try:
        for _ in range(2):
            try:
                os.link(tmp, lock)
                break
            except FileExistsError:
                owner = _lock_owner(lock)
                if owner is not None and (owner[1] != host or _alive(owner[0])):
                    raise FolderInUseError(
                        f"the {what} {folder} is in use by another run ({owner[2]}); wait for it to end or "
                        f"choose another {what} (if that run is gone, delete {lock})") from None
                took_over = owner[2] if owner else "an unreadable lock file"
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        else:  # pragma: no cover - a third run took the lock between our unlink and our link
            raise FolderInUseError(f"the {what} {folder} was taken by another run; try again")
    finally:
        os.unlink(tmp)
    try:
        yield took_over
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


@contextlib.contextmanager
def run_folder(path):
    """Hold the folder ``path`` for one run: ``with run_folder(out) as folder: ... folder.wrote(f)``.

    The folder is locked for the run (:func:`folder_lock`). When the block ends normally, the
    files that the previous run listed in ``.advcluster-manifest.json`` and this run did not
    write are deleted (``folder.removed``), files no run wrote are listed (``folder.foreign``)
    and never touched, and the manifest lists this run's files. When the block fails or is
    interrupted, nothing is deleted and the earlier manifest stays.
    """
    folder = RunFolder(Path(path))
    folder.path.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder.path) as took_over:
        folder.took_over = took_over
        yield folder
        folder._finish()
