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


def test_prometheus_targets_use_the_worker_dashboard_port_default():
    # dask_prometheus runs on the controller, outside the dask_worker role, so it repeats that
    # role's default port as a fallback: the two must agree.
    port = yaml.safe_load((ROOT / "roles" / "dask_worker" / "defaults" / "main.yml").read_text())["dask_worker_dashboard_port"]
    template = (ROOT / "roles" / "dask_prometheus" / "templates" / "targets.json.j2").read_text()
    assert f"hostvars[host]['dask_worker_dashboard_port'] | default({port})" in template
