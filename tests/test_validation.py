"""Bad input is refused before anything changes, with a message naming the culprit."""

import copy

import pytest

from conftest import valid_inventory
from playbook_output import recap, run_tasks


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
    ("word for a boolean", with_vars("dask_clients", {"ssh_keys_exclusive": "maybe"}), "ssh_keys_exclusive"),
    ("number for a boolean", with_vars("dask_clients", {"dask_env_pip_no_index": 2}), "dask_env_pip_no_index"),
    ("bad cluster name", with_vars("dask_scheduler", {"dask_cluster_name": "My Cluster"}), "dask_cluster_name"),
    ("same ports", with_vars("dask_scheduler", {"dask_cluster_dashboard_port": 8786}), "must differ"),
    ("port out of range", with_vars("dask_workers", {"dask_cluster_scheduler_port": 70000}), "dask_cluster_scheduler_port"),
    ("bad account name", with_vars("dask_clients", {"dask_cluster_user": "Dask User"}), "dask_cluster_user"),
    ("relative TLS directory", with_vars("dask_workers", {"dask_cluster_tls_dir": "tls"}), "dask_cluster_tls_dir"),
    ("word for the TLS switch", with_vars("dask_workers", {"dask_cluster_tls_enabled": "sometimes"}), "dask_cluster_tls_enabled"),
    ("misspelled knob", with_vars("dask_workers", {"dask_worker_nthread": 2}), "Did you mean dask_worker_nthreads"),
    ("fractional worker count", with_vars("dask_scheduler", {"dask_worker_count": 2.5}), "dask_worker_count"),
    ("negative client count", with_vars("dask_scheduler", {"dask_client_count": -1}), "dask_client_count must be a whole number"),
    ("unknown cloud", with_vars("dask_scheduler", {"dask_cloud": "gcp"}), "dask_cloud"),
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


def in_pool_group(pool):
    """w2 in the group dask_pool_<pool> of a static inventory."""
    inventory = valid_inventory()
    workers = inventory["all"]["children"]["dask_workers"]
    workers["children"] = {f"dask_pool_{pool}": {"hosts": {"w2": workers["hosts"].pop("w2")}}}
    return inventory


