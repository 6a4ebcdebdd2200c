"""The idle guard (roles/dask_cluster/files/idle_guard.py): its rule step by step, then the
program itself, with the system Python, against a real scheduler on 127.0.0.1 (from
build/client-venv, which scripts/bootstrap makes): idle without clients, busy with one or with
a task its client left running, out of reach once the scheduler is gone; the scheduler's node
last also when the boot grace holds the nodes. --dry-run prints the decision instead of
powering off."""

import importlib.util
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.client_env

GUARD = ROOT / "roles" / "dask_cluster" / "files" / "idle_guard.py"
CLIENT_VENV = ROOT / "build" / "client-venv" / "bin"
spec = importlib.util.spec_from_file_location("idle_guard", GUARD)
idle_guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(idle_guard)

IDLE = (0, 0, 7)  # no client, no task, the activity counters at 7


def run_looks(looks, idle_seconds=60, boot_grace=0):
    """Decisions of consecutive looks [(seconds, what the scheduler said)] from a fresh boot."""
    state, decisions = None, []
    for now, seen in looks:
        state, power_off = idle_guard.decide(state, seen, now, idle_seconds, boot_grace)
        decisions.append(power_off)
    return decisions


def test_idle_for_the_whole_period_powers_off():
    assert run_looks([(0, IDLE), (30, IDLE), (59, IDLE), (60, IDLE)]) == [False, False, False, True]


@pytest.mark.parametrize("busy", [(1, 0, 7), (0, 3, 7), (0, 0, 8)],
                         ids=["a client connected", "tasks to run", "a client or task came and went"])
def test_any_activity_starts_the_count_again(busy):
    quiet = (0, 0, busy[2])  # idle again, the counters where the busy look left them
    assert run_looks([(0, IDLE), (50, busy), (100, quiet), (159, quiet), (160, quiet)]) == [False] * 4 + [True]


def test_a_scheduler_out_of_reach_is_not_idle_but_powers_off_after_the_whole_period():
    # Idle, then down: the idle count starts again as an out-of-reach count.
    assert run_looks([(0, IDLE), (50, None), (100, None), (110, None)]) == [False, False, False, True]
    # Back before the period ends: both counts start afresh.
    assert run_looks([(0, None), (50, IDLE), (100, IDLE), (110, IDLE)]) == [False, False, False, True]


def test_a_new_boot_starts_the_count_afresh():
    assert run_looks([(1000, IDLE), (1059, IDLE)]) == [False, False]


def test_no_power_off_in_the_grace_after_boot():
    looks = [(0, IDLE), (60, IDLE), (299, IDLE), (300, IDLE)]
    assert run_looks(looks, boot_grace=300) == [False, False, False, True]


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture()
def scheduler(tmp_path):
    port, dashboard = free_port(), free_port()
    process = subprocess.Popen([str(CLIENT_VENV / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                "--dashboard-address", f"127.0.0.1:{dashboard}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", dashboard), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.3)
    yield {"address": f"tcp://127.0.0.1:{port}", "metrics": f"http://127.0.0.1:{dashboard}/metrics", "process": process}
    process.terminate()
    process.wait(timeout=30)


def look(scheduler, state_file, idle_seconds=1, boot_grace=0, last=0):
    """The program's decision from one look (--dry-run) with this state file."""
    run = subprocess.run(["python3", str(GUARD), "--metrics-url", scheduler["metrics"], "--idle-seconds", str(idle_seconds),
                          "--last", str(last), "--boot-grace", str(boot_grace), "--state-file", str(state_file), "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


# A client that leaves a task running behind it (fire and forget) and goes.
LEAVE_A_TASK = """
import sys, time
from distributed import Client, fire_and_forget
client = Client(sys.argv[1])
fire_and_forget(client.submit(time.sleep, 600, pure=False))
time.sleep(1)  # the scheduler has the task before the client leaves
client.close()
"""


def test_the_program_reads_a_real_scheduler(scheduler, tmp_path):
    state = tmp_path / "run" / "state.json"
    assert look(scheduler, state).startswith("idle for 0 s")
    time.sleep(1.2)
    assert look(scheduler, state).endswith("; powering off")

    # A connected client keeps the cluster up, whatever the count said before.
    holder = subprocess.Popen([str(CLIENT_VENV / "python"), "-c",
                               "import sys; from distributed import Client; c = Client(sys.argv[1]); print('on', flush=True);"
                               " sys.stdin.readline()", scheduler["address"]],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, DASK_CONFIG="/nonexistent"))
    try:
        assert holder.stdout.readline().strip() == "on"
        assert look(scheduler, state).startswith("busy")
        time.sleep(1.2)
        assert look(scheduler, state).startswith("busy")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)

    # So does a task its client left behind (no worker runs it here: it waits, which counts too).
    left = subprocess.run([str(CLIENT_VENV / "python"), "-c", LEAVE_A_TASK, scheduler["address"]],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, DASK_CONFIG="/nonexistent"))
    assert left.returncode == 0, left.stderr[-2000:]
    look(scheduler, state)  # the client's visit moved the counters: busy once for that
    time.sleep(1.2)
    assert look(scheduler, state).startswith("busy")

    scheduler["process"].terminate()
    scheduler["process"].wait(timeout=30)
    assert look(scheduler, state).startswith("unreachable for 0 s")
    time.sleep(1.2)
    assert look(scheduler, state).endswith("; powering off")


def decision_at(scheduler, tmp_path, seconds_since_boot, last):
    """The program's decision (--dry-run, --boot-grace 120) for a cluster idle since long
    before, on a node that booted seconds_since_boot ago."""
    now = time.time()
    state = tmp_path / f"state-{seconds_since_boot}-{last}.json"
    state.write_text(json.dumps({"since": now - 1000, "kind": "idle", "activity": None, "first": now - seconds_since_boot}))
    return look(scheduler, state, idle_seconds=60, boot_grace=120, last=last)


def test_the_scheduler_node_goes_last_when_the_grace_is_what_held_the_nodes(scheduler, tmp_path):
    """Idle far longer than the period, 130 s after boot with a 120 s grace: the other nodes go,
    the scheduler's node (--last 20) waits until 140 s, so that they still find it up."""
    assert decision_at(scheduler, tmp_path, 130, 0).endswith("; powering off")
    assert not decision_at(scheduler, tmp_path, 130, 20).endswith("; powering off")
    assert decision_at(scheduler, tmp_path, 145, 20).endswith("; powering off")
