"""A study's results on disk: one SQLite file (standard library), one writer, nothing lost.

The driver is the only writer; it commits each task's outcome in its own transaction as soon
as it arrives, so an interrupt at any moment (Ctrl-C, SIGTERM, SIGKILL, a dead worker) loses at
most the tasks in flight, and SQLite's journal keeps the file whole. The folder is locked while
a study runs (:func:`advcluster.io.folder_lock`): two runs cannot write one store.

Tables: ``meta`` (the study's config and fingerprint, the format's version) and ``tasks`` (a row
per finished task: key, position, labels, status, result, error, seconds, when).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

from .._records import plain

__all__ = ["Memo", "Store", "StoreError", "STORE_FILE"]

STORE_FILE = "results.sqlite"
FORMAT = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY, position INTEGER NOT NULL, labels TEXT NOT NULL, status TEXT NOT NULL,
    result TEXT, error TEXT NOT NULL, seconds REAL NOT NULL, finished TEXT NOT NULL);
"""


class StoreError(ValueError):
    """A store that cannot be used as it is (another study's, unreadable); nothing was changed."""


class _SQLite:
    """One SQLite file opened for one writer: autocommit (each statement, or BEGIN ... COMMIT, is a
    transaction), write-ahead log (a commit is one append, readers never block, and with
    ``synchronous=NORMAL`` a commit survives a killed process); a context manager."""

    what = "file"  # what the file is, for the error that names it
    remedy = "move it aside"

    def _open(self, schema, timeout):
        try:
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(schema)
        except sqlite3.DatabaseError as exc:
            self._unusable(exc)

    def _unusable(self, exc):
        if getattr(self, "db", None) is not None:
            with contextlib.suppress(Exception):
                self.db.close()
        raise StoreError(f"{self.path} is not a readable advcluster {self.what} ({exc}); nothing was changed: "
                         f"{self.remedy}") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.db.close()


class Store(_SQLite):
    """The results store in ``folder`` (created when ``create``); use as a context manager."""

    what, remedy = "results store", "move it aside or choose another --store"

    def __init__(self, folder, create=True):
        self.folder = Path(folder)
        self.path = self.folder / STORE_FILE
        if not self.path.exists():
            if not create:
                raise StoreError(f"no results store in {self.folder} (no {STORE_FILE}); run a study with "
                                 f"--store {self.folder} first")
            self.folder.mkdir(parents=True, exist_ok=True)
        self._open(_SCHEMA, timeout=30.0)
        try:
            fmt = self.meta("format")
        except sqlite3.DatabaseError as exc:
            self._unusable(exc)
        if fmt is None:
            self._set("format", FORMAT)
        elif fmt != FORMAT:
            raise StoreError(f"{self.path} is in store format {fmt}, this advcluster writes {FORMAT}; "
                             "choose another --store")

    # -- the study it holds
    def meta(self, name):
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def _set(self, name, value):
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def adopt(self, study, force=False) -> int:
        """Hold ``study``: the first time, record its config; for the same study, keep every
        result; for another, refuse (:class:`StoreError`) unless ``force``, which records the
        new config, keeps the results of the tasks the two share (the same key is the same
        computation) and deletes the others. Returns how many results were deleted."""
        held = self.meta("fingerprint")
        if held == study.fingerprint:
            return 0
        if held is not None and not force:
            raise StoreError(f"the store {self.folder} holds the results of another config ({self.meta('source')}, "
                             f"which differs from {study.source}); use --force to switch it to this config "
                             "(results of unchanged tasks are kept, the others deleted), or choose another --store")
        keep = {t.key for t in study.tasks}
        try:
            self.db.execute("BEGIN")
            stale = [k for (k,) in self.db.execute("SELECT key FROM tasks") if k not in keep]
            self.db.executemany("DELETE FROM tasks WHERE key = ?", [(k,) for k in stale])
            self._set("fingerprint", study.fingerprint)
            self._set("source", study.source)
            self._set("config", json.dumps(study.config, sort_keys=True))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(stale)

    # -- results
    def finished(self) -> dict:
        """key -> status of every recorded task."""
        try:
            return dict(self.db.execute("SELECT key, status FROM tasks"))
        except sqlite3.DatabaseError as exc:
            self._unusable(exc)

    def put(self, task, outcome):
        """Commit one task's outcome (one transaction)."""
        result = None if outcome["result"] is None else json.dumps(plain(outcome["result"]), allow_nan=True)
        self.db.execute("INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (task.key, task.position, json.dumps(plain(task.labels)), outcome["status"], result,
                         outcome["error"], float(outcome["seconds"]), time.strftime("%Y-%m-%dT%H:%M:%S%z")))

    def rows(self) -> list[dict]:
        """A dict per recorded task, in the study's order: labels, status, error, result, seconds."""
        try:
            cur = self.db.execute("SELECT key, labels, status, result, error, seconds FROM tasks ORDER BY position")
            out = []
            for key, labels, status, result, error, seconds in cur:
                out.append(dict(**json.loads(labels), status=status, error=error,
                                **(json.loads(result) if result else {}), seconds=seconds, key=key))
            return out
        except sqlite3.DatabaseError as exc:
            self._unusable(exc)


class Memo(_SQLite):
    """Answers kept on disk by key: ``memo.get(key)`` (None when absent), ``memo.put(key, value)``.

    One SQLite file; values are pickled (they are this package's own results, read back only by
    it; never open a memo from an untrusted source). Each put is its own transaction, so an
    interrupt keeps every answer already put. Used by ``reproduce`` to resume an interrupted
    run, and by the lower levels' persistent cache of solves.
    """

    what, remedy = "cache", "move it aside or delete it"

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open("CREATE TABLE IF NOT EXISTS memo (key TEXT PRIMARY KEY, value BLOB NOT NULL);", timeout=60.0)

    def get(self, key):
        import pickle

        row = self.db.execute("SELECT value FROM memo WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return pickle.loads(row[0])
        except Exception:  # noqa: BLE001 - written by another version: recompute
            return None

    def put(self, key, value):
        import pickle

        self.db.execute("INSERT OR REPLACE INTO memo VALUES (?, ?)", (key, pickle.dumps(value, protocol=4)))
