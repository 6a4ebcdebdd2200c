"""Faults: break the running cluster, and measure how long it takes to compute again.

A client process on the client node (fault_client.py) stays connected through every fault;
the faults come from the controller through the Docker CLI. Each test waits until the cluster
is whole again (so the order of the tests does not matter) and records its recovery time,
from the fault (or its end) to "every worker runs and computes", in build/recovery-times.json.
"""

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import upload

testinfra_hosts = ["ansible://dask_clients"]

ROOT = Path(__file__).resolve().parents[3]
RECOVERY_TIMES = ROOT / "build" / "recovery-times.json"
CLIENT_SCRIPT = "/root/fault_client.py"
# How long the network cut lasts: longer than Dask's TCP timeout (30 s), so that the
# scheduler and the worker both give the connection up.
NETWORK_CUT_SECONDS = 60
measured = {}


def docker(*args, check=True, timeout=120):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result


def in_node(node, command, check=True):
    return docker("exec", node, "bash", "-c", command, check=check).stdout.strip()


def record(fault, seconds, **details):
    """Keep a measured recovery time, with the host's load at that moment."""
    measured[fault] = {"seconds": round(seconds, 1), "load_average_1min": round(os.getloadavg()[0], 1), **details}
    RECOVERY_TIMES.parent.mkdir(exist_ok=True)
    RECOVERY_TIMES.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    print(f"recovery time: {fault}: {measured[fault]}", file=sys.stderr)


