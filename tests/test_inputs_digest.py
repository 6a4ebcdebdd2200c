"""roles/dask_cluster/files/inputs_digest.py, which names a baked node image (and what a node was
last configured from) by its inputs: the same inputs give the same digest; a changed task,
template, lock or setting gives another; what does not reach a node (a README, compiled Python)
does not count."""
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

SCRIPT = ROOT / "roles" / "dask_cluster" / "files" / "inputs_digest.py"


def digest(inputs, *paths):
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text()], capture_output=True, text=True,
                            input=json.dumps({"inputs": inputs, "paths": [str(path) for path in paths]}))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def role_and_lock(tmp_path):
    role = tmp_path / "roles" / "dask_env"
    shutil.copytree(ROOT / "roles" / "dask_env", role)
    lock = tmp_path / "requirements.lock"
    lock.write_text("dask==2026.8.0 --hash=sha256:" + "0" * 64 + "\n")
    return role, lock


def test_the_same_inputs_give_the_same_digest_and_where_they_lie_does_not_count(role_and_lock, tmp_path):
    role, lock = role_and_lock
    first = digest({"provider": "pip", "requirements": ["dask==2026.8.0"]}, role, lock)
    assert len(first) == 64 and int(first, 16) >= 0
    # The same files elsewhere, and the settings in another order: the same image.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(role, elsewhere / "dask_env")
    shutil.copy(lock, elsewhere / "requirements.lock")
    assert digest({"requirements": ["dask==2026.8.0"], "provider": "pip"},
                  elsewhere / "dask_env", elsewhere / "requirements.lock") == first


@pytest.mark.parametrize("change", ["task", "template", "lock", "setting", "new file"])
def test_what_reaches_a_node_changes_the_digest(role_and_lock, change):
    role, lock = role_and_lock
    settings = {"provider": "pip", "requirements": ["dask==2026.8.0"]}
    before = digest(settings, role, lock)
    if change == "task":
        (role / "tasks" / "sync.yml").write_text((role / "tasks" / "sync.yml").read_text() + "\n# changed\n")
    elif change == "template":
        (role / "templates" / "dask.yaml.j2").write_text("{{ dask_env_config | to_nice_yaml }}\n")
    elif change == "lock":
        lock.write_text(lock.read_text().replace("2026.8.0", "2026.8.1"))
    elif change == "setting":
        settings["requirements"] = ["dask==2026.8.0", "numba==0.68.1"]
    else:
        (role / "files" / "extra.py").write_text("print('new')\n")
    assert digest(settings, role, lock) != before


def test_readmes_and_compiled_python_do_not_count(role_and_lock):
    role, lock = role_and_lock
    before = digest({}, role, lock)
    (role / "README.md").write_text("reworded\n")
    (role / "files" / "__pycache__").mkdir()
    (role / "files" / "__pycache__" / "unmet_pins.cpython-311.pyc").write_bytes(b"\0\1")
    assert digest({}, role, lock) == before


def test_a_missing_path_is_an_error_not_a_digest(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text()], capture_output=True, text=True,
                            input=json.dumps({"inputs": {}, "paths": [str(tmp_path / "absent")]}))
    assert result.returncode != 0 and "does not exist" in result.stderr


# What a node is configured from (roles/dask_cluster/tasks/scope.yml): one digest per node.
OPTIONS = [{"argument_specs": {"main": {"options": {
    "dask_cluster_scheduler_port": {"type": "int", "default": 8786},
    "dask_cluster_tls_enabled": {"type": "bool", "default": True},
    "dask_worker_nthreads": {"type": "int", "default": 0},
    "dask_client_config": {"type": "dict", "default": {}},
}}}}]
GROUPS = {"scheduler": ["dask_scheduler"], "worker": ["dask_workers"], "client": ["dask_clients"]}
# Which group runs which role: dask_cluster's own list, as scope.yml passes it.
ROLE_GROUPS = yaml.safe_load((ROOT / "roles" / "dask_cluster" / "vars" / "main.yml").read_text())[
    "_dask_cluster_checked_roles"]


