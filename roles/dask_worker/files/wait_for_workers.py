"""Wait until the scheduler counts its workers again after some of them restarted.

Usage: wait_for_workers.py SCHEDULER_ADDRESS EXPECTED TIMEOUT NAME [NAME...]
Waits (up to TIMEOUT seconds) until at least EXPECTED workers run (status "running":
connected and taking tasks, not retiring) and every host NAME has a running worker (its
--name: NAME, or NAME-0, NAME-1... with several processes per host). Prints JSON
{"running": N, "missing": [...], "seconds": S} and exits 1 when the time ran out.
"""

import json
import re
import sys
import time

from distributed import Client


def main():
    address, expected, timeout, *hosts = sys.argv[1:]
    expected, timeout = int(expected), float(timeout)
    wanted = {host: re.compile(rf"^{re.escape(host)}(-[0-9]+)?$") for host in hosts}
    started = time.monotonic()
    # The scheduler may itself be coming back: let the connection wait as long as the rest.
    with Client(address, timeout=f"{timeout}s") as client:
        while True:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            running = [str(w["name"]) for w in workers if w["status"] == "running"]
            missing = sorted(host for host, p in wanted.items() if not any(p.match(n) for n in running))
            done = len(running) >= expected and not missing
            if done or time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
    print(json.dumps({"running": len(running), "missing": missing, "seconds": round(time.monotonic() - started, 1)}))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
