"""roles/dask_scheduler/files/stop_listening_first.py, the scheduler's preload: on shutdown the
scheduler must stop listening before it aborts the clients' connections, so a client that
reconnects at once is refused (and retries) instead of being accepted and reset (which
distributed does not retry: the client would stay "connecting" for good).

Runs a real in-process scheduler and client in the Dask client environment that
scripts/bootstrap builds (build/client-venv, the cluster's pinned versions)."""

import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.client_env

PRELOAD = ROOT / "roles" / "dask_scheduler" / "files" / "stop_listening_first.py"
CLIENT_PYTHON = ROOT / "build" / "client-venv" / "bin" / "python"

# Prints, for every client connection the scheduler aborts while it closes, whether its
# listener was still accepting connections at that moment.
PROBE = """
import asyncio, importlib.util, sys
from distributed import Client, Scheduler

async def main(preload):
    async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as scheduler:
        if preload:
            spec = importlib.util.spec_from_file_location("preload", preload)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.dask_setup(scheduler)
        async with Client(scheduler.address, asynchronous=True):
            listening = []
            for stream in scheduler.client_comms.values():
                def abort(original=stream.abort):
                    listening.append(any(listener.tcp_server is not None for listener in scheduler.listeners))
                    original()
                stream.abort = abort
            await scheduler.close()
            print(listening)

asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
"""


def listening_when_clients_are_dropped(*preload):
    if not CLIENT_PYTHON.exists():
        pytest.fail(f"{CLIENT_PYTHON} is missing: run scripts/bootstrap first")
    result = subprocess.run(
        [str(CLIENT_PYTHON), "-c", PROBE, *map(str, preload)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_without_the_preload_the_scheduler_drops_clients_while_it_still_listens():
    # The upstream order the preload exists for; if distributed changes it, this says so.
    assert listening_when_clients_are_dropped() == "[True]"


def test_with_the_preload_the_scheduler_stops_listening_first():
    assert listening_when_clients_are_dropped(PRELOAD) == "[False]"
