"""roles/dask_env/files/lock_environment.py, the controller's resolution of the pins into a
hashed lock and a wheelhouse. Offline: pip resolves from a folder of wheels made here."""

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, valid_inventory

SCRIPT = ROOT / "roles" / "dask_env" / "files" / "lock_environment.py"


def make_wheel(folder, name, version, requires=(), code=""):
    """A minimal, valid pure-Python wheel (code: its module's source)."""
    folder.mkdir(exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", code)
        wheel.writestr(f"{dist_info}/METADATA", metadata)
        wheel.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist_info}/RECORD", "")
    return path


def lock(directory, index, *requirements, wheelhouse=False):
    command = [sys.executable, "-c", SCRIPT.read_text(), "--dir", str(directory), "--python", "3.11",
               "--arch", "x86_64", "--pip-arg=--no-index", f"--pip-arg=--find-links={index}"]
    command += ["--wheelhouse"] if wheelhouse else []
    result = subprocess.run(command + ["--", *requirements], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_lock_holds_every_wheel_the_pins_need_with_its_hash(tmp_path):
    index = tmp_path / "index"
    needed = make_wheel(index, "needed_lib", "2.0")
    top = make_wheel(index, "toplevel", "1.0", requires=["needed-lib>=2"])
    make_wheel(index, "unrelated", "1.0")
    result = lock(tmp_path / "lock", index, "toplevel==1.0", wheelhouse=True)
    assert result["changed"] and result["error"] is None
    lines = [line for line in (tmp_path / "lock" / "requirements.lock").read_text().splitlines() if not line.startswith("#")]
    assert lines == [
        f"needed-lib==2.0 --hash=sha256:{hashlib.sha256(needed.read_bytes()).hexdigest()}",
        f"toplevel==1.0 --hash=sha256:{hashlib.sha256(top.read_bytes()).hexdigest()}",
    ]
    with tarfile.open(result["archive"]) as tar:
        assert sorted(tar.getnames()) == ["wheelhouse", f"wheelhouse/{needed.name}", f"wheelhouse/{top.name}"]


def test_unchanged_pins_are_not_resolved_again_and_a_changed_pin_relocks(tmp_path):
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0")
    make_wheel(index, "toplevel", "1.1")
    make_wheel(index, "extra_one", "3.0")
    assert lock(tmp_path / "lock", index, "toplevel==1.0")["changed"]
    # Even with the index gone, the same pins need nothing from it.
    for wheel in index.iterdir():
        wheel.unlink()
    assert not lock(tmp_path / "lock", index, "toplevel==1.0")["changed"]
    make_wheel(index, "toplevel", "1.1")
    make_wheel(index, "extra_one", "3.0")
    relocked = lock(tmp_path / "lock", index, "toplevel==1.1", "extra_one==3.0")
    assert relocked["changed"]
    lock_text = (tmp_path / "lock" / "requirements.lock").read_text()
    assert "toplevel==1.1 " in lock_text and "extra-one==3.0 " in lock_text and "toplevel==1.0" not in lock_text
    # Removing the extra package removes it from the lock and from the wheels.
    lock(tmp_path / "lock", index, "toplevel==1.1")
    assert "extra-one" not in (tmp_path / "lock" / "requirements.lock").read_text()
    assert [w.name for w in (tmp_path / "lock" / "wheels").iterdir()] == ["toplevel-1.1-py3-none-any.whl"]


def test_a_requirement_pip_cannot_satisfy_is_named_and_the_old_lock_stays(tmp_path):
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0")
    lock(tmp_path / "lock", index, "toplevel==1.0")
    before = (tmp_path / "lock" / "requirements.lock").read_text()
    for bad in ("toplevel==9.9", "toplevle==1.0"):
        result = lock(tmp_path / "lock", index, bad)
        assert not result["changed"]
        assert bad in result["error"] and "Python 3.11 on x86_64" in result["error"], result["error"]
        assert (tmp_path / "lock" / "requirements.lock").read_text() == before


@pytest.mark.parametrize("made_before_the_history", [False, True], ids=["history", "lock-without-history"])
def test_pins_changed_back_give_the_lock_they_had_even_after_a_newer_dependency_is_published(tmp_path, made_before_the_history):
    """Pins A, then B, then A again: the second lock of A is the first, byte for byte (and its
    wheelhouse too), not a resolution that takes the unpinned dependency published meanwhile;
    so the nodes find the environment they kept. A lock made before there was a history is
    remembered when the pins change."""
    index, directory = tmp_path / "index", tmp_path / "lock"
    make_wheel(index, "toplevel", "1.0", requires=["leaf>=1"])
    make_wheel(index, "toplevel", "1.1", requires=["leaf>=1"])
    make_wheel(index, "leaf", "1.0")
    first = lock(directory, index, "toplevel==1.0", wheelhouse=True)
    assert first["changed"] and not first.get("reused") and first["error"] is None
    lock_a, wheelhouse_a = (directory / "requirements.lock").read_text(), Path(first["archive"]).read_bytes()
    if made_before_the_history:
        shutil.rmtree(directory / "history")
    assert lock(directory, index, "toplevel==1.1", wheelhouse=True)["changed"]
    assert "toplevel==1.1 " in (directory / "requirements.lock").read_text()

    make_wheel(index, "leaf", "2.0")  # what a fresh resolution of A would now take
    again = lock(directory, index, "toplevel==1.0", wheelhouse=True)
    assert again["error"] is None, again["error"]
    assert (directory / "requirements.lock").read_text() == lock_a
    assert "leaf==1.0 " in lock_a
    assert again["changed"] and again.get("reused")
    assert sorted(wheel.name for wheel in (directory / "wheels").iterdir()) == [
        "leaf-1.0-py3-none-any.whl", "toplevel-1.0-py3-none-any.whl"]
    assert Path(again["archive"]).read_bytes() == wheelhouse_a
    # Pins never locked before are resolved: they take the newer leaf.
    assert not lock(directory, index, "toplevel==1.0", "leaf", wheelhouse=True).get("reused")
    assert "leaf==2.0 " in (directory / "requirements.lock").read_text()


def test_pins_changed_back_whose_wheel_changed_on_the_index_are_refused_and_the_current_lock_stays(tmp_path):
    """The remembered lock of pins A names leaf 1.0 with its sha256; the index now serves other
    bytes as leaf 1.0 (a rebuilt or replaced wheel): A is refused, naming leaf, and the lock
    of B stays in place, as it was."""
    index, directory = tmp_path / "index", tmp_path / "lock"
    make_wheel(index, "toplevel", "1.0", requires=["leaf>=1"])
    make_wheel(index, "toplevel", "1.1", requires=["leaf>=1"])
    make_wheel(index, "leaf", "1.0")
    lock(directory, index, "toplevel==1.0", wheelhouse=True)
    lock(directory, index, "toplevel==1.1", wheelhouse=True)
    lock_b, wheelhouse_b = (directory / "requirements.lock").read_text(), (directory / "wheelhouse.tar").read_bytes()

    make_wheel(index, "leaf", "1.0", code="rebuilt = True\n")  # same name, version and needs; other bytes
    result = lock(directory, index, "toplevel==1.0", wheelhouse=True)
    assert not result["changed"]
    named = result["error"].replace(str(directory), "<lock dir>")  # the file it names aside
    assert "leaf" in named and "toplevel" not in named and "sha256" in named, result["error"]
    assert "<lock dir>/history/" in named, result["error"]
    assert (directory / "requirements.lock").read_text() == lock_b
    assert (directory / "wheelhouse.tar").read_bytes() == wheelhouse_b
    assert sorted(wheel.name for wheel in (directory / "wheels").iterdir()) == [
        "leaf-1.0-py3-none-any.whl", "toplevel-1.1-py3-none-any.whl"]
    # B is still the lock in place: asked for again, nothing changes.
    assert not lock(directory, index, "toplevel==1.1", wheelhouse=True)["changed"]


def test_a_lock_missing_its_wheelhouse_is_made_again(tmp_path):
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0")
    archive = lock(tmp_path / "lock", index, "toplevel==1.0", wheelhouse=True)["archive"]
    Path(archive).unlink()
    assert lock(tmp_path / "lock", index, "toplevel==1.0", wheelhouse=True)["changed"]
    assert Path(archive).exists()


def test_the_wheelhouse_is_reproducible(tmp_path):
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0")
    first = lock(tmp_path / "one", index, "toplevel==1.0", wheelhouse=True)["archive"]
    second = lock(tmp_path / "two", index, "toplevel==1.0", wheelhouse=True)["archive"]
    with open(first, "rb") as one, open(second, "rb") as two:
        assert one.read() == two.read()


def test_a_wheel_whose_hash_differs_from_the_lock_is_never_installed(tmp_path):
    """The nodes' pip flags (tasks/sync.yml): --require-hashes --no-deps, from the lock."""
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0")
    result = lock(tmp_path / "lock", index, "toplevel==1.0")
    # Same name and version, other bytes: what a tampered mirror or a rebuilt wheel would serve.
    tampered = tmp_path / "tampered"
    make_wheel(tampered, "toplevel", "1.0", requires=["something-else"])
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    for wheels, expected_rc in ((tampered, 1), (result["wheels"], 0)):
        install = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--require-hashes",
             "--no-deps", "--no-index", f"--find-links={wheels}", "-r", result["lock"]],
            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null"})
        assert install.returncode == expected_rc, install.stdout + install.stderr
        installed = list((venv / "lib").glob("python3*/site-packages/toplevel"))
        if expected_rc:
            assert "do not match the hashes" in install.stderr.lower(), install.stderr
            assert not installed
    assert installed


