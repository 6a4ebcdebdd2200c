"""scripts/bench: how it reads ansible.posix.json output into phases, changes and its table."""

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
loader = importlib.machinery.SourceFileLoader("bench", str(ROOT / "scripts" / "bench"))
spec = importlib.util.spec_from_loader("bench", loader)
bench = importlib.util.module_from_spec(spec)
loader.exec_module(bench)


def task(name, start, end):
    return {"task": {"name": name, "duration": {"start": f"2026-01-01T00:00:{start:02d}.000000Z",
                                                "end": f"2026-01-01T00:00:{end:02d}.000000Z"}},
            "hosts": {"n1": {"changed": False}}}


OUTPUT = {
    "plays": [
        {"play": {"name": "Provision the machines of the cluster"},
         "tasks": [task("cloud_local : Start the node containers", 0, 4)]},
        {"play": {"name": "Validate the cluster inventory and settings"},
         "tasks": [task("dask_worker : Check the worker settings", 5, 6)]},
        {"play": {"name": "Prepare every node (OS, SSH, the shared Python environment, TLS)"},
         "tasks": [task("Gathering Facts", 6, 8), task("base : Install the base packages", 8, 12),
                   task("ssh_keys : Harden sshd", 12, 13), task("dask_env : Install the environment", 13, 30),
                   task("dask_tls : Install the node's key", 30, 33)]},
        {"play": {"name": "Run the workers"},
         "tasks": [task("Gathering Facts", 33, 34), task("dask_worker : Start the worker", 34, 40)]},
        {"play": {"name": "Verify the cluster from a client"},
         "tasks": [task("Run dask-smoke-test", 40, 50)]},
    ],
    "stats": {"n1": {"ok": 9, "changed": 0, "failed": 0}, "n2": {"ok": 9, "changed": 2, "failed": 0}},
}


@pytest.mark.parametrize("play,task_name,phase", [
    ("Provision the machines of the cluster", "cloud_local : Start the node containers", "provision"),
    ("Wait until every machine answers", "Wait for a connection", "provision"),
    ("Validate the cluster inventory and settings", "dask_worker : Check", "base"),
    ("Prepare every node (OS, SSH, the shared Python environment, TLS)", "Gathering Facts", "base"),
    ("Prepare every node (OS, SSH, the shared Python environment, TLS)", "ssh_keys : Harden sshd", "base"),
    ("Prepare every node (OS, SSH, the shared Python environment, TLS)", "dask_env : Install", "environment"),
    ("Prepare every node (OS, SSH, the shared Python environment, TLS)", "conda : Install", "environment"),
    ("Prepare every node (OS, SSH, the shared Python environment, TLS)", "dask_tls : Sign", "services"),
    ("Run the scheduler", "Gathering Facts", "services"),
    ("Set up the clients", "dask_client : Install", "services"),
    ("Verify the cluster from a client", "Run dask-smoke-test", "verify"),
])
def test_every_task_lands_in_its_phase(play, task_name, phase):
    assert bench.phase_of(play, task_name) == phase


def test_phases_split_the_wall_time_from_one_task_start_to_the_next():
    split = bench.phases(OUTPUT, 53.0)
    # provision: 0 -> 5 (the gap before the next play counts for the task before it).
    assert split == {"provision": 5.0, "base": 8.0, "environment": 17.0, "services": 10.0, "verify": 10.0,
                     "startup": 3.0}


def test_every_play_before_validation_provisions():
    first = {"play": {"name": "Choose the workers that a lower count removes"},
             "tasks": [task("Put them in the group dask_workers_leaving", 0, 1)]}
    output = dict(OUTPUT, plays=[first] + OUTPUT["plays"][1:])
    assert [phase for _, phase, _, _ in bench.timeline(output)[0]][:2] == ["provision", "base"]


def test_slowest_tasks_come_first():
    assert [entry["task"] for entry in bench.slowest(OUTPUT, 2)] == [
        "Prepare every node (OS, SSH, the shared Python environment, TLS) / dask_env : Install the environment",
        "Verify the cluster from a client / Run dask-smoke-test"]


def test_changed_counts_come_from_the_recap():
    assert bench.changed(OUTPUT) == {"n1": 0, "n2": 2}


def test_table_shows_each_run_and_the_compute_ratios():
    run = {"workers": 2, "seconds": 53.0, "phases": bench.phases(OUTPUT, 53.0),
           "before": {"loadavg": [1.5, 1, 1]}, "after": {"loadavg": [2.5, 1, 1]}}
    compute = {key: {"workers": 2, "threads": [2, 2], "tasks_per_s": rate, "array_gb_per_s": speed}
               for key, rate, speed in (("deployed", 900.0, 0.9), ("local", 1000.0, 1.0), ("local_tls", 950.0, 1.0))}
    text = bench.table({"sweep": [run], "second": dict(run, seconds=20.0), "compute": compute})
    assert "| cold, 2 workers | 53 | 5 | 8 | 17 | 10 | 10 | 3 | 1.5 / 2.5 |" in text
    assert "| second run, 2 workers (changed=0) | 20 |" in text
    assert "| LocalCluster (tcp) | 1000 | 0.90 | 1.00 | 0.90 |" in text


def test_bad_worker_counts_are_refused_before_anything_runs():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench"), "--workers", "2,zero"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "--workers must be whole numbers" in result.stderr


def test_report_redraws_the_table_from_a_saved_run(tmp_path):
    saved = tmp_path / "bench.json"
    run = {"workers": 2, "seconds": 53.0, "phases": bench.phases(OUTPUT, 53.0),
           "before": {"loadavg": [1.5, 1, 1]}, "after": {"loadavg": [2.5, 1, 1]}}
    saved.write_text(json.dumps({"sweep": [run], "machine": {"cpus": 2, "memory_gib": 23.5},
                                 "start": {"loadavg": [1, 1, 1], "time": "t"}, "end": {"loadavg": [1, 1, 1]}}))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench"), "--report", str(saved)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| cold, 2 workers | 53 |" in result.stdout


def test_table_shows_the_plain_cold_run_the_bake_and_the_added_worker_in_order():
    run = {"workers": 2, "seconds": 53.0, "phases": bench.phases(OUTPUT, 53.0),
           "before": {"loadavg": [1.5, 1, 1]}, "after": {"loadavg": [2.5, 1, 1]}}
    results = {"cold_plain": dict(run, seconds=180.0, baked=False), "bake": dict(run, seconds=90.0, baked_now=True),
               "sweep": [dict(run, baked=True)], "second": dict(run, seconds=20.0),
               "add_worker": dict(run, seconds=40.0, workers=3)}
    labels = [line.split(" | ")[0].lstrip("| ") for line in bench.table(results).splitlines() if line.startswith("| ")]
    assert labels[2:] == ["cold, 2 workers, plain image", "playbooks/image.yml, bake", "cold, 2 workers, baked image",
                          "second run, 2 workers (changed=0)", "add one worker, 2 -> 3, baked image"]
