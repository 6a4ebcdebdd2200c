"""The pins of the Dask environment that its installed packages do not meet.

Usage: <env>/bin/python unmet_pins.py PIN [PIN...]   (PIN as in dask_env_packages)
Prints a JSON list such as ["distributed==2026.8.0 (installed: 2026.7.1)"]; exits 1 when
it is not empty. Works for pip and conda environments alike (it reads package metadata).
A pin with extras (dask[array]==...) also needs what those extras require, as pip would
install it: a package they name that is missing or outside its range is reported too.
"""

import json
import sys
from importlib.metadata import PackageNotFoundError, requires, version

from packaging.requirements import Requirement


def installed_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def miss(requirement):
    installed = installed_version(requirement.name)
    return installed is None or not requirement.specifier.contains(installed, prereleases=True), installed


def unmet(pins):
    for pin in pins:
        requirement = Requirement(pin)
        missing, installed = miss(requirement)
        if missing:
            yield f"{pin} (installed: {installed or 'none'})"
            continue
        for extra in sorted(requirement.extras):
            for needed in map(Requirement, requires(requirement.name) or []):
                if needed.marker is None or not needed.marker.evaluate({"extra": extra}):
                    continue
                missing, installed = miss(needed)
                if missing:
                    yield f"{needed.name}{needed.specifier} for {requirement.name}[{extra}] (installed: {installed or 'none'})"


if __name__ == "__main__":
    report = list(unmet(sys.argv[1:]))
    print(json.dumps(report))
    sys.exit(1 if report else 0)