def test_the_role_pins_lock_for_graviton_nodes(tmp_path):
    """dask_env_node_arch: aarch64 locks the same pins with aarch64 (or pure-Python) wheels
    only. Reads the package index (PyPI, or this machine's pip configuration)."""
    pins = yaml.safe_load((ROOT / "roles" / "dask_env" / "defaults" / "main.yml").read_text())["dask_env_packages"]
    command = [sys.executable, "-c", SCRIPT.read_text(), "--dir", str(tmp_path), "--python", "3.12",
               "--arch", "aarch64", "--", *pins]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert result["error"] is None, result["error"]
    wheels = [wheel.name for wheel in (tmp_path / "wheels").iterdir()]
    assert any(name.startswith("numpy-") for name in wheels)
    assert [name for name in wheels if not (name.endswith("-none-any.whl") or "aarch64" in name)] == []
    assert [name for name in wheels if "x86_64" in name] == []


def test_a_cluster_with_nodes_of_two_cpus_locks_the_same_pins_for_each(run_playbook, tmp_path):
    """dask_env_extra_archs (which cloud_ec2 fills for Graviton pools): playbooks/environment.yml
    locks the pins for dask_env_node_arch in dask_env_lock_dir, and for each other CPU beside
    it, where a node of that CPU finds its lock. Offline: pip resolves from a folder of wheels."""
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0", requires=["leaf==2.0"])
    make_wheel(index, "leaf", "2.0")
    inventory = valid_inventory()
    inventory["all"]["vars"] = {"dask_env_lock_dir": str(tmp_path / "lock"), "dask_env_packages": ["toplevel==1.0"],
                                "dask_env_pip_no_index": True, "dask_env_pip_find_links": [str(index)],
                                "dask_env_extra_archs": ["aarch64"], "dask_env_controller_env": ""}
    rc, output = run_playbook("playbooks/environment.yml", inventory)
    assert rc == 0, output[-3000:]
    main, arm = (tmp_path / "lock" / "requirements.lock").read_text(), (tmp_path / "lock" / "aarch64" / "requirements.lock").read_text()
    assert main.startswith("# Locked for Python 3.11 on x86_64") and arm.startswith("# Locked for Python 3.11 on aarch64")
    pins = [[line.split(" ")[0] for line in lock.splitlines() if not line.startswith("#")] for lock in (main, arm)]
    assert pins[0] == pins[1] == ["leaf==2.0", "toplevel==1.0"], pins


