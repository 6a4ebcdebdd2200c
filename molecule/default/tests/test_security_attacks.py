"""From a client node, with no help from its Dask configuration: intruders are refused by
the scheduler and by every worker, and the cluster's certificate works."""

import json

from conftest import TLS_DIR, upload

testinfra_hosts = ["ansible://dask_clients"]


def test_intruders_are_refused_and_the_cluster_certificate_works(host, inventory_groups):
    upload(host, "attack_client.py", "/tmp/attack_client.py")
    host.check_output("mkdir -p /tmp/no-dask-config")
    scheduler = inventory_groups["dask_scheduler"][0]
    result = host.run(
        "env DASK_ROOT_CONFIG=/tmp/no-dask-config DASK_CONFIG=/tmp/no-dask-config "
        "/opt/dask/env/bin/python /tmp/attack_client.py %s %s %s %s /tmp/attack",
        f"{scheduler}:8786", f"{TLS_DIR}/ca.pem", f"{TLS_DIR}/node.pem", f"{TLS_DIR}/node-key.pem",
    )
    assert result.rc == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report) == 1 + len(inventory_groups["dask_workers"]), report
    for address, attempts in report.items():
        assert attempts == {
            "cluster_certificate": True,
            "plain_tcp": False,
            "tls_without_certificate": False,
            "certificate_from_another_ca": False,
        }, address
