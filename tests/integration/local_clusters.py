"""Helpers shared by the tests that run clusters of the local Docker cloud, each by its own
name (DASK_CLUSTER_NAME): test_local_cloud.py and test_local_cloud_idle.py."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def ansible_playbook(cluster, *args):
    """ansible-playbook -i inventory/local ARGS for the cluster: (completed process, seconds)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", DASK_CLUSTER_NAME=cluster)
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "inventory/local", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    return result, time.monotonic() - started


def docker_lines(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.split()


def cluster_containers(cluster, fields="{{.Names}}"):
    """A line of `fields` (a docker ps format) for each container of the cluster, running or not."""
    return docker_lines("ps", "-a", "--filter", f"label=dask.cluster={cluster}", "--format", fields)


def in_container(container, *command):
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True)
