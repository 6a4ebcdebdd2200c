"""Repository hygiene: no private keys tracked, CI runs the README's test command, values
repeated across roles agree."""

import re
import subprocess

import yaml

from conftest import ROOT

PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")


def test_no_private_key_is_tracked():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    offenders = []
    for name in filter(None, tracked.decode().split("\0")):
        path = ROOT / name
        if path.is_file() and PRIVATE_KEY.search(path.read_text(errors="ignore")):
            offenders.append(name)
    assert offenders == []


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/test" in readme
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_the_worker_dashboard_port_has_one_home():
    # dask_prometheus runs on the controller, outside the dask_worker role: both read the
    # shared default instead of repeating the number.
    worker = yaml.safe_load((ROOT / "roles" / "dask_worker" / "defaults" / "main.yml").read_text())
    assert worker["dask_worker_dashboard_port"] == "{{ dask_cluster_worker_dashboard_port }}"
    template = (ROOT / "roles" / "dask_prometheus" / "templates" / "targets.json.j2").read_text()
    assert "hostvars[host]['dask_worker_dashboard_port'] | default(dask_cluster_worker_dashboard_port)" in template
    assert "8789" not in template


def test_the_expected_worker_count_reads_the_worker_roles_default():
    nworkers = yaml.safe_load((ROOT / "roles" / "dask_worker" / "defaults" / "main.yml").read_text())["dask_worker_nworkers"]
    shared = (ROOT / "roles" / "dask_cluster" / "vars" / "main.yml").read_text()
    assert f"hostvars[host]['dask_worker_nworkers'] | default({nworkers})" in shared
    uses = subprocess.run(["grep", "-rlE", r"hostvars(\[host\]|, )\[?'dask_worker_nworkers'", "roles", "playbooks"],
                          cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert uses == ["roles/dask_cluster/vars/main.yml"]
