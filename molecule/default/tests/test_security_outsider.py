"""From a container on the cluster's network that is not part of the cluster."""

import json

from conftest import upload

testinfra_hosts = ["ansible://outsiders"]


def test_only_the_intended_ports_answer(host, inventory_groups):
    upload(host, "port_scan.py", "/tmp/port_scan.py")
    nodes = inventory_groups["dask_scheduler"] + inventory_groups["dask_workers"] + inventory_groups["dask_clients"]
    open_ports = json.loads(host.check_output("python3 /tmp/port_scan.py " + " ".join(nodes)))
    for scheduler in inventory_groups["dask_scheduler"]:
        assert open_ports[scheduler] == [22, 8786, 8787]
    for worker in inventory_groups["dask_workers"]:
        ports = set(open_ports[worker])
        comm = {port for port in ports if 40000 <= port <= 40099}
        nanny = {port for port in ports if 40100 <= port <= 40199}
        assert comm and nanny, f"{worker}: no worker or nanny port in the fixed ranges: {sorted(ports)}"
        assert ports - comm - nanny == {22, 8789}, f"{worker} answers on {sorted(ports)}"
    for client in inventory_groups["dask_clients"]:
        assert open_ports[client] == [22]


def test_dashboard_speaks_only_verified_https(host, inventory_groups):
    url = f"{inventory_groups['dask_scheduler'][0]}:8787/health"
    fetch = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"
    assert host.run("python3 -c %s %s", fetch, f"http://{url}").rc != 0
    # Without the cluster CA nobody can verify the dashboard's certificate either.
    unverified = host.run("python3 -c %s %s", fetch, f"https://{url}")
    assert unverified.rc != 0
    assert "CERTIFICATE_VERIFY_FAILED" in unverified.stderr
