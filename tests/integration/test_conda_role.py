"""The conda role and the conda provider of dask_env, for real, on one systemd node container
with no network, using a stand-in Miniforge installer (tests/fixtures/fake-miniforge.sh) whose
SHA-256 the test computes. The real installer and conda-forge are exercised by the molecule
scenario 'conda' where they are reachable.

The tests share one container and run in file order, each building on the state the
previous one left (as a node does across playbook runs). Needs Docker and the node image.
"""

import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from playbook_output import recap

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NODE = "dask-conda-offline"
ARCH = platform.machine()
FIXTURE = ROOT / "tests" / "fixtures" / "fake-miniforge.sh"
LOG = "/var/log/fake-miniforge.log"
MIRROR_PORT = 8765
pytestmark = pytest.mark.integration


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def on_node(command, check=True):
    return docker("exec", NODE, "sh", "-c", command, check=check).stdout


def exists(path):
    return docker("exec", NODE, "test", "-e", path, check=False).returncode == 0


def installer(tmp_path, version):
    """A stand-in installer for version on the controller, and its SHA-256."""
    path = tmp_path / f"Miniforge3-{version}-Linux-{ARCH}.sh"
    path.write_text(FIXTURE.read_text().replace("@VERSION@", version))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def log_lines():
    return on_node(f"cat {LOG} 2>/dev/null || true").splitlines()


def leftovers():
    """Installer copies or partial downloads anywhere on the node's root file system."""
    return on_node("find / -xdev -path /srv/mirror -prune -o \\( -name 'Miniforge3-*' -o -name 'miniforge.*' \\) "
                   "-print").split()


@pytest.fixture(scope="module")
def node():
    image = os.environ.get("DASK_NODE_IMAGE_TAG") or subprocess.run(
        [str(ROOT / "scripts" / "build-node-image.sh")], capture_output=True, text=True, check=True).stdout.strip()
    docker("rm", "-f", NODE, check=False)
    # No network at all: everything the roles fetch comes from the controller or the node.
    docker("run", "-d", "--name", NODE, "--hostname", NODE, "--network", "none", "--cgroupns=host",
           "--cap-add", "SYS_ADMIN", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
           "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3", image, "/lib/systemd/systemd")
    deadline = time.monotonic() + 60
    while docker("exec", NODE, "systemctl", "is-system-running", check=False).stdout.strip() not in (
            "running", "degraded"):
        assert time.monotonic() < deadline, "systemd did not come up in the test container"
        time.sleep(1)
    on_node("mkdir -p /opt/dask /etc/dask")  # what the base role makes
    yield NODE
    docker("rm", "-f", NODE, check=False)


@pytest.fixture
def play(node, tmp_path):
    """Run tests/playbooks/conda-node.yml on the node with these settings; return (rc, output)."""

    def run(**variables):
        host = {"ansible_connection": "community.docker.docker", "ansible_host": node,
                "ansible_python_interpreter": "/usr/bin/python3", "dask_env_provider": "pip", **variables}
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {node: host}}}))
        # Pipelining: one docker exec per task instead of four.
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_PIPELINING="true")
        result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                                 str(ROOT / "tests" / "playbooks" / "conda-node.yml")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        return result.returncode, result.stdout + result.stderr

    return run


def changed(output):
    return recap(output)[NODE]["changed"]


def test_a_wrong_checksum_stops_before_the_installer_runs_and_leaves_nothing(play, tmp_path):
    path, _ = installer(tmp_path, "25.1.0-1")
    rc, output = play(conda_version="25.1.0-1", conda_installer_file=str(path),
                      conda_installer_sha256={ARCH: "0" * 64})
    assert rc != 0
    assert f"conda_installer_sha256['{ARCH}'] is {'0' * 64}" in output
    assert "Nothing was left on the host" in output
    assert not exists("/opt/conda")
    assert log_lines() == [], "the installer ran"
    assert leftovers() == []


def test_first_install_runs_the_verified_installer_once(play, tmp_path):
    path, sha256 = installer(tmp_path, "25.1.0-1")
    rc, output = play(conda_version="25.1.0-1", conda_installer_file=str(path), conda_installer_sha256={ARCH: sha256})
    assert rc == 0, output
    assert log_lines() == ["installer 25.1.0-1 -b -p /opt/conda"]
    assert on_node("cat /opt/conda/.miniforge-version").strip() == "25.1.0-1"
    assert exists("/opt/conda/bin/conda") and exists("/opt/conda/bin/mamba")
    condarc = yaml.safe_load(on_node("cat /opt/conda/.condarc"))
    assert condarc["channels"] == ["conda-forge"]
    assert condarc["channel_priority"] == "strict"
    assert condarc["auto_update_conda"] is False
    assert leftovers() == []


def test_second_run_changes_nothing_and_runs_nothing(play, tmp_path):
    path, sha256 = installer(tmp_path, "25.1.0-1")
    rc, output = play(conda_version="25.1.0-1", conda_installer_file=str(path), conda_installer_sha256={ARCH: sha256})
    assert rc == 0, output
    assert changed(output) == 0, output
    assert log_lines() == ["installer 25.1.0-1 -b -p /opt/conda"]


