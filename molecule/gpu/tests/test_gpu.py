"""A GPU pool's worker on a real GPU (molecule scenario 'gpu'): it runs dask-cuda in its
sandbox, the scheduler sees its device, and work sent to it computes on the GPU."""

import json

import pytest

testinfra_hosts = ["dask-mol-gpu-client"]

# Run on the client as an operator would: its Dask configuration (TLS) reaches the scheduler.
GPU_WORK = r"""
import json
from dask.distributed import Client


def on_gpu():
    import cupy
    import pynvml
    pynvml.nvmlInit()
    return {"devices": pynvml.nvmlDeviceGetCount(), "sum": float(cupy.arange(1_000_000, dtype=cupy.float64).sum())}


with Client(timeout="60s") as client:
    workers = client.scheduler_info()["workers"].values()
    gpu_workers = [w for w in workers if w.get("pool") == "gpu"]
    result = client.submit(on_gpu, resources={"GPU": 1}, pure=False).result()
    print(json.dumps({"gpu_workers": len(gpu_workers), "device": [w.get("gpu", {}).get("name") for w in gpu_workers],
                      "result": result}))
"""


@pytest.fixture(scope="module")
def report(host):
    host.check_output("cat > /tmp/gpu_work.py <<'PYEOF'\n%s\nPYEOF" % GPU_WORK)
    result = host.run("bash -lc '/opt/dask/env/bin/python /tmp/gpu_work.py'")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_gpu_worker_registers_with_its_device(report):
    assert report["gpu_workers"] == 1
    assert all(report["device"]), report


def test_work_sent_to_the_gpu_computes_there(report):
    assert report["result"]["devices"] >= 1
    assert report["result"]["sum"] == sum(range(1_000_000))


def test_the_walkthrough_passes_with_the_gpu_workers_extra_packages(host):
    result = host.run("bash -lc 'dask-smoke-test'")
    assert result.rc == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["checks"]["versions_match"]
