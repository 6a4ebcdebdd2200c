"""Shared fixtures for the repository's unit tests (no Docker needed)."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta" / "main.yml").exists())


def valid_inventory():
    """A cluster inventory that passes validation. Hosts point at containers that do not
    exist, so a run that got past validation would fail on connecting, not change anything."""
    def host(name):
        return {"ansible_connection": "community.docker.docker", "ansible_host": f"dask-test-absent-{name}"}

    return {
        "all": {
            "children": {
                "dask_scheduler": {"hosts": {"sched": host("sched")}},
                "dask_workers": {"hosts": {"w1": host("w1"), "w2": host("w2")}},
                "dask_clients": {"hosts": {"c1": host("c1")}},
            }
        }
    }


def ansible_playbook(playbook, inventory, workdir, extra_args=()):
    """Run a playbook of this repository against an inventory dict (written to workdir),
    with extra command-line arguments; return (rc, output)."""
    inventory_file = workdir / "inventory.yml"
    # The lock beside the inventory would be resolved anew in every test's directory: one
    # per test process instead (what locking does is tested in test_lock_environment.py).
    # A group's own dask_env_lock_dir still wins over this one.
    inventory = copy.deepcopy(inventory)
    inventory.setdefault("all", {}).setdefault("vars", {}).setdefault(
        "dask_env_lock_dir", str(ROOT / "build" / "unit-lock" / os.environ.get("PYTEST_XDIST_WORKER", "main")))
    inventory_file.write_text(yaml.safe_dump(inventory))
    executable = Path(sys.executable).parent / "ansible-playbook"
    command = [str(executable), "-i", str(inventory_file), str(ROOT / playbook), *extra_args]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def run_playbook(tmp_path):
    """Run a playbook of this repository against an inventory dict; return (rc, output)."""

    def run(playbook, inventory, *extra_args):
        return ansible_playbook(playbook, inventory, tmp_path, extra_args)

    return run
