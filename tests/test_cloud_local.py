"""The local cloud refuses bad settings before it touches Docker."""

import sys

import pytest


def local_cloud(**settings):
    localhost = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    knobs = {"dask_cloud": "local", "dask_cluster_name": "dask-test-absent", "dask_worker_count": 2,
             "dask_client_count": 1, **settings}
    return {"all": {"hosts": {"localhost": localhost}, "vars": knobs}}


@pytest.mark.parametrize("settings,expected", [
    ({"cloud_local_publish_ports": "sometimes"}, "argument 'cloud_local_publish_ports' is of type str and we were unable to convert to bool"),
    ({"cloud_local_publish_address": "0.0.0.0"}, "cloud_local_publish_address must be a loopback address"),
    ({"dask_worker_count": 0}, "dask_worker_count must be a whole number from 1 to dask_cluster_max_workers"),
    ({"dask_worker_pools": {"cuda": {"gpu": True}}}, "dask_worker_pools.cuda.gpu: the local cloud has no GPUs"),
], ids=["string for publish_ports", "public publish address", "no workers", "GPU pool"])
def test_provisioning_refuses_bad_local_settings_before_docker(run_playbook, settings, expected):
    rc, output = run_playbook("playbooks/provision.yml", local_cloud(**settings))
    assert rc != 0
    assert expected in output
    # Stopped in the settings check: no Docker call was made.
    assert "Check that a Docker engine answers" not in output