def test_each_node_installs_the_lock_of_its_own_cpu_or_gpu_pool(tmp_path):
    """A Graviton node (aarch64 facts) takes dask_env_lock_dir/aarch64's lock, a worker of a GPU
    pool dask_env_lock_dir/gpu's, an x86_64 node the main one: on a cluster locked for x86_64
    and, beside it, for aarch64 and for its GPU workers."""
    from conftest import ansible_playbook

    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    x86 = {**local, "node_facts": {"architecture": "x86_64"}}
    inventory = {"all": {"hosts": {"graviton": {**local, "node_facts": {"architecture": "aarch64"}}, "intel": x86},
                         "children": {"dask_pool_cuda": {"hosts": {"gpu": x86}}},
                         "vars": {"dask_env_lock_dir": "/srv/lock", "dask_env_extra_archs": ["aarch64"],
                                  "dask_worker_pools": {"cuda": {"gpu": True}}}}}
    rc, output = ansible_playbook("tests/playbooks/node-lock.yml", inventory, tmp_path)
    assert rc == 0, output[-3000:]
    assert (tmp_path / "lock_of_graviton").read_text() == "/srv/lock/aarch64/requirements.lock"
    assert (tmp_path / "lock_of_intel").read_text() == "/srv/lock/requirements.lock"
    assert (tmp_path / "lock_of_gpu").read_text() == "/srv/lock/gpu/requirements.lock"


