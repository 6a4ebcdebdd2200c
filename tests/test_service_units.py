"""The rendered systemd units of the scheduler and the worker (the shared skeleton of
dask_cluster): the worker may make executable memory for JIT compilers unless the strict
profile is asked for, the scheduler never; the worker's own connect timeout; a pool's
worker runs with its pool's settings."""

import sys

import pytest

from conftest import ansible_playbook, valid_inventory

VARIANTS = {"default": {}, "strict": {"dask_worker_allow_jit": "false"}, "pool": {}}
# The "pool" variant's worker is in the group of this pool, whose settings win over its own.
POOLS = {"big": {"count": 1, "nthreads": 1, "nworkers": 2, "memory_limit": "6GiB", "resources": {"BIG": 1, "GPU": 0.5}}}


def directives(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("units")
    inventory = valid_inventory()
    workers = inventory["all"]["children"]["dask_workers"]["hosts"]
    workers["w3"] = {}
    inventory["all"]["children"]["dask_workers"]["children"] = {"dask_pool_big": {"hosts": {"w3": {}}}}
    inventory["all"]["vars"] = {"dask_worker_pools": POOLS, "dask_worker_nthreads": 4, "dask_worker_resources": {"SMALL": 1}}
    for (name, variables), host in zip(VARIANTS.items(), sorted(workers)):
        (workdir / name).mkdir()
        workers[host].update({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                              "render_dir": str(workdir / name), **variables})
    rc, output = ansible_playbook("tests/playbooks/render-units.yml", inventory, workdir)
    assert rc == 0, output
    return {name: {unit: (workdir / name / f"{unit}.service").read_text() for unit in ("dask-worker", "dask-scheduler")}
            for name in VARIANTS}


def test_the_worker_allows_jit_memory_by_default_and_the_scheduler_never(units):
    worker, scheduler = directives(units["default"]["dask-worker"]), directives(units["default"]["dask-scheduler"])
    assert worker["MemoryDenyWriteExecute"] == "no"
    assert scheduler["MemoryDenyWriteExecute"] == "yes"
    # Everything else of the shared sandbox is the same in both.
    shared = {"NoNewPrivileges", "ProtectSystem", "PrivateDevices", "SystemCallFilter", "RestrictNamespaces", "ProtectProc"}
    assert {key: worker[key] for key in shared} == {key: scheduler[key] for key in shared}
    assert worker["ProtectSystem"] == "strict" and worker["NoNewPrivileges"] == "yes"


def test_the_strict_profile_denies_jit_memory_to_the_worker(units):
    assert directives(units["strict"]["dask-worker"])["MemoryDenyWriteExecute"] == "yes"


def test_only_the_worker_has_the_short_connect_timeout(units):
    worker = units["default"]["dask-worker"]
    assert "Environment=DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s\n" in worker
    assert "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT" not in units["default"]["dask-scheduler"]
    assert worker.count("MemoryDenyWriteExecute=") == 1


def test_a_pools_worker_runs_with_the_pools_settings_and_reports_its_pool(units):
    pool, default = units["pool"]["dask-worker"], units["default"]["dask-worker"]
    assert "--nworkers 2" in pool and "--nthreads 1" in pool and "--memory-limit 6GiB" in pool
    assert '--resources "BIG=1 GPU=0.5"' in pool and "SMALL" not in pool
    assert "Environment=DASK_WORKER_POOL=big\n" in pool
    # The default pool's worker: the dask_worker_* settings, and the pool "default".
    assert "--nworkers 1" in default and "--nthreads 4" in default and '--resources "SMALL=1"' in default
    assert "Environment=DASK_WORKER_POOL=default\n" in default
    assert all("--preload /etc/dask/report_pool.py" in unit for unit in (pool, default))
