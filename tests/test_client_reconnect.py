"""roles/dask_client/files/retry_closed_tls_connect.py, the client preload every client node and
the operator's configuration load: a client whose reconnection is accepted and closed before
TLS starts must retry (and come back), not stay "connecting" for good.

Runs the reproducer of docs/upstream/client-start-tls-valueerror.md (its first python block)
on 127.0.0.1 in the Dask client environment that scripts/bootstrap builds (build/client-venv,
the cluster's pinned versions): a TLS scheduler is killed, its port accepts and closes every
connection for a while, then a new scheduler starts."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.client_env

PRELOAD = ROOT / "roles" / "dask_client" / "files" / "retry_closed_tls_connect.py"
REPORT = ROOT / "docs" / "upstream" / "client-start-tls-valueerror.md"
CLIENT_PYTHON = ROOT / "build" / "client-venv" / "bin" / "python"
# What the preload logs each time it turns the error into a retry.
RETRIED = "closed the connection before its TLS handshake: retrying"


@pytest.fixture(scope="module")
def reproducer(tmp_path_factory):
    if not CLIENT_PYTHON.exists():
        pytest.fail(f"{CLIENT_PYTHON} is missing: run scripts/bootstrap first")
    script = re.search(r"```python\n(.*?)```", REPORT.read_text(), re.S).group(1)
    path = tmp_path_factory.mktemp("reproducer") / "client_start_tls_repro.py"
    path.write_text(script)
    return path


def reproduce(reproducer, *args):
    """Run the reproducer; return (per-run results, summary, stderr)."""
    result = subprocess.run([str(CLIENT_PYTHON), str(reproducer), *args], capture_output=True, text=True,
                            timeout=150, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines and "runs" in lines[-1], f"rc {result.returncode}\n{result.stdout}\n{result.stderr[-4000:]}"
    return lines[:-1], lines[-1], result.stderr


def test_with_the_deployed_preload_a_client_comes_back(reproducer):
    # Within 55 s: after many failed attempts distributed's connect backoff may sleep for
    # most of the 60 s connect timeout (measured under load: median 7 s, at most 22 s).
    runs, summary, stderr = reproduce(reproducer, "--runs", "2", "--reset-seconds", "1.5", "--recover-within", "55",
                                      "--preload", str(PRELOAD))
    assert summary == {"runs": 2, "recovered": 2, "stuck": 0}, runs
    # The race was hit (else this test proves nothing) and retried.
    assert RETRIED in stderr, runs


def test_without_the_preload_the_client_stays_connecting_for_good(reproducer):
    """The upstream bug the preload exists for. When this fails, distributed (or tornado) has
    fixed it: drop the preload (dask_client_reconnect_workaround) and this test."""
    runs, summary, _ = reproduce(reproducer, "--runs", "1", "--reset-seconds", "3")
    assert summary["stuck"] == 1, runs
    assert runs[0]["status"] == "connecting" and runs[0]["new_client_connects"], runs
    assert "IOStream is not idle" in runs[0]["reconnect_died_with"], runs


def rendered(tmp_path, **variables):
    """What dask_client and dask_tls write, rendered by Ansible from the roles' own files."""
    files = [ROOT / "roles" / role / kind / "main.yml"
             for role, kind in [("dask_cluster", "defaults"), ("dask_client", "defaults"), ("dask_client", "vars"),
                                ("dask_tls", "defaults"), ("dask_tls", "vars")]]
    playbook = tmp_path / "render.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(f) for f in files],
        "tasks": [{"ansible.builtin.debug": {"msg": {
            "client_yaml": "{{ lookup('ansible.builtin.template', '%s') }}"
                           % (ROOT / "roles" / "dask_client" / "templates" / "client.yaml.j2"),
            "client_preload_file": "{{ _dask_client_preload_file }}",
            "operator": "{{ _dask_tls_operator_dask_config }}",
            "operator_preload": "{{ _dask_tls_operator_preload }}",
            "operator_preload_source": "{{ _dask_tls_operator_preload_source }}",
        }}}],
    }]))
    extra = {"dask_cluster_name": "test", "dask_cluster_scheduler_host": "sched", "dask_tls_ca_dir": str(tmp_path / "ca"),
             "dask_cluster_config_dir": str(tmp_path / "etc-dask"), "role_path": str(ROOT / "roles" / "dask_tls"),
             **variables}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook),
                             "-e", json.dumps(extra)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # raw_decode: the timer callback of ansible.cfg prints its recap after the JSON.
    return json.JSONDecoder().raw_decode(result.stdout)[0]["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


def dask_config_preloads(config_dir):
    """distributed.client.preload as the client environment reads it from a config directory."""
    result = subprocess.run([str(CLIENT_PYTHON), "-c", "import dask; print(dask.config.get('distributed.client.preload'))"],
                            capture_output=True, text=True, env=dict(os.environ, DASK_CONFIG=str(config_dir)), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_client_nodes_and_the_operator_load_the_preload(tmp_path):
    out = rendered(tmp_path, dask_client_config={"distributed": {"client": {"preload": "site_preload"}}})
    # The client node: client.yaml names the file tasks/configure.yml installs, before the
    # inventory's own preloads.
    etc = tmp_path / "etc-dask"
    etc.mkdir()
    (etc / "client.yaml").write_text(out["client_yaml"])
    assert Path(out["client_preload_file"]).parent == etc
    assert dask_config_preloads(etc) == str([out["client_preload_file"], "site_preload"])
    configure = yaml.safe_load((ROOT / "roles" / "dask_client" / "tasks" / "configure.yml").read_text())
    installs = [t["ansible.builtin.copy"] for t in configure if "ansible.builtin.copy" in t]
    assert {"src": PRELOAD.name, "dest": "{{ _dask_client_preload_file }}"}.items() <= installs[0].items()
    # The operator: dask.yaml names the file certificates.yml copies there, from dask_client.
    operator = tmp_path / "operator"
    operator.mkdir()
    (operator / "dask.yaml").write_text(yaml.safe_dump(out["operator"]))
    assert dask_config_preloads(operator) == str([out["operator_preload"]])
    assert Path(out["operator_preload_source"]).resolve() == PRELOAD
    assert out["operator_preload"] == str(tmp_path / "ca" / "operator" / PRELOAD.name)


def test_the_workaround_can_be_turned_off(tmp_path):
    out = rendered(tmp_path, dask_client_reconnect_workaround=False)
    assert "preload" not in yaml.safe_load(out["client_yaml"]).get("distributed", {}).get("client", {})

