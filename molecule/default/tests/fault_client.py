"""A Dask client that stays connected while the fault tests break the cluster around it.

Run on the client node (it reads /etc/dask like any client there); the test drives it with
one JSON command per line on stdin and reads one JSON answer per line on stdout:

  {"cmd": "state"}                      the scheduler's id and, per worker name, its identity
                                        (the local directory a new worker process gets)
  {"cmd": "wait", "workers": 2, "old": {"w1": "<identity>"}, "old_scheduler": "Scheduler-...",
   "timeout": 180}                      poll until the scheduler answers (not the old one if
                                        named), the given number of workers run, the workers
                                        in "old" are new processes (another identity), and a
                                        task pinned to each worker computes; answers the time
                                        (epoch, the host's clock) when all of that held
  {"cmd": "compute_on", "worker": "w1", "timeout": 5}
                                        whether a task pinned to that worker computes in time
  {"cmd": "hold", "n": 24}              compute n results spread over the workers and keep the
                                        futures; each result carries a token drawn when it was
                                        computed, so a recomputed result shows a new token
  {"cmd": "check_held", "timeout": 60}  gather the held results again and compare
"""

import json
import sys
import time
import uuid

from distributed import Client, wait


def square_with_token(x):
    # The token is drawn when the task runs: a result recomputed after a loss gets another.
    return x * x, uuid.uuid4().hex


def where_am_i(x):
    from distributed import get_worker

    return x, get_worker().name


class FaultClient:
    def __init__(self):
        # The timeout also bounds how long the client tries to reconnect after losing the
        # scheduler, which the scheduler fault tests rely on.
        self.client = Client(timeout="120s")
        self.held = []
        self.held_values = None

    def workers(self):
        info = self.client.scheduler_info(n_workers=-1)
        return info["id"], {
            str(w["name"]): {"address": address, "identity": w["local_directory"], "status": w["status"]}
            for address, w in info["workers"].items()
        }

    def state(self):
        scheduler_id, workers = self.workers()
        return {"scheduler": scheduler_id, "workers": workers}

    def computes_on(self, name, address, timeout):
        future = self.client.submit(where_am_i, time.time(), workers=[address], allow_other_workers=False, pure=False)
        try:
            return future.result(timeout=timeout)[1] == name
        finally:
            future.cancel()

    def compute_on(self, worker, timeout=5):
        _, workers = self.workers()
        if worker not in workers:
            return {"ok": False, "reason": f"{worker} is not connected"}
        try:
            return {"ok": self.computes_on(worker, workers[worker]["address"], timeout)}
        except Exception as error:  # a timeout or a lost worker: the task did not compute
            return {"ok": False, "reason": repr(error)}

    def ready(self, expected, old, old_scheduler):
        """None when the cluster is back and computing, else what it still lacks."""
        if self.client.status != "running":
            return f"client is {self.client.status}"
        scheduler_id, workers = self.workers()
        if old_scheduler and scheduler_id == old_scheduler:
            return "the old scheduler still answers"
        running = {name: w for name, w in workers.items() if w["status"] == "running"}
        if len(running) != expected:
            return f"{len(running)} of {expected} workers run"
        for name, identity in old.items():
            if name not in running or running[name]["identity"] == identity:
                return f"{name} is not a new worker process yet"
        for name, w in running.items():
            if not self.computes_on(name, w["address"], timeout=10):
                return f"{name} did not compute"
        return None

    def wait(self, workers, old=None, old_scheduler=None, timeout=180):
        deadline = time.time() + timeout
        missing = "not checked"
        while time.time() < deadline:
            try:
                missing = self.ready(workers, old or {}, old_scheduler)
            except Exception as error:  # the scheduler or a worker is still away
                missing = repr(error)
            if missing is None:
                return {"ok": True, "at": time.time()}
            time.sleep(0.25)
        return {"ok": False, "missing": missing}

    def hold(self, n=24):
        self.held = self.client.map(square_with_token, range(n), pure=False)
        wait(self.held)
        self.held_values = self.client.gather(self.held)
        who_has = self.client.who_has(self.held)
        _, workers = self.workers()
        names = {w["address"]: name for name, w in workers.items()}
        per_worker = {}
        for holders in who_has.values():
            for address in holders:
                per_worker[names.get(address, address)] = per_worker.get(names.get(address, address), 0) + 1
        return {"held": len(self.held), "per_worker": per_worker}

    def check_held(self, timeout=60):
        statuses = [f.status for f in self.held]
        try:
            wait(self.held, timeout=timeout)
            values = self.client.gather(self.held)
        except Exception as error:
            return {"ok": False, "statuses": statuses, "reason": repr(error)}
        correct = [v for i, v in enumerate(values) if v[0] == i * i]
        recomputed = [i for i, (v, before) in enumerate(zip(values, self.held_values)) if v[1] != before[1]]
        return {
            "ok": len(correct) == len(self.held) > 0 and not recomputed,
            "statuses": sorted(set(statuses)),
            "correct": len(correct),
            "recomputed": recomputed,
        }


def main():
    fault_client = FaultClient()
    print(json.dumps({"ready": True, **fault_client.state()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        command = request.pop("cmd")
        if command == "quit":
            break
        answer = getattr(fault_client, command)(**request)
        print(json.dumps(answer), flush=True)
    fault_client.client.close()


if __name__ == "__main__":
    main()
