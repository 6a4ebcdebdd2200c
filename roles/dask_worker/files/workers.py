"""The workers of given hosts, as the scheduler sees them: retire them before they stop,
or wait until they run again after they restarted. A host's workers carry its --name:
NAME, or NAME-0, NAME-1... with several processes per host.

Usage:
  workers.py retire SCHEDULER_ADDRESS NAME [NAME...]
      The scheduler copies every result held only by those workers to the others and
      gives them no new tasks; systemd stops them afterwards (restart or scale-down).
      Prints {"retired": [...], "not_connected": [...], "kept": [...]}; exits 1 when a
      connected worker could not be retired (no other worker could take its data).
  workers.py wait SCHEDULER_ADDRESS EXPECTED TIMEOUT NAME [NAME...]
      Waits (up to TIMEOUT seconds) until at least EXPECTED workers run (connected and
      taking tasks, not retiring) and every host NAME has one. Prints {"running": N,
      "missing": [...], "seconds": S}; exits 1 when the time ran out.

Ansible runs it with the node's environment: python -c "$(cat workers.py)" COMMAND ...
"""

import json
import re
import sys
import time

from distributed import Client


def host_patterns(hosts):
    return {host: re.compile(rf"^{re.escape(host)}(-[0-9]+)?$") for host in hosts}


def of_hosts(names, patterns):
    return [name for name in names if any(p.match(name) for p in patterns.values())]


def retire(address, *hosts):
    patterns = host_patterns(hosts)
    with Client(address, timeout="30s") as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        names = {addr: str(info["name"]) for addr, info in workers.items()}
        chosen = [addr for addr in names if of_hosts([names[addr]], patterns)]
        # close_workers=False, remove=False: move the data off, keep the processes for
        # systemd to stop, so Restart=always cannot bring a closed worker straight back.
        retired = client.retire_workers(workers=chosen, close_workers=False, remove=False) if chosen else {}
    chosen_names = [names[addr] for addr in chosen]
    report = {
        "retired": sorted(names[addr] for addr in chosen if addr in retired),
        "not_connected": sorted(h for h, p in patterns.items() if not any(p.match(n) for n in chosen_names)),
        "kept": sorted(names[addr] for addr in chosen if addr not in retired),
    }
    print(json.dumps(report))
    return 1 if report["kept"] else 0


def wait(address, expected, timeout, *hosts):
    expected, timeout = int(expected), float(timeout)
    patterns = host_patterns(hosts)
    started = time.monotonic()
    # The scheduler may itself be coming back: let the connection wait as long as the rest.
    with Client(address, timeout=f"{timeout}s") as client:
        while True:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            running = [str(w["name"]) for w in workers if w["status"] == "running"]
            missing = sorted(host for host, p in patterns.items() if not any(p.match(n) for n in running))
            done = len(running) >= expected and not missing
            if done or time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
    print(json.dumps({"running": len(running), "missing": missing, "seconds": round(time.monotonic() - started, 1)}))
    return 0 if done else 1


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    sys.exit({"retire": retire, "wait": wait}[command](*arguments))
