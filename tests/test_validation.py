"""Bad input is refused before anything changes, with a message naming the culprit."""

import copy

import pytest

from conftest import valid_inventory


def with_vars(host_group, variables):
    inventory = valid_inventory()
    group = inventory["all"]["children"][host_group]
    group["vars"] = variables
    return inventory


BAD_INPUTS = [
    ("zero threads", with_vars("dask_workers", {"dask_worker_nthreads": 0}), "dask_worker_nthreads"),
    ("negative threads", with_vars("dask_workers", {"dask_worker_nthreads": -4}), "dask_worker_nthreads"),
    ("zero processes", with_vars("dask_workers", {"dask_worker_nworkers": 0}), "dask_worker_nworkers"),
    ("malformed memory limit", with_vars("dask_workers", {"dask_worker_memory_limit": "lots"}), "dask_worker_memory_limit"),
    ("memory fraction above 1", with_vars("dask_workers", {"dask_worker_memory_limit": 1.5}), "dask_worker_memory_limit"),
    ("unknown provider", with_vars("dask_workers", {"dask_env_provider": "nix"}), "dask_env_provider"),
    ("string for a boolean", with_vars("dask_clients", {"ssh_keys_exclusive": "yes"}), "ssh_keys_exclusive"),
    ("string for a boolean", with_vars("dask_clients", {"dask_env_pip_no_index": "false"}), "dask_env_pip_no_index"),
    ("bad cluster name", with_vars("dask_scheduler", {"dask_cluster_name": "My Cluster"}), "dask_cluster_name"),
    ("same ports", with_vars("dask_scheduler", {"dask_cluster_dashboard_port": 8786}), "must differ"),
    ("port out of range", with_vars("dask_workers", {"dask_cluster_scheduler_port": 70000}), "dask_cluster_scheduler_port"),
    ("bad account name", with_vars("dask_clients", {"dask_cluster_user": "Dask User"}), "dask_cluster_user"),
    ("relative TLS directory", with_vars("dask_workers", {"dask_cluster_tls_dir": "tls"}), "dask_cluster_tls_dir"),
    ("string for the TLS switch", with_vars("dask_workers", {"dask_cluster_tls_enabled": "yes"}), "dask_cluster_tls_enabled"),
    ("zero-day certificates", with_vars("dask_workers", {"dask_tls_cert_valid_days": 0}), "dask_tls_cert_valid_days"),
    ("renewal beyond lifetime", with_vars("dask_workers", {"dask_tls_renew_before_days": 400}), "dask_tls_renew_before_days"),
    ("malformed SAN", with_vars("dask_workers", {"dask_tls_extra_sans": ["dask.example.com"]}), "dask_tls_extra_sans"),
    ("relative CA directory", with_vars("dask_clients", {"dask_tls_ca_dir": "tls/ca"}), "dask_tls_ca_dir"),
    ("plain operator address", with_vars("dask_clients", {"dask_tls_operator_scheduler_address": "tcp://1.2.3.4:8786"}),
     "dask_tls_operator_scheduler_address"),
    ("worker nanny port range", with_vars("dask_workers", {"dask_worker_nanny_port": "low:high"}), "dask_worker_nanny_port"),
]


def without_workers():
    inventory = valid_inventory()
    inventory["all"]["children"]["dask_workers"] = {"hosts": {}}
    return inventory


def two_schedulers():
    inventory = valid_inventory()
    scheduler = inventory["all"]["children"]["dask_scheduler"]["hosts"]
    scheduler["sched2"] = copy.deepcopy(scheduler["sched"])
    return inventory


BAD_INPUTS += [
    ("empty workers group", without_workers(), "Group 'dask_workers' is empty"),
    ("two schedulers", two_schedulers(), "Group 'dask_scheduler' must hold exactly one host; it holds 2"),
]


@pytest.mark.parametrize("case,inventory,expected", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_cluster_playbook_refuses_bad_input_before_changing_anything(run_playbook, case, inventory, expected):
    rc, output = run_playbook("playbooks/cluster.yml", inventory)
    assert rc != 0
    assert expected in output
    # The run stopped in the validation play: no play that touches hosts began.
    assert "PLAY [Prepare every node" not in output


def test_valid_inventory_passes_validation(run_playbook):
    rc, output = run_playbook("playbooks/validate.yml", valid_inventory())
    assert rc == 0, output
    assert "failed=0" in output


@pytest.mark.parametrize("limit", ["auto", "4GiB", "500 MB", "8589934592", 0.9, 1, "2e9"])
def test_memory_limits_dask_accepts_are_accepted(run_playbook, limit):
    rc, output = run_playbook("playbooks/validate.yml", with_vars("dask_workers", {"dask_worker_memory_limit": limit}))
    assert rc == 0, output
