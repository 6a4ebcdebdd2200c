"""Watch which distributed versions compute together, while an upgrade runs.

Run with a Python that has distributed, and DASK_CONFIG pointing at the operator's config.
Every ~0.5 s it connects and prints one JSON line: {"t": seconds, "scheduler": version,
"workers": [version, ...]} or {"t": seconds, "down": reason} when the scheduler does not
answer. Runs until it is terminated.
"""

import asyncio
import json
import time
import warnings

from distributed import Client

warnings.simplefilter("ignore")  # a client of another version warns on every connection


async def sample():
    async with Client(asynchronous=True, timeout="3s") as client:
        versions = await client.get_versions()
    return {
        "scheduler": versions["scheduler"]["packages"]["distributed"],
        "workers": sorted(info["packages"]["distributed"] for info in versions["workers"].values()),
    }


async def main():
    started = time.monotonic()
    while True:
        try:
            # A call in flight when the scheduler stops can wait forever: bound every sample.
            line = await asyncio.wait_for(sample(), timeout=8)
        except Exception as error:  # noqa: BLE001 - any failure to reach the cluster is "down"
            line = {"down": type(error).__name__}
        print(json.dumps({"t": round(time.monotonic() - started, 2), **line}), flush=True)
        await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
