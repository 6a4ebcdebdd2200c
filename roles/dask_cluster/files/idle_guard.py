#!/usr/bin/python3
"""The cost guard of one node (dask_cluster_idle_shutdown): powers the node off once its Dask
cluster has been idle, or its scheduler out of reach, for the whole idle period.

dask-idle-guard.timer runs this every few seconds. Each run reads the scheduler's Prometheus
metrics (the scheduler is where the cluster's state is: its clients and tasks), notes what it
saw in a state file under /run (so a boot starts the count afresh), and decides:

- busy: a client is connected, a task waits or runs, or since the last look a client came or
  a task changed state (a short visit between two looks still counts);
- idle: the scheduler answers and is not busy. Idle for the whole period: power off;
- out of reach: the scheduler does not answer (down, restarting, cut off). That is not idle,
  but no node computes without a scheduler: out of reach for the whole period, power off too.

Any other mix restarts both counts. A node never powers off within --boot-grace seconds of
its first look since boot, so that site.yml can start a stopped cluster and configure it.
The scheduler's own node waits --last seconds more, after the idle period and after the
grace alike, so that the other nodes see it idle before it goes. Standard library only: it
runs with the system Python, whatever state the Dask environment is in.
"""

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

# Scheduler task states that mean work is still to do (the counts of dask_scheduler_tasks).
WORKING_STATES = {"waiting", "no-worker", "queued", "processing"}
# Counters that move whenever a client connects or a task changes state.
ACTIVITY_COUNTERS = ("dask_scheduler_client_connections_added_total", "dask_scheduler_prefix_state_totals_total")


def parse_metrics(text):
    """[(name, state label or '', value)] of the Prometheus text's samples."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        state = ""
        for label in labels.rstrip("}").split(","):
            key, _, quoted = label.partition("=")
            if key == "state":
                state = quoted.strip('"')
        samples.append((name, state, float(value)))
    return samples


def observe(url, ca_file, timeout):
    """(clients, working tasks, activity count) from the scheduler, or None out of reach."""
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            samples = parse_metrics(response.read().decode())
    except (OSError, ValueError):
        return None
    clients = [value for name, _, value in samples if name == "dask_scheduler_clients"]
    if not clients:
        return None  # something answers, but not a Dask scheduler with metrics
    working = sum(value for name, state, value in samples if name == "dask_scheduler_tasks" and state in WORKING_STATES)
    activity = sum(value for name, _, value in samples if name in ACTIVITY_COUNTERS)
    return clients[0], working, activity


def decide(state, seen, now, idle_seconds, boot_grace=0.0):
    """The new state and whether to power off, from the old state and what was seen now."""
    state = dict(state) if state else {"since": now, "kind": "busy", "activity": None, "first": now}
    if seen is None:
        kind = "unreachable"
    else:
        clients, working, activity = seen
        moved = state.get("activity") is not None and activity != state["activity"]
        kind = "busy" if clients > 0 or working > 0 or moved else "idle"
        state["activity"] = activity
    if kind != state["kind"] or kind == "busy":
        state.update(kind=kind, since=now)
    old_enough = now - state.get("first", now) >= boot_grace
    return state, kind != "busy" and now - state["since"] >= idle_seconds and old_enough


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics-url", required=True)
    parser.add_argument("--ca-file", default=None)
    parser.add_argument("--idle-seconds", type=float, required=True)
    parser.add_argument("--last", type=float, default=0.0, help="seconds more to wait on the scheduler's node")
    parser.add_argument("--boot-grace", type=float, default=0.0,
                        help="never power off sooner after the first look since boot (site.yml brings a stopped cluster back)")
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--dry-run", action="store_true", help="print the decision, do not power off")
    args = parser.parse_args()

    try:
        with open(args.state_file) as stream:
            state = json.load(stream)
    except (OSError, ValueError):
        state = None
    now = time.time()
    state, power_off = decide(state, observe(args.metrics_url, args.ca_file, args.timeout), now,
                              args.idle_seconds + args.last, args.boot_grace + args.last)
    os.makedirs(os.path.dirname(args.state_file), exist_ok=True)
    with open(args.state_file + ".new", "w") as stream:
        json.dump(state, stream)
    os.replace(args.state_file + ".new", args.state_file)
    print(f"{state['kind']} for {now - state['since']:.0f} s of {args.idle_seconds + args.last:.0f} s"
          + ("; powering off" if power_off else ""), flush=True)
    if power_off and not args.dry_run:
        return subprocess.run(["systemctl", "poweroff"], check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
