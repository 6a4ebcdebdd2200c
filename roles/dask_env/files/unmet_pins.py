"""What the Dask environment's installed packages miss: of the pins, or of the lock.

Usage: <env>/bin/python unmet_pins.py PIN [PIN...]   (PIN as in dask_env_packages)
       <env>/bin/python unmet_pins.py --lock < requirements.lock
Prints a JSON object {"unmet": [...], "unlocked": [...]}; exits 3 when either is not empty
(1 stays Python's own exit code for a crash: an environment too broken to tell).
"unmet" reads like "distributed==2026.8.0 (installed: 2026.7.1)". With pins (both
providers: it reads package metadata), a pin with extras (dask[array]==...) also needs what
those extras require, as pip would install it. With --lock, every locked package must be
installed at its locked version, and "unlocked" names the installed packages the lock does
not hold (pip and the venv's own tools aside), which are to be removed.
"""

import json
import re
import sys
from importlib.metadata import PackageNotFoundError, distributions, requires, version


def installed_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def miss(requirement):
    installed = installed_version(requirement.name)
    return installed is None or not requirement.specifier.contains(installed, prereleases=True), installed


def unmet(pins):
    # Imported here: a new, empty virtualenv has no packaging, and --lock needs none.
    from packaging.requirements import Requirement

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


# What a virtualenv holds before anything is installed into it.
VENV_TOOLS = {"pip", "setuptools", "wheel"}


def normalised(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def drift_from_lock(lock_text):
    locked = {}
    for line in lock_text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.split()[0].partition("==")
            locked[normalised(name)] = pinned
    installed = {normalised(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}
    unmet = [f"{name}=={pinned} (installed: {installed.get(name, 'none')})"
             for name, pinned in sorted(locked.items()) if installed.get(name) != pinned]
    unlocked = sorted(set(installed) - set(locked) - VENV_TOOLS)
    return unmet, unlocked


if __name__ == "__main__":
    if sys.argv[1:] == ["--lock"]:
        unmet_now, unlocked_now = drift_from_lock(sys.stdin.read())
    else:
        unmet_now, unlocked_now = list(unmet(sys.argv[1:])), []
    print(json.dumps({"unmet": unmet_now, "unlocked": unlocked_now}))
    sys.exit(3 if unmet_now or unlocked_now else 0)
