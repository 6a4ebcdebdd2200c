"""roles/dask_env/files/unmet_pins.py, which playbooks/upgrade.yml runs in each node's
environment: which pins the installed packages miss."""

import json
import subprocess
import sys
from importlib.metadata import version

from conftest import ROOT

SCRIPT = ROOT / "roles" / "dask_env" / "files" / "unmet_pins.py"


def unmet(*pins):
    result = subprocess.run([sys.executable, "-c", SCRIPT.read_text(), *pins], capture_output=True, text=True)
    return result.returncode, json.loads(result.stdout)


def test_met_pins_report_nothing():
    installed = version("PyYAML")
    assert unmet(f"pyyaml=={installed}", f"PyYAML>={installed}") == (0, [])


def test_other_versions_and_missing_packages_are_reported():
    installed = version("PyYAML")
    rc, report = unmet("pyyaml==0.0.1", "no-such-package==1.0", f"pyyaml=={installed}")
    assert rc == 1
    assert report == [f"pyyaml==0.0.1 (installed: {installed})", "no-such-package==1.0 (installed: none)"]


def test_an_extra_that_requires_nothing_adds_nothing_the_version_counts():
    installed = version("PyYAML")
    assert unmet(f"pyyaml[whatever]=={installed}") == (0, [])


def test_a_pin_needs_what_its_extras_require():
    # urllib3's 'socks' extra needs PySocks, which this environment has; 'h2' needs h2, which it lacks.
    installed = version("urllib3")
    assert unmet(f"urllib3[socks]=={installed}") == (0, [])
    rc, report = unmet(f"urllib3[socks,h2]=={installed}")
    assert rc == 1
    assert len(report) == 1 and report[0].startswith("h2") and report[0].endswith("for urllib3[h2] (installed: none)")