def test_gpu_workers_lock_their_packages_beside_every_other_package_at_the_other_nodes_version(run_playbook, tmp_path):
    """A pool with gpu: true makes playbooks/environment.yml lock dask_env_gpu_packages in
    dask_env_lock_dir/gpu, every package of the main lock kept at its version there: a newer
    'leaf' published since the main lock was made is not taken (the other nodes keep theirs).
    GPU packages that need another version of a locked package are refused, naming the
    setting. Offline: pip resolves from a folder of wheels."""
    index = tmp_path / "index"
    make_wheel(index, "toplevel", "1.0", requires=["leaf>=1"])
    make_wheel(index, "leaf", "1.0")
    inventory = valid_inventory()
    settings = {"dask_env_lock_dir": str(tmp_path / "lock"), "dask_env_packages": ["toplevel==1.0"],
                "dask_env_pip_no_index": True, "dask_env_pip_find_links": [str(index)], "dask_env_controller_env": ""}
    inventory["all"]["vars"] = settings
    rc, output = run_playbook("playbooks/environment.yml", inventory)
    assert rc == 0, output[-3000:]
    assert not (tmp_path / "lock" / "gpu").exists()

    make_wheel(index, "leaf", "2.0")
    make_wheel(index, "gpukit", "1.0", requires=["leaf"])
    settings.update({"dask_worker_pools": {"cuda": {"gpu": True}}, "dask_env_gpu_packages": ["gpukit==1.0"]})
    rc, output = run_playbook("playbooks/environment.yml", inventory)
    assert rc == 0, output[-3000:]

    def pins(lock):
        return [line.split(" ")[0] for line in (tmp_path / "lock" / lock).read_text().splitlines() if not line.startswith("#")]

    assert pins("requirements.lock") == ["leaf==1.0", "toplevel==1.0"]
    assert pins("gpu/requirements.lock") == ["gpukit==1.0", "leaf==1.0", "toplevel==1.0"]

    make_wheel(index, "gpukit", "2.0", requires=["leaf>=2"])
    settings["dask_env_gpu_packages"] = ["gpukit==2.0"]
    rc, output = run_playbook("playbooks/environment.yml", inventory)
    assert rc != 0
    assert "dask_env_gpu_packages (the pools cuda): pip could not resolve the requirements" in output, output[-3000:]
    assert "pin that one in dask_env_packages" in output


def test_dask_cuda_runs_on_the_dask_release_of_its_rapids_version(tmp_path):
    """The role's default dask_env_gpu_packages (dask-cuda with the CUDA 12 wheels) beside the
    role's pins: pip refuses the mix, naming dask-cuda and the Dask pins. With the pins that
    docs/runbook.md#gpu-workers gives (Dask 2026.7.1, the rest as the role's) pip resolves them
    (a dry run: the CUDA wheels are large). Reads the package index (PyPI, or this machine's pip
    configuration)."""
    defaults = yaml.safe_load((ROOT / "roles" / "dask_env" / "defaults" / "main.yml").read_text())
    pins, gpu_packages = defaults["dask_env_packages"], defaults["dask_env_gpu_packages"]
    command = [sys.executable, "-c", SCRIPT.read_text(), "--dir", str(tmp_path / "lock"), "--python", "3.12",
               "--arch", "x86_64", "--", *pins, *gpu_packages]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert result["error"] and "dask-cuda" in result["error"] and "distributed==2026.8.0" in result["error"], result["error"]

    runbook = (ROOT / "docs" / "runbook.md").read_text()
    documented = [line.strip().removeprefix("- ") for line in runbook.split("# GPU pins:", 1)[1].split("```", 1)[0].splitlines()
                  if line.strip().startswith("- ")]
    assert {pin.split("==")[0]: pin for pin in documented}.keys() == {pin.split("==")[0]: pin for pin in pins}.keys(), documented
    dry_run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(tmp_path / "report.json"),
         "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.12", "--target", str(tmp_path / "target"),
         *[f"--platform={tag}_x86_64" for tag in ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")],
         *documented, *gpu_packages], capture_output=True, text=True)
    assert dry_run.returncode == 0, dry_run.stderr[-3000:]
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads((tmp_path / "report.json").read_text())["install"]}
    assert resolved["dask-cuda"] == gpu_packages[0].split("==")[1] and resolved["distributed"] == "2026.7.1"
    assert any(name.startswith("nvidia-") and name.endswith("-cu12") for name in resolved), sorted(resolved)