class FaultClient:
    """Talks to fault_client.py on the client node: one JSON line each way."""

    def __init__(self, node):
        self.process = subprocess.Popen(
            ["docker", "exec", "-i", node, "/opt/dask/env/bin/python", "-u", CLIENT_SCRIPT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.first = self.read(timeout=120)
        assert self.first.get("ready"), self.first

    def read(self, timeout):
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, f"the fault client did not answer within {timeout} s"
        line = self.process.stdout.readline()
        assert line, f"the fault client exited with {self.process.poll()}"
        return json.loads(line)

    def ask(self, cmd, answer_within=300, **arguments):
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        return self.read(answer_within)

    def close(self):
        try:
            self.process.stdin.write('{"cmd": "quit"}\n')
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def nodes(host):
    groups = host.ansible.get_variables()["groups"]
    upload(host, "fault_client.py", CLIENT_SCRIPT)
    return {
        "scheduler": groups["dask_scheduler"][0],
        "workers": sorted(groups["dask_workers"]),
        "client": groups["dask_clients"][0],
    }


@pytest.fixture
def client(nodes):
    fault_client = FaultClient(nodes["client"])
    # Start from a whole cluster, whatever the test before left.
    assert fault_client.ask("wait", workers=len(nodes["workers"]), timeout=180)["ok"]
    yield fault_client
    fault_client.close()


def identities(client):
    return {name: w["identity"] for name, w in client.ask("state")["workers"].items()}


def wait_until_whole(client, nodes, since, **conditions):
    back = client.ask("wait", workers=len(nodes["workers"]), timeout=240, **conditions)
    assert back["ok"], f"the cluster did not recover: {back}"
    assert back["at"] > since
    return back["at"] - since


@pytest.mark.parametrize("target", ["worker process", "worker service"])
def test_killed_worker_comes_back_and_computes(client, nodes, target):
    """SIGKILL the Dask worker process (its nanny starts another) or every process of
    dask-worker.service, the nanny included (systemd starts it again after RestartSec)."""
    worker = nodes["workers"][0]
    before = identities(client)
    if target == "worker process":
        pids = in_node(worker, "pgrep -u dask -f spawn_main").split()
        assert len(pids) == 1, f"expected one worker process under the nanny, found {pids}"
        killed_at = time.time()
        in_node(worker, f"kill -KILL {pids[0]}")
    else:
        killed_at = time.time()
        in_node(worker, "systemctl kill --signal=KILL dask-worker.service")
    seconds = wait_until_whole(client, nodes, killed_at, old={worker: before[worker]})
    record(f"SIGKILL {target}", seconds)


@pytest.mark.parametrize("fault", ["SIGKILL", "stop, then start"])
def test_scheduler_comes_back_and_everyone_reconnects(client, nodes, fault):
    """The scheduler dies (systemd restarts it) or is stopped and started: every worker and
    the client already connected reconnect to the new scheduler, without being restarted."""
    scheduler = nodes["scheduler"]
    old_scheduler = client.ask("state")["scheduler"]
    try:
        if fault == "SIGKILL":
            since = time.time()
            in_node(scheduler, "systemctl kill --signal=KILL dask-scheduler.service")
        else:
            in_node(scheduler, "systemctl stop dask-scheduler.service")
            assert in_node(scheduler, "systemctl is-active dask-scheduler.service", check=False) == "inactive"
            since = time.time()
            in_node(scheduler, "systemctl start dask-scheduler.service")
        seconds = wait_until_whole(client, nodes, since, old_scheduler=old_scheduler)
    finally:
        in_node(scheduler, "systemctl start dask-scheduler.service")
    record(f"scheduler: {fault}", seconds, measured_from="SIGKILL" if fault == "SIGKILL" else "start")


def test_restarted_worker_container_starts_its_service_at_boot(client, nodes):
    """A worker node reboots (docker restart: systemd shuts down, then boots): the enabled
    dask-worker.service starts and rejoins."""
    worker = nodes["workers"][-1]
    before = identities(client)
    since = time.time()
    docker("restart", "--time", "30", worker)
    seconds = wait_until_whole(client, nodes, since, old={worker: before[worker]})
    assert in_node(worker, "systemctl is-enabled dask-worker.service") == "enabled"
    record("worker node restarted (docker restart)", seconds)


def test_worker_cut_off_the_network_rejoins(client, nodes):
    """Cut a worker off for a minute, then heal: it computes again. Packets are dropped
    silently, as in a cloud partition: every packet to the worker, and at the scheduler every
    packet from it (dropping the worker's own output instead would fail its sends at once,
    which no partition does, and hide the TCP retries that decide how long it stays away)."""
    worker = nodes["workers"][0]
    worker_ip = docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", worker).stdout.strip()
    cuts = [
        (worker, ["INPUT", "!", "-i", "lo", "-j", "DROP"]),
        (nodes["scheduler"], ["INPUT", "-s", worker_ip, "-j", "DROP"]),
    ]

    def iptables(node, action, rule):
        pid = docker("inspect", "--format", "{{.State.Pid}}", node).stdout.strip()
        return subprocess.run(["nsenter", "-t", pid, "-n", "iptables", action, *rule], capture_output=True, text=True)

    before = identities(client)
    cut_at = time.time()
    try:
        for node, rule in cuts:
            added = iptables(node, "-I", rule)
            assert added.returncode == 0, added.stderr
        during = client.ask("compute_on", worker=worker, timeout=10)
        assert not during["ok"], "a task ran on the worker while it was cut off"
        time.sleep(max(0.0, cut_at + NETWORK_CUT_SECONDS - time.time()))
    finally:
        for node, rule in cuts:
            while iptables(node, "-D", rule).returncode == 0:
                pass
    healed_at = time.time()
    assert all(iptables(node, "-C", rule).returncode != 0 for node, rule in cuts), "a DROP rule is still there"
    seconds = wait_until_whole(client, nodes, healed_at)
    # Whether the worker kept its process through the cut or closed and was restarted.
    replaced = identities(client)[worker] != before[worker]
    record(f"worker cut off the network for {NETWORK_CUT_SECONDS} s", seconds, measured_from="heal",
           worker_process_replaced=replaced)


def run_restart_playbook(*extra_args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "playbooks/restart.yml"]
    started = time.time()
    result = subprocess.run(command + list(extra_args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return result.returncode, result.stdout + result.stderr, time.time() - started


def test_rolling_restart_keeps_the_results_a_client_holds(client, nodes):
    """restart.yml while a client holds results spread over every worker: each worker
    restarts (a new process), and every result is still there, correct, and not recomputed."""
    held = client.ask("hold", n=24)
    assert set(held["per_worker"]) == set(nodes["workers"]), f"the results are not on every worker: {held}"
    before = client.ask("state")
    rc, output, seconds = run_restart_playbook()
    assert rc == 0, output[-6000:]
    after = client.ask("state")
    assert after["scheduler"] == before["scheduler"], "the scheduler restarted"
    for name in nodes["workers"]:
        assert after["workers"][name]["identity"] != before["workers"][name]["identity"], f"{name} did not restart"
    kept = client.ask("check_held", timeout=60)
    assert kept["ok"], f"results were lost or recomputed: {kept}"
    record("rolling restart, batch 1 (restart.yml wall time; no result lost)", seconds, held_results=held["held"])


def test_a_failed_batch_stops_the_rolling_restart(client, nodes):
    """max_fail_percentage: 0 really stops a bad rollout: when the first batch does not come
    back healthy (simulated by waiting for /health on a port nothing listens on), the run
    fails and the next batch keeps running untouched."""
    before = identities(client)
    rc, output, _ = run_restart_playbook("-e", '{"dask_worker_dashboard_port": 1, "dask_worker_health_timeout": 2}')
    assert rc != 0, output[-3000:]
    failed = [name for name in nodes["workers"] if f"fatal: [{name}]" in output]
    assert len(failed) == 1, f"expected one failed worker, got {failed}: {output[-3000:]}"
    assert "PLAY [Check that every worker is back" not in output
    untouched = [name for name in nodes["workers"] if name not in failed]
    # The failed batch's worker did restart; the rest never did.
    wait_until_whole(client, nodes, 0, old={failed[0]: before[failed[0]]})
    after = identities(client)
    for name in untouched:
        assert after[name] == before[name], f"{name} restarted after the batch before it failed"
