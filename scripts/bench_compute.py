"""Compute benchmark that scripts/bench runs inside a client node (docker exec), so the deployed
cluster and the LocalCluster it is compared with are driven from the same place, on the same
CPUs, with the same Python environment.

    python bench_compute.py deployed --tasks 10000 --size 16000 --chunk 2000 --repeat 3
    python bench_compute.py local --workers 2 --threads 2 [--tls] ...

deployed: Client() with the node's /etc/dask configuration (the deployed cluster, mutual TLS).
local:    a LocalCluster with the given workers and threads per worker (worker processes with
          nannies, like the deployed workers); --tls makes it speak tls:// with the node's own
          certificate, the same encryption the deployed cluster pays for.
Prints one JSON object: tasks per second for no-op tasks (submission included) and GB/s of a
dask.array sum, best of --repeat, with every repetition kept.
"""

import argparse
import json
import os
import time


def noop(x):
    return x


def tiny_tasks(client, count):
    started = time.perf_counter()
    futures = client.map(noop, range(count), pure=False)
    client.gather(futures)
    seconds = time.perf_counter() - started
    del futures
    return count / seconds


def array_sum(size, chunk):
    import dask.array as da

    x = da.random.random((size, size), chunks=(chunk, chunk))
    started = time.perf_counter()
    x.sum().compute()
    seconds = time.perf_counter() - started
    return x.nbytes / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["deployed", "local"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--size", type=int, default=16000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    cluster = None
    if args.mode == "deployed":
        client = Client()
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                               protocol="tls://" if args.tls else "tcp://", dashboard_address=None)
        client = Client(cluster)
    with client:
        info = client.scheduler_info()
        threads = sorted(w["nthreads"] for w in info["workers"].values())
        client.run(lambda: None)  # warm every worker's connection
        tiny_tasks(client, min(args.tasks, 1000))  # warm-up, not recorded
        tasks = [tiny_tasks(client, args.tasks) for _ in range(args.repeat)]
        array = [array_sum(args.size, args.chunk) for _ in range(args.repeat)]
        result = {
            "mode": args.mode + ("-tls" if args.tls else ""),
            "scheduler": info["address"],
            "workers": len(threads),
            "threads": threads,
            "tiny_tasks": args.tasks,
            "tasks_per_s": max(tasks),
            "tasks_per_s_runs": tasks,
            "array_gb": args.size * args.size * 8 / 1e9,
            "array_chunk": args.chunk,
            "array_gb_per_s": max(array),
            "array_gb_per_s_runs": array,
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
        }
    if cluster is not None:
        cluster.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