BAD_INPUTS += [
    ("host in a pool that does not exist", in_pool_group("big"),
     "w2 is in the group dask_pool_big, but dask_worker_pools has no pool 'big'."),
    ("pools beyond the most workers", with_vars("dask_scheduler", {"dask_cluster_max_workers": 5, "dask_worker_count": 2,
                                                                   "dask_worker_pools": {"big": {"count": 4}}}),
     "dask_worker_count and the counts of dask_worker_pools ask for 6 workers in all, more than dask_cluster_max_workers (5)."),
    ("GPU pool with the conda provider", with_vars("dask_workers", {"dask_env_provider": "conda",
                                                                    "dask_worker_pools": {"cuda": {"gpu": True}}}),
     "dask_worker_pools cuda: GPU pools need dask_env_provider pip"),
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


def nodes_checked(output):
    """The nodes whose own settings validate-node.yml checked in a run's output."""
    return {host for host, tasks in run_tasks(output).items()
            if host != "localhost" and "dask_cluster : Refuse settings that no role declares (misspelled names)" in tasks}


def test_the_nodes_of_one_kind_are_checked_once_and_a_node_with_its_own_settings_on_its_own(run_playbook):
    """Eight workers, one with a bad setting of its own: the odd one is checked for itself, and
    the refusal names it; the others have the settings the controller checked, and are not
    checked again."""
    inventory = valid_inventory()
    workers = inventory["all"]["children"]["dask_workers"]["hosts"]
    for number in range(3, 9):
        workers[f"w{number}"] = {**workers["w1"], "ansible_host": f"dask-test-absent-w{number}"}
    workers["w7"]["dask_worker_nthreads"] = 0
    rc, output = run_playbook("playbooks/validate.yml", inventory)
    assert rc != 0
    checked = nodes_checked(output)
    assert checked == {"w7"}, checked
    assert "failed: [w7] (item=dask_worker_nthreads)" in output and "got '0'" in output
    assert {host: counts["failed"] for host, counts in recap(output).items() if counts["failed"]} == {"w7": 1}


def test_a_setting_read_from_each_nodes_variables_has_every_node_checked_on_its_own(run_playbook):
    """The controller cannot read a setting made from a node's own variables: no node counts
    as checked by it, and the run is not stopped for that (the nodes' own checks decide)."""
    inventory = valid_inventory()
    for group in inventory["all"]["children"].values():
        for name, host in group["hosts"].items():
            host["rack"] = f"rack-of-{name}"
    inventory["all"]["vars"] = {"dask_worker_name": "{{ rack }}"}
    rc, output = run_playbook("playbooks/validate.yml", inventory)
    assert rc == 0, output
    checked = nodes_checked(output)
    assert checked == {"sched", "w1", "w2", "c1"}, checked


MEMORY_LIMITS = ["auto", "4GiB", "500 MB", "8589934592", 0.9, 1, "2e9"]


def test_memory_limits_dask_accepts_are_accepted(run_playbook):
    """One worker per limit, in one run: each is checked on its own host."""
    inventory = valid_inventory()
    workers = inventory["all"]["children"]["dask_workers"]["hosts"]
    template = workers["w1"]
    workers.clear()
    for number, limit in enumerate(MEMORY_LIMITS, start=1):
        workers[f"w{number}"] = {**template, "dask_worker_memory_limit": limit}
    rc, output = run_playbook("playbooks/validate.yml", inventory)
    assert rc == 0, output
    assert all(f"w{number} " in output for number in range(1, len(MEMORY_LIMITS) + 1))


@pytest.mark.parametrize("duration", ["90s", "1h30m"])
def test_idle_shutdown_durations_are_accepted(run_playbook, duration):
    rc, output = run_playbook("playbooks/validate.yml", valid_inventory(), "-e", f"dask_cluster_idle_shutdown={duration}",
                              "-e", f"dask_cluster_idle_boot_grace={duration}")
    assert rc == 0, output


def test_command_line_strings_are_accepted_where_well_formed(run_playbook):
    # -e key=value always gives strings: numbers and booleans in that form must pass.
    rc, output = run_playbook("playbooks/validate.yml", valid_inventory(),
                              "-e", "dask_cluster_scheduler_port=9786", "-e", "dask_worker_nthreads=4",
                              "-e", "dask_cluster_tls_enabled=false", "-e", "ssh_keys_exclusive=no",
                              "-e", "dask_tls_cert_valid_days=90", "-e", "dask_worker_count=3")
    assert rc == 0, output


@pytest.mark.parametrize("extra,expected", [
    ("dask_worker_nthreads=four", "dask_worker_nthreads"),
    ("dask_cluster_tls_enabled=flase", "dask_cluster_tls_enabled"),
    ("dask_cluster_scheduler_port=87x6", "dask_cluster_scheduler_port"),
    ("dask_worker_count=", "dask_worker_count"),
    ("dask_worker_count=-1", "dask_worker_count"),
    ("dask_worker_count=10000", "dask_cluster_max_workers (500)"),
    ("dask_cluster_idle_shutdown=30", "dask_cluster_idle_shutdown must be a duration such as 30m"),
    ("dask_cluster_idle_shutdown=30s", "at least 1m), or '' for no idle shutdown; got '30s'"),
    ("dask_cluster_idle_shutdown=1 hour", "dask_cluster_idle_shutdown must be a duration"),
    ("dask_cluster_idle_boot_grace=300", "dask_cluster_idle_boot_grace must be a duration such as 5m"),
    ("dask_worker_cont=4", "unknown variable dask_worker_cont: no role declares it. Did you mean dask_worker_count"),
])
def test_malformed_command_line_values_are_refused_naming_the_variable(run_playbook, extra, expected):
    rc, output = run_playbook("playbooks/cluster.yml", valid_inventory(), "-e", extra)
    assert rc != 0
    assert expected in output
    assert "PLAY [Prepare every node" not in output


def test_check_mode_is_refused_at_the_start(run_playbook):
    rc, output = run_playbook("site.yml", valid_inventory(), "--check")
    assert rc != 0
    assert "--check is not supported" in output
    assert "PLAY [Choose the workers" not in output


@pytest.mark.parametrize("hosts,expected", [
    ("sched,w1", "dask_retire_hosts names sched, which is not in the group dask_workers"),
    ("w1,nosuch", "dask_retire_hosts names nosuch: no such host or group"),
    ("dask_workers", "dask_retire_hosts names every worker"),
    ("", "dask_retire_hosts is empty"),
])
def test_retire_refuses_the_whole_list_before_touching_a_worker(run_playbook, hosts, expected):
    rc, output = run_playbook("playbooks/retire.yml", valid_inventory(), "-e", f"dask_retire_hosts={hosts}")
    assert rc != 0
    assert expected in output
    # The hosts point at containers that do not exist: a play that reached a worker would
    # have failed on connecting, and its tasks would show.
    assert "Retire the workers through the scheduler" not in output


def test_static_inventory_without_a_scheduler_is_named_at_once(run_playbook):
    inventory = valid_inventory()
    inventory["all"]["children"]["dask_schedulers"] = inventory["all"]["children"].pop("dask_scheduler")
    rc, output = run_playbook("site.yml", inventory)
    assert rc != 0
    assert "Group 'dask_scheduler' must hold exactly one host; it holds 0" in output
    assert "dask_schedulers" in output  # the groups it has, to spot the misspelling
    assert "Wait until every machine answers" not in output


BAD_POOLS = {
    "big": {"count": -1, "nthreads": 0, "memory_limit": "lots", "resources": {"BIG": "many"}, "flavour": "x", "gpu": "sometimes"},
    "workers": {"count": 1},
    "Spot-Pool": {"count": 1},
    "cheap": {"spot": "maybe", "instance_type": "large"},
}


def test_bad_pools_are_refused_naming_the_pool_and_the_setting(run_playbook):
    """Every pool's every bad setting is named in one run, before anything changes."""
    inventory = valid_inventory()
    inventory["all"]["vars"] = {"dask_worker_pools": BAD_POOLS}
    rc, output = run_playbook("playbooks/cluster.yml", inventory)
    assert rc != 0
    for expected in ["dask_worker_pools.big.count must be a whole number of 0 or more; got '-1'",
                     "dask_worker_pools.big.nthreads must be a whole number of at least 1",
                     "dask_worker_pools.big.memory_limit must be 'auto'",
                     "dask_worker_pools.big.resources must map resource names to numbers",
                     "dask_worker_pools.big has unknown settings: flavour.",
                     "dask_worker_pools.big.gpu must be true or false; got 'sometimes'",
                     "dask_worker_pools.workers: 'workers' is taken by the cluster's groups and nodes",
                     "dask_worker_pools.Spot-Pool: a pool's name must be 1 to 32 lower-case letters",
                     "dask_worker_pools.cheap.spot must be true or false; got 'maybe'",
                     "dask_worker_pools.cheap.instance_type must be an EC2 instance type"]:
        assert expected in output, expected
    assert "PLAY [Prepare every node" not in output

