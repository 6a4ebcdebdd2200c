"""Retire the Dask workers of the given hosts through the scheduler, before they stop.

The scheduler copies every result held only by those workers to the others and gives
them no new tasks; systemd stops them afterwards (restart or scale-down). A host's workers
are found by their --name: NAME, or NAME-0, NAME-1... with several processes per host.

Usage: retire_workers.py SCHEDULER_ADDRESS NAME [NAME...]
Prints JSON {"retired": [...], "not_connected": [...], "kept": [...]} and exits 1 when a
connected worker could not be retired (no other worker could take its data).
"""

import json
import re
import sys

from distributed import Client


def main():
    address, *hosts = sys.argv[1:]  # one --name per host
    wanted = [re.compile(rf"^{re.escape(host)}(-[0-9]+)?$") for host in hosts]
    with Client(address, timeout="30s") as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        chosen = [addr for addr, info in workers.items() if any(p.match(str(info["name"])) for p in wanted)]
        names = {addr: str(workers[addr]["name"]) for addr in chosen}
        # close_workers=False, remove=False: move the data off, keep the processes for
        # systemd to stop, so Restart=always cannot bring a closed worker straight back.
        retired = client.retire_workers(workers=chosen, close_workers=False, remove=False) if chosen else {}
    report = {
        "retired": sorted(names[addr] for addr in chosen if addr in retired),
        "not_connected": sorted(h for h, p in zip(hosts, wanted) if not any(p.match(n) for n in names.values())),
        "kept": sorted(names[addr] for addr in chosen if addr not in retired),
    }
    print(json.dumps(report))
    return 1 if report["kept"] else 0


if __name__ == "__main__":
    sys.exit(main())
