"""scripts/cluster up and scripts/bootstrap: the lock is made once, with the run's arguments;
and what up says of JupyterLab at the end.

Without the arguments, `scripts/cluster up -e '{"dask_env_extra_packages": [...]}'` had
bootstrap lock the environment without the extra packages (and take them out of
build/client-venv), then image.yml lock it again with them (and put them back), at every
bring-up."""

import json
import os
import stat
import subprocess

import pytest

from conftest import ROOT
from test_lock_environment import make_wheel


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def copy_with_stand_ins(tmp_path):
    """A copy of scripts/cluster in a repository whose bootstrap and ansible-playbook only note
    how they were called (in tmp_path/calls), and the PATH that finds that ansible-playbook."""
    repo, calls = tmp_path / "repo", tmp_path / "calls"
    (repo / "scripts").mkdir(parents=True)
    executable(repo / "scripts" / "cluster", (ROOT / "scripts" / "cluster").read_text())
    note = f'#!/bin/sh\necho "$(basename "$0") $*" >> {calls}\n'
    executable(repo / "scripts" / "bootstrap", note)
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "activate").write_text("")
    (tmp_path / "bin").mkdir()
    executable(tmp_path / "bin" / "ansible-playbook", note)
    return repo, calls, f"{tmp_path / 'bin'}:{os.environ['PATH']}"


def test_up_gives_its_arguments_to_bootstrap_and_both_playbooks(tmp_path):
    repo, calls, path = copy_with_stand_ins(tmp_path)
    extra = '{"dask_env_extra_packages": ["numba==0.68.1"]}'
    result = subprocess.run([str(repo / "scripts" / "cluster"), "up", "-e", extra], capture_output=True, text=True,
                            env=dict(os.environ, PATH=path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        f"bootstrap -e {extra}",
        f"ansible-playbook -i inventory/local playbooks/image.yml -e {extra}",
        f"ansible-playbook -i inventory/local site.yml -e {extra}",
    ]


@pytest.mark.parametrize("jupyter_active, published", [(True, "8888"), (True, ""), (False, "")])
def test_up_says_where_jupyterlab_runs_with_its_token(tmp_path, jupyter_active, published):
    """After site.yml: the URL with the token where the client's JupyterLab is published on
    loopback, which node runs it and where the token is where it is not, nothing where the
    client runs no JupyterLab. docker is a stand-in too: `exec` answers whether the service
    is active, `port` lists what the client publishes."""
    repo, _, path = copy_with_stand_ins(tmp_path)
    executable(tmp_path / "bin" / "docker", f"""#!/bin/sh
case "$1" in
  exec) exit {0 if jupyter_active else 3} ;;
  port) [ -z "{published}" ] || echo "8888/tcp -> 127.0.0.1:{published}" ;;
esac
""")
    token_file = repo / "inventory" / "local" / ".tls" / "dask-lab" / "jupyter-token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("t0ken")
    result = subprocess.run([str(repo / "scripts" / "cluster"), "up"], capture_output=True, text=True,
                            env=dict(os.environ, PATH=path, DASK_CLUSTER_NAME="dask-lab"), timeout=60)
    assert result.returncode == 0, result.stderr
    said = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("Jupyter:")]
    if not jupyter_active:
        assert said == [], result.stdout
    elif published:
        assert said == ["Jupyter:    https://127.0.0.1:8888/lab?token=t0ken"], result.stdout
    else:
        assert said == [f"Jupyter:    runs on dask-lab-client-1 (its port is not published); token in {token_file}"], \
            result.stdout


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