def node_digests(role, nodes, groups=GROUPS):
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text()], capture_output=True, text=True,
                            input=json.dumps({"inputs": {}, "paths": [str(role)], "options": OPTIONS,
                                              "nodes": nodes, "groups": groups,
                                              "role_groups": ROLE_GROUPS}))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_setting_given_as_its_default_or_as_a_string_digests_as_unset(role_and_lock):
    role, _ = role_and_lock
    unset = node_digests(role, {host: {} for host in GROUPS})
    # With the facts playbooks/upgrade.yml sets before its cluster.yml pass, which no later run has.
    given = node_digests(role, {host: {"dask_cluster_scheduler_port": "8786", "dask_cluster_tls_enabled": "true",
                                       "dask_worker_count": "5", "dask_prometheus_file_sd_dir": "/tmp/p",
                                       "dask_env_outdated": True, "dask_env_unmet_pins": ["distributed==1"],
                                       "dask_env_previous": "/opt/dask/envs/pip-0123456789abcdef"}
                                for host in GROUPS})
    assert given == unset and len(set(unset.values())) == 1
    # Changed for real: every node's digest changes.
    other_port = node_digests(role, {host: {"dask_cluster_scheduler_port": "8790"} for host in GROUPS})
    assert all(other_port[host] != unset[host] for host in GROUPS)


def test_a_setting_of_one_group_changes_only_that_groups_digest(role_and_lock):
    role, _ = role_and_lock
    unset = node_digests(role, {host: {} for host in GROUPS})
    client_setting = {"dask_client_config": {"distributed": {"comm": {"timeouts": {"connect": "45s"}}}}}
    changed = node_digests(role, {host: dict(client_setting) for host in GROUPS})
    assert changed["client"] != unset["client"]
    assert changed["worker"] == unset["worker"] and changed["scheduler"] == unset["scheduler"]
    threads = node_digests(role, {host: {"dask_worker_nthreads": 2} for host in GROUPS})
    assert threads["worker"] != unset["worker"] and threads["client"] == unset["client"]


def test_a_nodes_settings_are_read_by_name_and_nothing_else_is_read():
    """roles/dask_cluster/filter_plugins/variables.py's dask_cluster_settings, which feeds the
    node digests: a variable of another kind that cannot be read (templated) stops nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dask_cluster_variables", ROOT / "roles" / "dask_cluster" / "filter_plugins" / "variables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class HostVars(dict):
        def __getitem__(self, name):
            if name == "my_data_dir":
                raise AssertionError("read a variable that is not a setting")
            return super().__getitem__(name)

    variables = HostVars(dask_worker_nthreads=2, base_extra_packages=["htop"], my_data_dir="{{ undefined }}",
                         ansible_host="10.0.0.7", _dask_cluster_node_valid=True)
    assert module.dask_cluster_settings(variables, "^(dask|base|ssh_keys|conda)_") == {
        "dask_worker_nthreads": 2, "base_extra_packages": ["htop"]}


def test_a_workers_digest_holds_its_own_pools_settings_but_the_count(role_and_lock):
    """dask_worker_pools: a pool that scales, or a pool added, changes no node that exists;
    a change of a pool's settings changes its workers' digests only."""
    role, _ = role_and_lock
    groups = dict(GROUPS, big=["dask_workers", "dask_pool_big"])

    def digests(pools):
        return node_digests(role, {host: {"dask_worker_pools": pools} for host in groups}, groups)

    big = {"count": 1, "nthreads": 1, "resources": {"BIG": 1}}
    first = digests({"big": big})
    assert digests({"big": dict(big, count=4), "cheap": {"count": 8, "spot": True}}) == first
    changed = digests({"big": dict(big, nthreads=2)})
    assert changed["big"] != first["big"]
    assert {host: changed[host] for host in GROUPS} == {host: first[host] for host in GROUPS}
    # The default pool's workers digest as if there were no pools at all.
    assert {host: first[host] for host in GROUPS} == node_digests(role, {host: {} for host in GROUPS})
