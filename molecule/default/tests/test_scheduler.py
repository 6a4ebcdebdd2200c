"""The scheduler node: dask-scheduler.service running as dask, listening, healthy."""

from conftest import MAX_EXPOSURE, assert_service_runs_as_dask, prometheus_samples, unit_exposure

testinfra_hosts = ["ansible://dask_scheduler"]


def test_scheduler_service_runs_as_dask_not_root(host):
    assert_service_runs_as_dask(host, "dask-scheduler")


def test_scheduler_listens_on_its_ports(host):
    assert host.socket("tcp://0.0.0.0:8786").is_listening or host.socket("tcp://:::8786").is_listening
    assert host.socket("tcp://0.0.0.0:8787").is_listening or host.socket("tcp://:::8787").is_listening


def test_scheduler_health_answers_over_https_only(host):
    assert host.check_output("curl -fsS --cacert /etc/dask/tls/ca.pem https://127.0.0.1:8787/health") == "ok"
    assert host.run("curl -fsS http://127.0.0.1:8787/health").rc != 0


def test_scheduler_unit_exposes_little(host):
    assert unit_exposure(host, "dask-scheduler.service") <= MAX_EXPOSURE


def test_scheduler_unit_is_sandboxed(host):
    unit = host.file("/etc/systemd/system/dask-scheduler.service")
    assert (unit.user, unit.group, unit.mode) == ("root", "root", 0o644)
    shown = host.check_output(
        "systemctl show dask-scheduler -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p Restart"
    )
    assert "User=dask" in shown
    assert "NoNewPrivileges=yes" in shown
    assert "ProtectSystem=strict" in shown
    assert "PrivateTmp=yes" in shown
    assert "Restart=always" in shown


def test_scheduler_serves_prometheus_metrics_with_every_worker(host):
    inventory_groups = host.ansible.get_variables()["groups"]
    workers = prometheus_samples(host, 8787, "dask_scheduler_workers")
    assert workers, "no dask_scheduler_workers samples on /metrics"
    assert sum(workers.values()) == len(inventory_groups["dask_workers"])
