"""Running a study: the tasks not yet in the store, in parallel across tasks, each outcome
committed as it arrives; and the results as one tidy table.

Back-ends (joblib is the one parallel API): ``"serial"``; ``"loky"`` (processes on this
machine, the default); ``"dask"`` (``dask.distributed``: a running scheduler at ``scheduler``,
or a ``LocalCluster`` of ``workers`` processes). Tasks are the unit of parallel work: a task is
one attack, many lower-level fits, so shipping it to a worker costs little beside it. Results do
not depend on the back-end or the number of workers (:mod:`advcluster.sweep.tasks`).
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .backends import BACKENDS, check_backend, unordered
from .config import Study, load_config
from .store import Store
from .tasks import run_task

__all__ = ["BACKENDS", "SweepSummary", "WorkerLost", "export", "run"]

CACHE_FILE = "solves.sqlite"  # the lower-level answers, with cache = true


@dataclass
class SweepSummary:
    """What :func:`run` did. ``complete``: every task of the study is in the store."""

    store: Path
    tasks: int
    ran: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    dropped: int = 0  # results of another config's tasks deleted (force)
    took_over: str = ""
    errors: list = field(default_factory=list)  # "labels: error" of the tasks that failed in this run

    @property
    def complete(self) -> bool:
        return self.ran + self.cached == self.tasks

    def to_dict(self) -> dict:
        return dict(store=str(self.store), tasks=self.tasks, ran=self.ran, cached=self.cached, failed=self.failed,
                    seconds=self.seconds, complete=self.complete, dropped=self.dropped, errors=self.errors)

    def summary(self) -> str:
        lines = [f"{self.tasks} tasks: {self.ran} run now, {self.cached} already in the store, "
                 f"{self.failed} failed; {self.seconds:.1f} s. Results in {self.store}."]
        if self.dropped:
            lines.append(f"{self.dropped} result(s) of the store's earlier config that this one does not have "
                         "were deleted (--force).")
        if self.took_over:
            lines.append(f"Took over the store's lock from a run that is gone ({self.took_over}).")
        lines += [f"  failed: {e}" for e in self.errors[:10]]
        if len(self.errors) > 10:
            lines.append(f"  ... and {len(self.errors) - 10} more failures (see the exported table)")
        return "\n".join(lines)


def run(config, store, backend="loky", workers=None, scheduler=None, force=False, retry_failed=False,
        progress=True) -> SweepSummary:
    """Run the study ``config`` (a TOML path or text, a dict, or a :class:`Study`) into the store
    folder ``store``: the tasks already there are skipped (resumed), unless their outcome was a
    failure and ``retry_failed``.

    ``force``: a store holding another study's results is switched to this one, keeping the
    results of the tasks they share (otherwise refused).
    ``backend``: one of :data:`BACKENDS`; ``workers``: processes (default: the machine's CPUs for
    loky, 2 for a ``LocalCluster``); ``scheduler``: a ``dask.distributed`` address.
    ``progress``: a tqdm bar on stderr (only where stderr is a terminal).
    """
    study = config if isinstance(config, Study) else load_config(config)
    check_backend(backend, scheduler)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}.")
    from ..io import folder_lock

    t0 = time.perf_counter()
    folder = Path(store)
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder, "store") as took_over, Store(folder) as db:
        dropped = db.adopt(study, force)
        done = db.finished()
        todo = [t for t in study.tasks if t.key not in done or (retry_failed and done[t.key] == "failed")]
        summary = SweepSummary(folder, len(study.tasks), cached=len(study.tasks) - len(todo), dropped=dropped,
                               took_over=took_over)
        with _bar(len(study.tasks), summary.cached, progress) as bar:
            cache = str(folder / CACHE_FILE) if study.config.get("cache") else None
            for task, outcome in _guarded(_outcomes(todo, backend, workers, scheduler, cache), folder):
                db.put(task, outcome)
                summary.ran += 1
                if outcome["status"] == "failed":
                    summary.failed += 1
                    summary.errors.append(f"{_name(task.labels)}: {outcome['error']}")
                bar.update(1)
                bar.set_postfix(done=summary.ran, cached=summary.cached, failed=summary.failed, refresh=False)
    summary.seconds = time.perf_counter() - t0
    return summary


def _name(labels) -> str:
    return ", ".join(f"{k} {v}" for k, v in labels.items())


@contextlib.contextmanager
def _bar(total, initial, progress):
    from tqdm.auto import tqdm

    # disable=None: shown only where stderr is a terminal, so piped or logged output stays clean.
    bar = tqdm(total=total, initial=initial, desc="tasks", unit="task", file=sys.stderr,
               disable=None if progress else True, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


class WorkerLost(RuntimeError):
    """A worker process died (killed, out of memory); the finished tasks are in the store."""


def _guarded(outcomes, folder):
    """``outcomes``, with the death of a worker process said plainly (every task's own errors are
    outcomes already, so what reaches here is the machinery's)."""
    try:
        yield from outcomes
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except Exception as exc:  # noqa: BLE001 - joblib's TerminatedWorkerError, a lost Dask worker, ...
        first = " ".join(str(exc).split()).split(". ")[0]
        raise WorkerLost(f"a worker process stopped ({type(exc).__name__}: {first}); "
                         f"the finished tasks are in {folder}: run the same study again to resume") from exc


def _outcomes(todo, backend, workers, scheduler, cache=None):
    """``(task, outcome)`` as each task finishes (in any order)."""
    for i, outcome in unordered(run_task, [(t.spec, cache) for t in todo], backend, workers, scheduler):
        yield todo[i], outcome


def export(store, out) -> Path:
    """Write the store's results as one tidy table, a row per task in the study's order: CSV, or
    Parquet when ``out`` ends in ``.parquet`` (needs pyarrow). Written atomically."""
    out = Path(out)
    with Store(store, create=False) as db:
        rows = db.rows()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    table = {c: [r.get(c) for r in rows] for c in columns}
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("Parquet export needs pyarrow (pip install pyarrow); or export to a .csv file") from None
        from ..io import atomic_write

        def typed(values):  # one type per column: mixed numbers and words (budget "points") as text
            kinds = {type(v) for v in values if v is not None} - {bool}
            if str in kinds and len(kinds) > 1:
                return [None if v is None else str(v) for v in values]
            return values

        with atomic_write(out, "wb") as fh:
            pq.write_table(pa.table({c: typed(v) for c, v in table.items()}), fh)
        return out
    from ..io import write_table

    return write_table({c: ["" if v is None else v for v in vals] for c, vals in table.items()}, out)
