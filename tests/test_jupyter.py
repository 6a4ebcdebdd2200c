"""JupyterLab on the clients (dask_client_jupyter), without Docker: its packages join every
node's requirements (also with -e dask_env_extra_packages, also when only the clients'
inventory turns it on); the unit carries the Dask sandbox and the token's file, never the
token; the server configuration and dask-labextension's default URL; bad settings are refused
before anything changes, naming the variable."""

import copy
import json
import sys

import pytest
import yaml

from conftest import ROOT, ansible_playbook, valid_inventory

JUPYTER_PINS = yaml.safe_load((ROOT / "roles" / "dask_env" / "defaults" / "main.yml").read_text())[
    "dask_env_jupyter_packages"]


def directives(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def render(tmp_path, client_vars=None, extra_vars=None):
    """{host: {file: text}} of tests/playbooks/render-jupyter.yml for every node."""
    inventory = valid_inventory()
    for group in inventory["all"]["children"].values():
        for name, host in group["hosts"].items():
            (tmp_path / name).mkdir(exist_ok=True)
            host.update({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                         "render_dir": str(tmp_path / name)})
    if client_vars:
        inventory["all"]["children"]["dask_clients"]["vars"] = client_vars
    args = ["-e", json.dumps(extra_vars)] if extra_vars else []
    rc, output = ansible_playbook("tests/playbooks/render-jupyter.yml", inventory, tmp_path, args)
    assert rc == 0, output
    return {host.name: {path.name: path.read_text() for path in host.iterdir()}
            for host in tmp_path.iterdir() if host.is_dir()}


@pytest.fixture(scope="module")
def jupyter_on(tmp_path_factory):
    return render(tmp_path_factory.mktemp("on"), extra_vars={
        "dask_client_jupyter": True, "dask_env_extra_packages": ["sparse==0.16.0"],
        "dask_tls_operator_scheduler_address": "tls://127.0.0.1:8786"})


def test_jupyter_pins_join_every_nodes_requirements_whatever_the_extra_packages(jupyter_on):
    for host in ("sched", "w1", "w2", "c1"):
        requirements = json.loads(jupyter_on[host]["requirements.json"])
        assert set(JUPYTER_PINS) | {"sparse==0.16.0"} <= set(requirements), host


def test_jupyter_on_for_the_clients_only_still_reaches_every_node(tmp_path):
    rendered = render(tmp_path, client_vars={"dask_client_jupyter": True})
    assert all(set(JUPYTER_PINS) <= set(json.loads(files["requirements.json"])) for files in rendered.values())


def test_off_by_default_no_jupyter_pins(tmp_path):
    rendered = render(tmp_path)
    assert all(not set(JUPYTER_PINS) & set(json.loads(files["requirements.json"])) for files in rendered.values())


def test_the_unit_runs_sandboxed_as_dask_and_reads_the_token_from_a_file(jupyter_on):
    unit = jupyter_on["c1"]["dask-jupyter.service"]
    settings = directives(unit)
    assert settings["User"] == "dask" and settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict" and settings["ReadWritePaths"] == "/var/lib/dask"
    # The Dask sandbox's address families, and netlink for the kernels' ZeroMQ.
    assert settings["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6 AF_NETLINK"
    assert settings["ExecStart"] == "/opt/dask/env/bin/jupyter-lab --config=/etc/dask/jupyter/jupyter_server_config.py"
    assert "Environment=JUPYTER_TOKEN_FILE=/etc/dask/jupyter/token\n" in unit
    assert "Environment=DASK_ROOT_CONFIG=/etc/dask\n" in unit
    # No token of any kind in the unit or the configuration: only the file's path.
    for text in (unit, jupyter_on["c1"]["jupyter_server_config.py"]):
        assert "JUPYTER_TOKEN=" not in text and "--token" not in text and ".token" not in text


def test_the_server_serves_https_with_the_node_certificate_and_checks_the_dashboard_in_the_cluster(jupyter_on):
    config = jupyter_on["c1"]["jupyter_server_config.py"]
    compile(config, "jupyter_server_config.py", "exec")
    assert 'c.ServerApp.certfile = "/etc/dask/tls/node.pem"' in config
    assert 'c.ServerApp.keyfile = "/etc/dask/tls/node-key.pem"' in config
    assert "c.ServerApp.port = 8888\n" in config
    assert 'c.LabApp.extension_manager = "readonly"' in config
    # The browser's dashboard (loopback here) is reached at the scheduler's address.
    assert '("127.0.0.1", 8787):\n            ("sched", 8787)' in config
    overrides = json.loads(jupyter_on["c1"]["overrides.json"])
    assert overrides["dask-labextension:plugin"]["defaultURL"] == "https://127.0.0.1:8787"


BAD_SETTINGS = [
    ("dask_client_jupyter=maybe", "argument 'dask_client_jupyter' is of type str"),
    ("dask_client_jupyter_port=70000", "dask_client_jupyter_port must be a whole number from 1 to 65535"),
    ("dask_client_jupyter_port=8787", "dask_client_jupyter_port 8787 is a port of Dask"),
    ('{"dask_client_jupyter": true, "dask_cluster_tls_enabled": false}', "dask_client_jupyter needs dask_cluster_tls_enabled"),
    ("dask_client_jupyter_dashboard_url=127.0.0.1:8787", "dask_client_jupyter_dashboard_url must be"),
    ("dask_client_jupyter_root_dir=notebooks", "dask_client_jupyter_root_dir must be an absolute path"),
]


@pytest.mark.parametrize("extra,expected", BAD_SETTINGS, ids=[case[0] for case in BAD_SETTINGS])
def test_bad_jupyter_settings_are_refused_before_anything_changes(run_playbook, extra, expected):
    rc, output = run_playbook("playbooks/cluster.yml", copy.deepcopy(valid_inventory()), "-e", extra)
    assert rc != 0
    assert expected in output
    assert "PLAY [Prepare every node" not in output
