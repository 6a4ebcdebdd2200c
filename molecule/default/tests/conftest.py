"""Shared helpers for the cluster tests (testinfra, run by molecule verify)."""

import base64
import json
from pathlib import Path

import pytest

ENV_PREFIX = "/opt/dask/env"
TLS_DIR = "/etc/dask/tls"
HERE = Path(__file__).parent
# `systemd-analyze security` exposure of the Dask units, measured at 1.5 (README, "Security
# model"); a change that loosens the sandbox fails the unit tests.
MAX_EXPOSURE = 1.5


@pytest.fixture(scope="module")
def inventory_groups(host):
    return host.ansible.get_variables()["groups"]


def login_shell(host, command, user="root"):
    """Run command in a login shell of user, as an operator would, and return the result."""
    if user == "root":
        return host.run("bash -lc %s", command)
    return host.run("su - %s -c %s", user, command)


def assert_service_runs_as_dask(host, unit):
    """unit is enabled and running, its main process and children run as dask, and no
    process from the Dask environment runs as root."""
    service = host.service(unit)
    assert service.is_enabled
    assert service.is_running
    pid = int(host.check_output("systemctl show -p MainPID --value %s", unit))
    assert pid > 0, f"{unit} has no main process"
    users = set(host.check_output("ps -o user= -p %s --ppid %s", str(pid), str(pid)).split())
    assert users == {"dask"}, f"{unit} processes run as {users}"
    root_dask = host.run("ps -u root -o args= | grep -c '[/]opt/dask/env/bin'")
    assert root_dask.stdout.strip() == "0", "a Dask process runs as root"


def smoke_test_report(host):
    result = login_shell(host, "dask-smoke-test --restart")
    assert result.stdout.strip(), f"dask-smoke-test printed nothing: {result.stderr}"
    return result.rc, json.loads(result.stdout.strip().splitlines()[-1])


def upload(host, script, path):
    """Copy a script of this directory to path on host."""
    encoded = base64.b64encode((HERE / script).read_bytes()).decode()
    host.check_output(f"echo {encoded} | base64 -d > {path}")


def prometheus_samples(host, port, metric):
    """The samples of metric (label set -> value) that /metrics on port serves over HTTPS."""
    text = host.check_output(f"curl -fsS --cacert {TLS_DIR}/ca.pem https://127.0.0.1:{port}/metrics")
    samples = {}
    for line in text.splitlines():
        if line.startswith(metric + "{") or line.startswith(metric + " "):
            name_and_labels, value = line.rsplit(" ", 1)
            samples[name_and_labels[len(metric):]] = float(value)
    return samples


def unit_exposure(host, unit):
    """The overall exposure level `systemd-analyze security` gives unit."""
    output = host.check_output("systemd-analyze security %s", unit)
    return float(output.splitlines()[-1].split(f"{unit}:")[1].split()[0])