@pytest.fixture
def mirror(node, tmp_path):
    """The release layout served over HTTP on the node's loopback (the node has no network)."""
    version = "25.3.0-1"
    path, sha256 = installer(tmp_path, version)
    directory = f"/srv/mirror/{version}"
    on_node(f"mkdir -p {directory}")
    docker("cp", str(path), f"{node}:{directory}/{path.name}")
    pid = on_node(f"python3 -m http.server --bind 127.0.0.1 --directory /srv/mirror {MIRROR_PORT} "
                  ">/dev/null 2>&1 & echo $!").strip()
    deadline = time.monotonic() + 20
    probe = f"python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{MIRROR_PORT}/')\""
    while docker("exec", node, "sh", "-c", probe, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the mirror on the node did not start"
        time.sleep(0.5)
    yield {"conda_version": version, "conda_installer_base_url": f"http://127.0.0.1:{MIRROR_PORT}", "sha256": sha256}
    on_node(f"kill {pid}")
    on_node("rm -rf /srv/mirror")


def test_a_download_with_a_wrong_checksum_keeps_the_existing_installation(play, mirror):
    settings = {key: value for key, value in mirror.items() if key != "sha256"}
    rc, output = play(**settings, conda_installer_sha256={ARCH: "f" * 64})
    assert rc != 0
    assert "did not match" in output
    assert "conda_installer_base_url http://127.0.0.1" in output
    assert "The existing installation is unchanged" in output
    assert on_node("cat /opt/conda/.miniforge-version").strip() == "25.1.0-1"
    assert len(log_lines()) == 1, "the installer ran"
    assert leftovers() == []


def test_a_verified_download_upgrades(play, mirror):
    settings = {key: value for key, value in mirror.items() if key != "sha256"}
    rc, output = play(**settings, conda_installer_sha256={ARCH: mirror["sha256"]})
    assert rc == 0, output
    assert log_lines()[1:] == ["installer 25.3.0-1 -b -u -p /opt/conda"]
    assert on_node("cat /opt/conda/.miniforge-version").strip() == "25.3.0-1"
    # The installer rewrote .condarc; the role's own is back.
    assert yaml.safe_load(on_node("cat /opt/conda/.condarc"))["channel_priority"] == "strict"
    assert leftovers() == []


@pytest.fixture
def conda_env(play, tmp_path):
    """Run the conda role (already at 25.3.0-1) and dask_env with the conda provider."""
    path, sha256 = installer(tmp_path, "25.3.0-1")

    def run(**variables):
        return play(conda_version="25.3.0-1", conda_installer_file=str(path), conda_installer_sha256={ARCH: sha256},
                    dask_env_provider="conda", **variables)

    return run


def conda_runs():
    return [line for line in log_lines() if line.startswith("conda env")]


def in_use():
    """The environment /opt/dask/env points at."""
    return on_node("readlink /opt/dask/env").strip()


def test_conda_provider_replaces_a_pip_environment_and_builds_from_the_pins(conda_env):
    # What the pip provider of an earlier release left: a virtualenv in the prefix itself.
    on_node("mkdir -p /opt/dask/env/bin && touch /opt/dask/env/pyvenv.cfg")
    rc, output = conda_env()
    assert rc == 0, output
    env = in_use()
    assert env.startswith("/opt/dask/envs/conda-"), env
    assert conda_runs() == [f"conda env create --quiet --prefix {env} --file {env}.yml"]
    assert not exists("/opt/dask/env/pyvenv.cfg")
    spec = yaml.safe_load(on_node(f"cat {env}.yml"))
    assert spec["dependencies"][0] == "python=3.12"
    assert "dask-core==2026.8.0" in spec["dependencies"]
    assert on_node(f"cat {env}/conda-meta/fake-solved-spec.yml") == on_node(f"cat {env}.yml")
    # The layout the units and the client PATH use.
    assert on_node("/opt/dask/env/bin/python -c 'print(1 + 1)'").strip() == "2"


def test_an_unchanged_spec_builds_nothing(conda_env):
    rc, output = conda_env()
    assert rc == 0, output
    assert changed(output) == 0, output
    assert len(conda_runs()) == 1


def test_a_changed_spec_builds_beside_and_keeps_the_environment_it_replaces(conda_env):
    before = in_use()
    rc, output = conda_env(dask_env_extra_packages=["sparse==0.16.0"])
    assert rc == 0, output
    env = in_use()
    assert env != before and env.startswith("/opt/dask/envs/conda-")
    assert conda_runs()[1:] == [f"conda env create --quiet --prefix {env} --file {env}.yml"]
    assert "sparse==0.16.0" in on_node("cat /opt/dask/env/conda-meta/fake-solved-spec.yml")
    assert sorted(on_node("ls /opt/dask/envs").split()) == sorted(
        name for path in (before, env) for name in (Path(path).name, Path(path).name + ".yml"))


def test_a_half_built_environment_is_updated_and_a_removed_one_built_again(conda_env):
    env = in_use()
    # Stopped half-way: conda-meta there, no record of the spec it was built from.
    on_node(f"rm {env}/conda-meta/dask-ansible-environment.yml")
    rc, output = conda_env(dask_env_extra_packages=["sparse==0.16.0"])
    assert rc == 0, output
    assert conda_runs()[2:] == [f"conda env update --prune --quiet --prefix {env} --file {env}.yml"]
    on_node(f"rm -rf {env}")
    rc, output = conda_env(dask_env_extra_packages=["sparse==0.16.0"])
    assert rc == 0, output
    assert conda_runs()[3:] == [f"conda env create --quiet --prefix {env} --file {env}.yml"]
    assert in_use() == env
