"""Sweep benchmark: what the results store costs per task, and how close parallel runs come to
the ideal time, with loky and with a Dask LocalCluster, against a serial run in the same process.

Tasks: small real attacks (K-means on 60 blobs, random search with two evaluations, one seed
each), so that a task takes about 10 ms: the regime where per-task overheads show.

    python benchmarks/sweep.py                # 1,000 tasks, 2 workers
    python benchmarks/sweep.py --tasks 200    # quicker
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import header

from advcluster import sweep
from advcluster.sweep.store import Store


def config(n_tasks):
    return dict(problem="bl1", deviation="ari", max_evals=2, seeds=list(range(n_tasks)), attacks=["random"],
                datasets=[dict(name="blobs", options=dict(n_samples=60, centers=3))],
                models=[dict(name="kmeans", n_clusters=3, n_init=1)],
                threats=[dict(kind="rows", share=0.05, budgets=[0.25], label="rows 5%")])


def store_cost(study, folder):
    """Seconds per committed task (Store.put, one transaction each), and for the lookup of what
    is done, over the study's tasks with a real outcome."""
    outcome = sweep.run_task(study.tasks[0].spec)
    with Store(folder) as db:
        db.adopt(study)
        t = time.perf_counter()
        for task in study.tasks:
            db.put(task, outcome)
        put = (time.perf_counter() - t) / len(study.tasks)
        t = time.perf_counter()
        done = db.finished()
        lookup = time.perf_counter() - t
    assert len(done) == len(study.tasks)
    return put, lookup


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    header()
    study = sweep.load_config(config(args.tasks))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        put, lookup = store_cost(study, tmp / "store-cost")
        print(f"\nstore: {put * 1e3:.3f} ms per committed task; finding the {len(study.tasks)} done tasks "
              f"{lookup * 1e3:.1f} ms\n")
        sweep.run_task(study.tasks[0].spec)  # imports and data loaded before timing
        t = time.perf_counter()
        for task in study.tasks:
            sweep.run_task(task.spec)
        work = time.perf_counter() - t
        ideal = work / args.workers
        print(f"{len(study.tasks)} tasks, {work / len(study.tasks) * 1e3:.1f} ms each when called directly "
              f"(sum {work:.2f} s); ideal on {args.workers} workers: {ideal:.2f} s\n")
        print("| run | wall s | / ideal | second run (all done) s |")
        print("|---|---|---|---|")
        runs = [("serial (through the store)", "serial", None), (f"loky, {args.workers} workers", "loky", args.workers),
                (f"dask LocalCluster, {args.workers} workers (start-up included)", "dask", args.workers)]
        runs.append((f"dask, a running LocalCluster of {args.workers} workers (start-up excluded)", "dask-running",
                     args.workers))
        for name, backend, workers in runs:
            folder = tmp / backend
            scheduler, cluster = None, None
            if backend == "dask-running":
                try:
                    from dask.distributed import LocalCluster
                except ImportError as exc:
                    print(f"| {name} | not run: {exc} | | |")
                    continue
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
                backend, scheduler = "dask", cluster.scheduler_address
            t = time.perf_counter()
            try:
                summary = sweep.run(study, folder, backend=backend, workers=workers, scheduler=scheduler,
                                    progress=False)
            except ImportError as exc:
                print(f"| {name} | not run: {exc} | | |")
                continue
            wall = time.perf_counter() - t
            assert summary.complete and summary.failed == 0
            t = time.perf_counter()
            again = sweep.run(study, folder, backend=backend, workers=workers, scheduler=scheduler, progress=False)
            second = time.perf_counter() - t
            assert again.ran == 0
            base = work if backend == "serial" else ideal
            print(f"| {name} | {wall:.2f} | {wall / base:.2f} | {second:.3f} |", flush=True)
            if cluster is not None:
                cluster.close()


if __name__ == "__main__":
    main()
