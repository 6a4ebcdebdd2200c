"""The cost guard on the local Docker cloud, on a cluster of its own (dask-it-idle: a
scheduler, a worker and a client), so that its four minutes of waiting for timers run beside
the other tests (scripts/test gives it a lane of its own).

Its cluster leaves this machine's loopback ports and build/client-venv to test_local_cloud.py's:
nothing is published and the client is held from the client container. It bakes (or finds) the
image of the role's pins with the local cloud's settings, the one that test_local_cloud.py's
scale-up needs too: with DASK_IT_KEEP_IMAGE=1 (scripts/test) the teardown keeps it for that
test, and scripts/test removes it when every lane is done.

Needs Docker and the node image (scripts/bootstrap).
"""

import os
import subprocess
import time
from functools import partial

import pytest

import local_clusters
from local_clusters import ROOT, docker_lines
from playbook_output import failure_report

pytestmark = pytest.mark.integration
CLUSTER = "dask-it-idle"
IDLE_SHUTDOWN = "1m"
# Long enough for site.yml to start the stopped containers and reach its walkthrough client.
IDLE_BOOT_GRACE = "3m"
# Every run of this cluster, as scripts/cluster up would be given them.
RUN_VARS = ["-e", "dask_worker_count=1", "-e", "cloud_local_publish_ports=false", "-e", "dask_env_controller_env="]
IDLE_VARS = ["-e", f"dask_cluster_idle_shutdown={IDLE_SHUTDOWN}", "-e", f"dask_cluster_idle_boot_grace={IDLE_BOOT_GRACE}"]
# A client that stays connected until told to leave. (A task left running after its client
# went keeps the cluster up too: tests/test_idle_guard.py checks that against a real scheduler.)
IDLE_HOLDER = """
import sys
from distributed import Client
client = Client(timeout="30s")
print("connected", flush=True)
sys.stdin.readline()
client.close()
print("left", flush=True)
"""
ansible_playbook = partial(local_clusters.ansible_playbook, CLUSTER)
cluster_containers = partial(local_clusters.cluster_containers, CLUSTER)


def container_ids():
    return sorted(cluster_containers(fields="{{.Names}}={{.ID}}"))


@pytest.fixture(scope="module")
def idle_cluster():
    """The cluster as a team runs it, then with the guard turned on: {"ids": the containers'
    names and ids before and after that run}. Torn down whatever happens."""
    ansible_playbook("playbooks/teardown.yml", "-e", "dask_image_prune=true")  # leftovers of an interrupted run
    try:
        for name, playbook, extra in [("bake", "playbooks/image.yml", []), ("cold run", "site.yml", []),
                                      ("guard turned on", "site.yml", IDLE_VARS)]:
            before = container_ids()
            result, seconds = ansible_playbook(playbook, *RUN_VARS, *extra)
            print(f"\n{CLUSTER}: {name} {seconds:.0f} s", end="")
            assert result.returncode == 0, failure_report(result)
        yield {"ids": (before, container_ids())}
    finally:
        prune = [] if os.environ.get("DASK_IT_KEEP_IMAGE") == "1" else ["-e", "dask_image_prune=true"]
        teardown, _ = ansible_playbook("playbooks/teardown.yml", *prune)
    assert teardown.returncode == 0, failure_report(teardown)


def container_states():
    """{container: (status, restart policy)} of every container of the cluster, running or not."""
    names = cluster_containers()
    lines = docker_lines("inspect", "-f", "{{.Name}}={{.State.Status}},{{.HostConfig.RestartPolicy.Name}}", *names)
    return {line.split("=")[0].lstrip("/"): tuple(line.split("=")[1].split(",")) for line in lines}


def test_an_idle_cluster_powers_off_and_scripts_cluster_up_brings_it_back(idle_cluster):
    """With dask_cluster_idle_shutdown turned on at 1m: a connected client keeps every node up
    past the minute; once it leaves (and the boot grace is over), every container is still up
    40 s later and has stopped within three minutes, and stays (not removed); scripts/cluster
    up starts them, verifies, and says where JupyterLab runs and where its token is."""
    nodes = sorted(cluster_containers())
    assert len(nodes) == 3, nodes
    # (state, restart policy): turning the guard on changed the policy of the running
    # containers, which stayed the same containers; a stopped one stays as it was, too.
    running, stopped = (dict.fromkeys(nodes, (state, "on-failure")) for state in ("running", "exited"))
    assert container_states() == running
    before, after = idle_cluster["ids"]
    assert len(before) == 3 and after == before, (before, after)
    client_node = f"{CLUSTER}-client-1"
    holder = subprocess.Popen(["docker", "exec", "-i", client_node, "/opt/dask/env/bin/python", "-c", IDLE_HOLDER],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "connected", holder.stderr.read()[-2000:]
        time.sleep(80)  # the guard's minute, and the scheduler's two looks more
        with_client = container_states()
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "left", holder.stderr.read()[-2000:]
        client_left = time.monotonic()
    finally:
        holder.kill()
        holder.wait()
    assert with_client == running, with_client
    time.sleep(40)  # inside the idle minute: every node stays
    within_the_minute = container_states()
    assert within_the_minute == running, within_the_minute
    # The minute, then the guard's looks (10 s apart; the scheduler's node 20 s after the
    # others) and the nodes' shutdown, which takes longer on a loaded machine.
    deadline = client_left + 60 + 120
    while time.monotonic() < deadline and any(state != "exited" for state, _ in container_states().values()):
        time.sleep(5)
    stopped_after = time.monotonic() - client_left
    print(f"\nidle guard at {IDLE_SHUTDOWN}: every node stopped {stopped_after:.0f} s after the client left")
    assert container_states() == stopped

    # As the runbook says: scripts/cluster up (bootstrap, then site.yml) brings it back.
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "scripts" / "cluster"), "up", *RUN_VARS, *IDLE_VARS], cwd=ROOT,
                            capture_output=True, text=True, timeout=1800,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", DASK_CLUSTER_NAME=CLUSTER))
    print(f"scripts/cluster up on the stopped cluster: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, failure_report(result)
    assert "Check that every worker is connected" in result.stdout
    assert container_states() == running
    # Its port is not published here: it says which node runs JupyterLab and where the token is.
    token_file = ROOT / "inventory" / "local" / ".tls" / CLUSTER / "jupyter-token"
    assert token_file.read_text().strip()
    assert f"Jupyter:    runs on {client_node} (its port is not published); token in {token_file}" in result.stdout, \
        result.stdout[-1500:]
