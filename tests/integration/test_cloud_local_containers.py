"""roles/cloud_local/library/cloud_local_containers.py against a real Docker engine: which
wanted nodes provisioning must run docker_container for, and why. Needs Docker and the node
image (scripts/bootstrap; DASK_NODE_IMAGE_TAG as scripts/test exports it, else the newest)."""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "roles" / "cloud_local" / "library" / "cloud_local_containers.py"
pytestmark = pytest.mark.integration


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def node_image():
    return os.environ.get("DASK_NODE_IMAGE_TAG") or docker(
        "image", "ls", "dask-ansible-node", "--format", "{{.Repository}}:{{.Tag}}").splitlines()[0]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PUBLISHED = f"127.0.0.1:{free_port()}:8786"


@pytest.fixture(scope="module")
def cluster():
    """A network and three containers of a made-up cluster, and one of another cluster."""
    name = f"dask-cc-{uuid.uuid4().hex[:8]}"
    docker("network", "create", "--label", f"dask.cluster={name}", name)
    started = []

    def run(container, cluster_label, *options):
        docker("run", "-d", "--name", container, "--network", name, "--label", f"dask.cluster={cluster_label}",
               "--entrypoint", "sleep", *options, node_image(), "infinity")
        started.append(container)

    try:
        run(f"{name}-scheduler", name, "--label", "dask.role=scheduler", "--restart", "unless-stopped",
            "-p", PUBLISHED)
        run(f"{name}-worker-1", name, "--label", "dask.role=worker", "--restart", "unless-stopped")
        run(f"{name}-worker-2", name, "--label", "dask.role=worker", "--restart", "unless-stopped")
        run(f"{name}-other", f"{name}-other", "--label", "dask.role=worker")
        yield name
    finally:
        for container in started:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "network", "rm", name], capture_output=True)


def node(cluster, name, role, ports=(), restart="unless-stopped"):
    return {"name": f"{cluster}-{name}", "labels": {"dask.cluster": cluster, "dask.role": role},
            "published_ports": list(ports), "restart_policy": restart}


def compare(cluster, nodes, network=None, tmp_path=None):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "cluster": cluster, "network": network or cluster, "nodes": nodes}}))
    run = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True)
    result = json.loads(run.stdout)
    assert not result.get("failed"), result
    return result


def test_containers_as_wanted_need_nothing_and_the_others_say_why(cluster, tmp_path):
    docker("stop", "-t", "0", f"{cluster}-worker-2")
    wanted = [
        node(cluster, "scheduler", "scheduler", [PUBLISHED]),
        node(cluster, "worker-1", "worker"),
        node(cluster, "worker-2", "worker"),
        node(cluster, "worker-3", "worker"),
    ]
    result = compare(cluster, wanted, tmp_path=tmp_path)
    assert result["containers"] == sorted(f"{cluster}-{n}" for n in ("scheduler", "worker-1", "worker-2"))
    assert result["network_found"] is True
    assert result["changed"] is False
    assert result["start"] == [{"name": f"{cluster}-worker-2", "why": ["not running"]},
                               {"name": f"{cluster}-worker-3", "why": ["missing"]}]


def test_each_setting_that_differs_is_named(cluster, tmp_path):
    wanted = [
        node(cluster, "scheduler", "scheduler", [], restart="on-failure"),
        {**node(cluster, "worker-1", "worker"), "labels": {"dask.cluster": cluster, "dask.role": "worker",
                                                            "dask.pool": "big"}},
    ]
    result = compare(cluster, wanted, tmp_path=tmp_path)
    assert result["start"] == [{"name": f"{cluster}-scheduler", "why": ["published ports", "restart policy"]},
                               {"name": f"{cluster}-worker-1", "why": ["labels"]}]


def test_a_container_outside_the_network_and_a_missing_network_are_found(cluster, tmp_path):
    missing = f"{cluster}-absent"
    result = compare(cluster, [node(cluster, "worker-1", "worker")], network=missing, tmp_path=tmp_path)
    assert result["network_found"] is False
    assert result["start"] == [{"name": f"{cluster}-worker-1", "why": ["network"]}]
