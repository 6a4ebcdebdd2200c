"""roles/dask_env/files/unmet_pins.py, which nodes run in their environment: which pins the
installed packages miss, and (pip provider) how the environment differs from the lock."""
import json
import subprocess
import sys
from importlib.metadata import distributions, version

from conftest import ROOT

SCRIPT = ROOT / "roles" / "dask_env" / "files" / "unmet_pins.py"


def unmet(*pins):
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text(), *pins], capture_output=True, text=True)
    report = json.loads(result.stdout)
    assert report["unlocked"] == [], "only a lock names packages to remove"
    return result.returncode, report["unmet"]


def drift(lock_text):
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text(), "--lock"], input=lock_text,
                            capture_output=True, text=True)
    return result.returncode, json.loads(result.stdout)


def this_environment_as_a_lock():
    lines = [f"{d.metadata['Name']}=={d.version} --hash=sha256:{'0' * 64}" for d in distributions()]
    return "# a comment line\n" + "\n".join(lines) + "\n"


def test_an_environment_that_is_its_lock_has_no_drift():
    assert drift(this_environment_as_a_lock()) == (0, {"unmet": [], "unlocked": []})


def test_the_lock_reports_other_versions_missing_packages_and_what_it_does_not_hold():
    installed = version("PyYAML")
    lock = [line for line in this_environment_as_a_lock().splitlines() if not line.lower().startswith("pyyaml==")]
    lock += ["PyYAML==0.0.1 --hash=sha256:" + "0" * 64, "no_such.package==1.0 --hash=sha256:" + "0" * 64]
    rc, report = drift("\n".join(lock))
    assert rc == 3
    assert report["unmet"] == ["no-such-package==1.0 (installed: none)", f"pyyaml==0.0.1 (installed: {installed})"]
    assert report["unlocked"] == []
    without_pytest = [line for line in lock if not line.lower().startswith("pytest==")]
    rc, report = drift("\n".join(without_pytest))
    assert rc == 3 and report["unlocked"] == ["pytest"]


def test_met_pins_report_nothing():
    installed = version("PyYAML")
    assert unmet(f"pyyaml=={installed}", f"PyYAML>={installed}") == (0, [])


def test_other_versions_and_missing_packages_are_reported():
    installed = version("PyYAML")
    rc, report = unmet("pyyaml==0.0.1", "no-such-package==1.0", f"pyyaml=={installed}")
    assert rc == 3
    assert report == [f"pyyaml==0.0.1 (installed: {installed})", "no-such-package==1.0 (installed: none)"]


def test_an_extra_that_requires_nothing_adds_nothing_the_version_counts():
    installed = version("PyYAML")
    assert unmet(f"pyyaml[whatever]=={installed}") == (0, [])


def test_a_pin_needs_what_its_extras_require():
    # urllib3's 'socks' extra needs PySocks, which this environment has; 'h2' needs h2, which it lacks.
    installed = version("urllib3")
    assert unmet(f"urllib3[socks]=={installed}") == (0, [])
    rc, report = unmet(f"urllib3[socks,h2]=={installed}")
    assert rc == 3
    assert len(report) == 1 and report[0].startswith("h2") and report[0].endswith("for urllib3[h2] (installed: none)")


def test_a_new_virtualenv_without_packaging_reports_every_locked_package(tmp_path):
    """The controller's client environment right after `python3 -m venv`: nothing installed,
    not even packaging, which the --lock mode must not need."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    result = subprocess.run([str(venv / "bin" / "python"), "-c", SCRIPT.read_text(), "--lock"],
                            input="toolz==1.2.0 --hash=sha256:" + "0" * 64 + "\n", capture_output=True, text=True)
    assert (result.returncode, json.loads(result.stdout)) == (3, {"unmet": ["toolz==1.2.0 (installed: none)"], "unlocked": []})
