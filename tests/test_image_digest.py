"""roles/dask_image/files/image_digest.py, which names a baked node image by its inputs: the
same inputs give the same digest; a changed task, template, lock or setting gives another;
what does not reach a node (a README, compiled Python) does not count."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "roles" / "dask_image" / "files" / "image_digest.py"


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
