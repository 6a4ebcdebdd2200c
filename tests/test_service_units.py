"""The rendered systemd units of the scheduler and the worker (the shared skeleton of
dask_cluster): the worker may make executable memory for JIT compilers unless the strict
profile is asked for, the scheduler never; the worker's own connect timeout."""

import sys

import pytest

from conftest import ansible_playbook, valid_inventory

VARIANTS = {"default": {}, "strict": {"dask_worker_allow_jit": "false"}}


def directives(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("units")
    inventory = valid_inventory()
    workers = inventory["all"]["children"]["dask_workers"]["hosts"]
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
