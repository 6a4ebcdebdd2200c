"""Watch which distributed versions compute together, while an upgrade runs.

Run with a Python that has distributed and the cluster's Dask configuration (DASK_CONFIG, or
/etc/dask on a client node). Every ~0.5 s it connects and prints one JSON line: {"t":
seconds, "scheduler": version, "workers": [version, ...]}, or {"t": seconds, "down": reason}
when the scheduler does not answer. It stops when its standard input closes.

pause(samples, old, new, workers): the seconds from the last sample of the old version with
every worker to the first of the new one with every worker: how long the upgrade stopped compute.
(tests/integration/test_local_cloud.py and scripts/bench use it.)
"""

import asyncio
import json
import sys
import time
import warnings


def pause(samples, old, new, workers):
    def whole(version):
        return [sample["t"] for sample in samples
                if sample.get("scheduler") == version and sample["workers"] == [version] * workers]

    return round(min(whole(new)) - max(whole(old)), 1)


async def sample(client_class):
    async with client_class(asynchronous=True, timeout="3s") as client:
        versions = await client.get_versions()
    return {
        "scheduler": versions["scheduler"]["packages"]["distributed"],
        "workers": sorted(info["packages"]["distributed"] for info in versions["workers"].values()),
    }


async def watch():
    # Imported here, not at the top: scripts/bench imports pause() with no distributed at hand.
    from distributed import Client

    warnings.simplefilter("ignore")  # a client of another version warns on every connection
    stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    started = time.monotonic()
    while not stdin_closed.done():
        try:
            # A call in flight when the scheduler stops can wait forever: bound every sample.
            line = await asyncio.wait_for(sample(Client), timeout=8)
        except Exception as error:  # noqa: BLE001 - any failure to reach the cluster is "down"
            line = {"down": type(error).__name__}
        print(json.dumps({"t": round(time.monotonic() - started, 2), **line}), flush=True)
        await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(watch())
