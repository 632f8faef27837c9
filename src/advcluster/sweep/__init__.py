"""Studies at scale: a TOML config of data sets x models x threat models x budgets x attacks x
seeds, run task by task into a results store that loses nothing, resumable, in parallel (loky)
or on a Dask cluster, with progress; the results as one tidy table.

    from advcluster import sweep
    summary = sweep.run("study.toml", store="results")     # again: resumes
    sweep.export("results", "results.csv")

The same from the command line: ``advcluster sweep study.toml --store results``.
"""

from .config import EXAMPLE, ConfigError, Study, Task, load_config
from .run import BACKENDS, SweepSummary, WorkerLost, export, run
from .store import Store, StoreError
from .tasks import boundary_rows, run_task

__all__ = ["BACKENDS", "EXAMPLE", "ConfigError", "Store", "StoreError", "Study", "SweepSummary", "Task",
           "WorkerLost", "boundary_rows", "export", "load_config", "run", "run_task"]
