"""scripts/cluster up and scripts/bootstrap: the lock is made once, with the run's arguments.

Without them, `scripts/cluster up -e '{"dask_env_extra_packages": [...]}'` had bootstrap lock
the environment without the extra packages (and take them out of build/client-venv), then
image.yml lock it again with them (and put them back), at every bring-up."""

import json
import os
import stat
import subprocess

from conftest import ROOT
from test_lock_environment import make_wheel

def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_up_gives_its_arguments_to_bootstrap_and_both_playbooks(tmp_path):
    """The script itself, in a copy of the repository whose bootstrap and ansible-playbook
    only note how they were called."""
    repo, calls = tmp_path / "repo", tmp_path / "calls"
    (repo / "scripts").mkdir(parents=True)
    executable(repo / "scripts" / "cluster", (ROOT / "scripts" / "cluster").read_text())
    note = f'#!/bin/sh\necho "$(basename "$0") $*" >> {calls}\n'
    executable(repo / "scripts" / "bootstrap", note)
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "activate").write_text("")
    (tmp_path / "bin").mkdir()
    executable(tmp_path / "bin" / "ansible-playbook", note)
    extra = '{"dask_env_extra_packages": ["numba==0.68.1"]}'
    result = subprocess.run([str(repo / "scripts" / "cluster"), "up", "-e", extra], capture_output=True, text=True,
                            env=dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}"), timeout=60)
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        f"bootstrap -e {extra}",
        f"ansible-playbook -i inventory/local playbooks/image.yml -e {extra}",
        f"ansible-playbook -i inventory/local site.yml -e {extra}",
    ]


def test_bootstraps_arguments_reach_the_lock_it_makes(tmp_path):
    """The real bootstrap (everything else it does is done already here), locking a package
    from a folder of wheels into a folder of this test, and leaving build/client-venv alone."""
    make_wheel(tmp_path / "index", "toplevel", "1.0")
    settings = {"dask_env_lock_dir": str(tmp_path / "lock"), "dask_env_packages": ["toplevel==1.0"],
                "dask_client_jupyter": False, "dask_env_pip_no_index": True,
                "dask_env_pip_find_links": [str(tmp_path / "index")], "dask_env_controller_env": ""}
    # bootstrap activates .venv itself.
    env = dict(os.environ, DASK_CLUSTER_NAME="dask-bootstrap-args")
    result = subprocess.run([str(ROOT / "scripts" / "bootstrap"), "-e", json.dumps(settings)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lock = (tmp_path / "lock" / "requirements.lock").read_text()
    assert "\ntoplevel==1.0 --hash=sha256:" in lock, lock
