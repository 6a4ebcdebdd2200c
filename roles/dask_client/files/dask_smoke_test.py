"""The classic Dask walkthrough, run against a cluster.

Usage: dask-smoke-test [--restart] [--workers N] [SCHEDULER_ADDRESS]

Without an address it connects with Client() and no arguments (the address comes from
/etc/dask on client nodes). Runs map/submit/gather/as_completed, a dask.array reduction
on the cluster, checks that a released future disappears and that every process (the
scheduler, each worker process and this client) has the same installed packages at the same
versions, naming the package and the process that differ; with --restart also restart()
(which restarts every worker and drops every result any client holds: never on a cluster in
use, so verify.yml leaves it out). With --workers it first waits, up to two minutes, until N
workers are connected (machines that just booted join a little after their scheduler). Prints
one JSON object; exits 1 when any check fails.
"""

import argparse
import json
import platform
import re
import sys
import time
from importlib.metadata import distributions

import dask.array as da
from distributed import Client, as_completed, get_task_stream


def square(x):
    return x**2


def neg(x):
    return -x


def key_known_to_scheduler(dask_scheduler, key):
    return key in dask_scheduler.tasks


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


# What a virtualenv brings before anything is installed into it: not part of the lock.
VENV_TOOLS = ("pip", "setuptools", "wheel")


def installed_packages():
    """Every installed distribution and its version, and Python by major.minor only (a laptop
    on another patch release can still use the cluster: pickles follow the minor version)."""
    packages = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
                for d in distributions() if d.metadata["Name"]}
    for tool in VENV_TOOLS:
        packages.pop(tool, None)
    packages["python"] = ".".join(platform.python_version_tuple()[:2])
    return packages


def version_mismatches(client, workers, mine):
    """['<process>: <package> <its version> (client: <version>)', ...] for every difference
    from mine, this client's installed_packages(). A GPU worker (it runs dask-cuda, which the
    client lacks) holds more than the client: what the client has must match there."""
    theirs = {"scheduler": client.run_on_scheduler(installed_packages)}
    for address, packages in client.run(installed_packages).items():
        theirs[f"worker {workers[address].get('name', address)}"] = packages
    return [
        f"{process}: {name} {packages.get(name, 'missing')} (client: {mine.get(name, 'missing')})"
        for process, packages in sorted(theirs.items())
        for name in sorted(set(mine) if "dask-cuda" in packages and "dask-cuda" not in mine else set(packages) | set(mine))
        if packages.get(name) != mine.get(name)
    ]


def main(argv):
    started = time.monotonic()
    report = {"checks": {}}
    checks = report["checks"]
    parser = argparse.ArgumentParser(prog="dask-smoke-test")
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("address", nargs="?")
    args = parser.parse_args(argv[1:])
    restart = args.restart
    client = Client(args.address, timeout="60s")
    report["scheduler"] = client.scheduler.address
    report["encrypted"] = client.scheduler.address.startswith("tls://")
    wait_until(lambda: len(client.scheduler_info()["workers"]) >= args.workers, timeout=120)
    workers = client.scheduler_info()["workers"]
    report["workers"] = len(workers)
    checks["has_workers"] = len(workers) > 0

    squares = client.map(square, range(10))
    negatives = client.map(neg, squares)
    total = client.submit(sum, negatives)
    report["total"] = total.result()
    checks["total_is_-285"] = report["total"] == -285

    completed = [future.result() for future in as_completed(squares)]
    checks["as_completed_yields_all"] = sorted(completed) == [x**2 for x in range(10)]
    checks["gather"] = client.gather(negatives) == [-(x**2) for x in range(10)]

    array = da.random.random(10_000_000, chunks=1_000_000)
    with get_task_stream(client) as stream:
        array_sum = float(array.sum().compute())
    report["array_sum"] = array_sum
    report["array_tasks_on_cluster"] = len(stream.data)
    checks["array_sum_near_5e6"] = abs(array_sum - 5_000_000) < 50_000
    checks["array_ran_on_cluster"] = len(stream.data) >= 10

    released_key = total.key
    del total
    checks["released_future_forgotten"] = wait_until(
        lambda: not client.run_on_scheduler(key_known_to_scheduler, key=released_key)
    )

    mine = installed_packages()
    report["versions"] = {name: mine.get(name) for name in ("python", "dask", "distributed")}
    report["packages_compared"] = len(mine)
    report["version_mismatches"] = version_mismatches(client, workers, mine)
    checks["versions_match"] = not report["version_mismatches"]

    if restart:
        del squares, negatives
        client.restart()
        checks["workers_back_after_restart"] = wait_until(
            lambda: len(client.scheduler_info()["workers"]) == len(workers), timeout=120
        )
        checks["computes_after_restart"] = client.submit(square, 12).result() == 144

    client.close()
    report["seconds"] = round(time.monotonic() - started, 2)
    report["ok"] = all(checks.values())
    print(json.dumps(report, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
