"""Client nodes: the operator's experience, and the classic walkthrough on the cluster."""

from pathlib import Path

import pytest

from conftest import ENV_PREFIX, login_shell, smoke_test_report

ROOT = Path(__file__).resolve().parents[3]

testinfra_hosts = ["ansible://dask_clients"]


@pytest.mark.parametrize("user", ["root", "ubuntu"])
def test_login_shell_has_the_dask_python(host, user):
    result = login_shell(host, "command -v python", user=user)
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"{ENV_PREFIX}/bin/python"


@pytest.mark.parametrize("user", ["root", "ubuntu"])
def test_client_with_no_arguments_connects_to_this_cluster(host, user, inventory_groups):
    script = (
        "python -c \"from distributed import Client; c = Client(timeout='30s'); "
        "print(len(c.scheduler_info()['workers'])); c.close()\""
    )
    result = login_shell(host, script, user=user)
    assert result.rc == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == len(inventory_groups["dask_workers"])


def test_client_config_points_at_the_scheduler(host):
    config = host.file("/etc/dask/client.yaml")
    assert (config.user, config.mode) == ("root", 0o644)
    assert "scheduler-address: tls://" in config.content_string
    assert ":8786" in config.content_string


def test_classic_walkthrough_runs_on_the_cluster(host, inventory_groups):
    rc, report = smoke_test_report(host)
    assert report["total"] == -285
    assert report["workers"] == len(inventory_groups["dask_workers"])
    assert report["array_tasks_on_cluster"] >= 10
    assert abs(report["array_sum"] - 5_000_000) < 50_000
    assert report["version_mismatches"] == []
    # Every locked package (molecule.yml's dask_env_lock_dir), and Python.
    lock = (ROOT / "build" / "dask-env" / "molecule" / "requirements.lock").read_text().splitlines()
    assert report["packages_compared"] == len([line for line in lock if line and not line.startswith("#")]) + 1
    assert report["encrypted"] is True
    assert report["versions"]["dask"] == "2026.8.0"
    failed = [name for name, ok in report["checks"].items() if not ok]
    assert failed == []
    assert rc == 0


def test_cluster_key_reaches_scheduler_and_workers(host, inventory_groups):
    key = host.file("/home/ubuntu/.ssh/id_ed25519")
    assert (key.user, key.mode) == ("ubuntu", 0o600)
    for target in inventory_groups["dask_scheduler"] + inventory_groups["dask_workers"]:
        result = host.run("su - ubuntu -c %s", f"ssh -o BatchMode=yes {target} hostname")
        assert result.rc == 0, f"ssh to {target}: {result.stderr}"
        assert result.stdout.strip() == target
