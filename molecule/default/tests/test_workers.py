"""Worker nodes: dask-worker.service as dask, restarted always, connected to the scheduler."""

from conftest import MAX_EXPOSURE, assert_service_runs_as_dask, prometheus_samples, unit_exposure

testinfra_hosts = ["ansible://dask_workers"]


def test_worker_service_and_its_processes_run_as_dask_not_root(host):
    assert_service_runs_as_dask(host, "dask-worker")


def test_worker_unit_exposes_little(host):
    assert unit_exposure(host, "dask-worker.service") <= MAX_EXPOSURE


def test_worker_dashboard_listens_and_is_healthy(host):
    assert host.socket("tcp://0.0.0.0:8789").is_listening or host.socket("tcp://:::8789").is_listening
    assert host.check_output("curl -fsS --cacert /etc/dask/tls/ca.pem https://127.0.0.1:8789/health") == "ok"
    assert host.run("curl -fsS http://127.0.0.1:8789/health").rc != 0


def test_worker_restarts_always_after_a_pause(host):
    shown = host.check_output("systemctl show dask-worker -p Restart -p RestartUSec -p User -p NoNewPrivileges")
    assert "Restart=always" in shown
    assert "RestartUSec=5s" in shown
    assert "User=dask" in shown
    assert "NoNewPrivileges=yes" in shown


def test_worker_local_directory(host):
    directory = host.file("/var/lib/dask/worker-space")
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("dask", "dask", 0o750)


def test_admin_authorized_keys_are_private(host):
    keys = host.file("/home/ubuntu/.ssh/authorized_keys")
    assert (keys.user, keys.mode) == ("ubuntu", 0o600)
    assert keys.content_string.startswith("ssh-ed25519 ")


def test_worker_serves_prometheus_metrics(host):
    threads = prometheus_samples(host, 8789, "dask_worker_threads")
    assert set(threads) == {""}, f"expected one dask_worker_threads sample, got {threads}"
    assert threads[""] >= 1
