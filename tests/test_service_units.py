"""The rendered systemd units of the scheduler and the worker (the shared skeleton of
dask_cluster): the worker may make executable memory for JIT compilers unless the strict
profile is asked for, the scheduler never; the worker's own connect timeout; a pool's
worker runs with its pool's settings; a GPU pool's worker runs dask-cuda with the NVIDIA
devices and no others."""

import sys

import pytest

from conftest import ansible_playbook, valid_inventory

VARIANTS = {"default": {}, "strict": {"dask_worker_allow_jit": "false"}, "pool": {}, "gpu": {"dask_worker_allow_jit": "false"}}
# The "pool" and "gpu" variants' workers are in the groups of these pools, whose settings win over their own.
POOLS = {"big": {"count": 1, "nthreads": 1, "nworkers": 2, "memory_limit": "6GiB", "resources": {"BIG": 1, "GPU": 0.5}},
         "cuda": {"gpu": True, "nworkers": 2, "nthreads": 1, "resources": {"GPU": 1}}}


def directives(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("units")
    inventory = valid_inventory()
    workers = inventory["all"]["children"]["dask_workers"]["hosts"]
    workers["w3"], workers["w4"] = {}, {}
    inventory["all"]["children"]["dask_workers"]["children"] = {"dask_pool_big": {"hosts": {"w3": {}}},
                                                                "dask_pool_cuda": {"hosts": {"w4": {}}}}
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


def test_a_gpu_pools_worker_runs_dask_cuda_with_the_nvidia_devices_only(units):
    """One worker per GPU (nworkers: the first two GPUs), the host's /dev but only NVIDIA's
    device groups through the device policy, and executable memory for the CUDA driver even
    where the strict profile is asked for (this variant asks for it)."""
    gpu, default = units["gpu"]["dask-worker"], units["default"]["dask-worker"]
    assert "/opt/dask/env/bin/dask cuda worker tls://" in gpu and "/opt/dask/env/bin/dask worker tls://" in default
    assert "--nworkers" not in gpu and "--nanny-port" not in gpu and "--nthreads 1" in gpu and '--resources "GPU=1"' in gpu
    assert "--preload /etc/dask/report_pool.py" in gpu
    unit = directives(gpu)
    assert "Environment=CUDA_VISIBLE_DEVICES=0,1\n" in gpu and "Environment=DASK_WORKER_POOL=cuda\n" in gpu
    assert (unit["PrivateDevices"], unit["DevicePolicy"], unit["DeviceAllow"]) == ("no", "closed", "char-nvidia* rw")
    assert unit["MemoryDenyWriteExecute"] == "no"
    # The rest of the sandbox is the other workers'.
    others = directives(default)

    def sandbox(directives_of_unit):
        return {key: value for key, value in directives_of_unit.items()
                if key[0].isupper() and key not in ("PrivateDevices", "DeviceAllow", "ExecStart", "Environment")}

    assert sandbox(unit) == sandbox(others)
    assert "CUDA_VISIBLE_DEVICES" not in default and "DeviceAllow" not in default and others["PrivateDevices"] == "yes"
