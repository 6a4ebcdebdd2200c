"""Workloads that real Dask users run, each inside a worker process, so in the sandbox of
dask-worker.service: numba's @njit and @vectorize (JIT: writable+executable memory), a
ctypes callback (libffi), pyarrow compute and a scikit-learn fit.

Usage: python workloads.py WORKER [WORKER...]   (with the Dask configuration in DASK_CONFIG)
Prints {worker: {workload: {"ok": true, "value": ...} or {"ok": false, "error": "..."}}}.
Run as a script: its functions are then shipped to the workers by value."""
import json
import sys


def numba_njit():
    import numba
    import numpy as np

    @numba.njit(cache=False)
    def total(values):
        s = 0.0
        for v in values:
            s += v
        return s

    return float(total(np.arange(1000.0)))


def numba_vectorize():
    import numba
    import numpy as np

    @numba.vectorize(["float64(float64, float64)"])
    def hyp(a, b):
        return (a * a + b * b) ** 0.5

    return float(hyp(np.array([3.0]), np.array([4.0]))[0])


def ctypes_callback():
    import ctypes
    libc = ctypes.CDLL(None)
    compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))(
        lambda a, b: a[0] - b[0])
    values = (ctypes.c_int * 5)(5, 1, 4, 2, 3)
    libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), compare)
    return list(values)


def pyarrow_compute():
    import pyarrow as pa
    import pyarrow.compute as pc
    return pc.sum(pa.array([1, 2, 3, 4])).as_py()


def sklearn_fit():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    X, y = make_classification(n_samples=200, random_state=0)
    return round(float(LogisticRegression(max_iter=200).fit(X, y).score(X, y)), 2)


WORKLOADS = [numba_njit, numba_vectorize, ctypes_callback, pyarrow_compute, sklearn_fit]


def run_all():
    results = {}
    for workload in WORKLOADS:
        try:
            results[workload.__name__] = {"ok": True, "value": workload()}
        except BaseException as error:  # a killed JIT shows up here, not as a lost worker
            results[workload.__name__] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return results


if __name__ == "__main__":
    from distributed import Client
    with Client(timeout=60) as client:
        futures = {worker: client.submit(run_all, workers=[worker], allow_other_workers=False, pure=False)
                   for worker in sys.argv[1:]}
        print(json.dumps({worker: future.result(timeout=300) for worker, future in futures.items()}))
