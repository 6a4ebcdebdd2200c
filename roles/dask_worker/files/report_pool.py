"""Worker preload: tell the scheduler which pool of workers this worker belongs to.

The pool (dask_worker_pools; "default" for the workers of dask_worker_count) comes from the
unit's environment, DASK_WORKER_POOL. It travels with what the worker reports when it
registers, so that the scheduler shows it in Client.scheduler_info()["workers"][address]
["pool"] and a plugin or a client can choose workers by pool.
"""

import os


def dask_setup(worker):
    pool = os.environ.get("DASK_WORKER_POOL", "default")
    worker.startup_information["pool"] = lambda _worker: pool
