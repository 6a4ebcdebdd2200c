"""The pins of the Dask environment that its installed packages do not meet.

Usage: <env>/bin/python unmet_pins.py PIN [PIN...]   (PIN as in dask_env_packages)
Prints a JSON list such as ["distributed==2026.8.0 (installed: 2026.7.1)"]; exits 1 when
it is not empty. Works for pip and conda environments alike (it reads package metadata).
"""

import json
import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement


def unmet(pins):
    for pin in pins:
        requirement = Requirement(pin)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            installed = None
        if installed is None or not requirement.specifier.contains(installed, prereleases=True):
            yield f"{pin} (installed: {installed or 'none'})"


if __name__ == "__main__":
    report = list(unmet(sys.argv[1:]))
    print(json.dumps(report))
    sys.exit(1 if report else 0)
