"""The GPU pool's worker node (molecule scenario 'gpu'): dask-worker.service runs dask-cuda as
the dask account (test_gpu.py computes on the GPU through it)."""

testinfra_hosts = ["dask-mol-gpu-gpu-1"]


def test_the_worker_service_runs_dask_cuda_as_dask(host):
    service = host.service("dask-worker")
    assert service.is_running
    assert "cuda worker" in host.check_output("systemctl show -p ExecStart --value dask-worker")
    pid = host.check_output("systemctl show -p MainPID --value dask-worker")
    assert host.check_output("ps -o user= -p %s", pid).strip() == "dask"

