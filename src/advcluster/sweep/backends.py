"""Where independent jobs run: in this process, in local processes (joblib's loky), or on a Dask
cluster through joblib (``pip install "advcluster[dask]"``). Used by studies, the audit and the
reproduction."""

from __future__ import annotations

import contextlib

__all__ = ["BACKENDS", "check_backend", "unordered"]

BACKENDS = ("loky", "dask", "serial")


def unordered(function, jobs, backend="loky", workers=None, scheduler=None):
    """``(i, function(*jobs[i]))`` for every job, as each finishes (in any order).

    ``serial``: one after the other, here; ``loky``: ``min(len(jobs), workers)`` processes
    (``workers`` as joblib's ``n_jobs``; default: every core), in this process when that is 1;
    ``dask``: a local cluster of ``workers`` processes (default 2), or the scheduler at
    ``scheduler``. ``function`` must be importable by the workers (a module's function)."""
    jobs = list(jobs)
    check_backend(backend, scheduler)
    if not jobs:
        return
    from joblib import Parallel, delayed, effective_n_jobs, parallel_config

    n_jobs = min(len(jobs), effective_n_jobs(-1 if workers is None else workers)) if backend == "loky" else 0
    if backend == "serial" or n_jobs == 1:
        for i, job in enumerate(jobs):
            yield i, function(*job)
        return
    calls = (delayed(_numbered)(function, i, job) for i, job in enumerate(jobs))
    if backend == "loky":
        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls)
        return
    with _dask_client(workers, scheduler) as client, parallel_config(backend="dask"):
        yield from Parallel(n_jobs=max(1, len(client.nthreads())), return_as="generator_unordered")(calls)


def check_backend(backend, scheduler=None):
    """A ValueError naming what is wrong with ``backend`` and ``scheduler``, if anything."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if scheduler is not None and backend != "dask":
        raise ValueError("a scheduler address applies to backend 'dask' only.")


def _numbered(function, i, job):
    return i, function(*job)


@contextlib.contextmanager
def _dask_client(workers, scheduler):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("backend 'dask' needs dask.distributed: pip install \"advcluster[dask]\"") from None
    if scheduler is not None:
        with Client(scheduler, timeout="20s") as client:
            yield client
        return
    with LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, Client(cluster) as client:
        yield client
