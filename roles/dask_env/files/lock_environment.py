"""Resolve the Dask environment's requirements into a lock, on the controller.

Usage: python lock_environment.py --dir DIR --python 3.11 --arch x86_64 [--wheelhouse]
                                  [--pip-arg ARG ...] [--same-versions-as LOCK]
                                  -- REQUIREMENT [REQUIREMENT ...]

pip downloads every wheel the requirements need, for the nodes' Python and CPU (not this
machine's), into DIR/wheels; DIR/requirements.lock then names each one with its version and
sha256, so that nodes installing with --require-hashes --no-deps get exactly those bytes.
--wheelhouse also packs the wheels into DIR/wheelhouse.tar (sorted, zero timestamps and
owners: equal wheels give equal bytes, so Ansible copies it again only when they change).
When the requirements, the target and the pip arguments are those of the lock already in
DIR, nothing is resolved again. --same-versions-as keeps every package of another lock at its
version there (a GPU pool's lock: the other nodes' packages and its own); its pins are part of
the spec.

Every lock made is also kept in DIR/history/<spec digest>.lock. A spec locked before (pins
changed, then changed back) is not resolved again: pip downloads exactly the packages of that
lock (name==version, --no-deps), and the new lock must equal it byte for byte. A resolution
would pick up any unpinned dependency released since, and the nodes, which name their
environments after the lock, would build a new one instead of switching back to the one they
kept. A wheel whose sha256 has changed on the index since is refused, naming it. Removing
DIR/history (or one lock in it) resolves afresh.

Prints one JSON object: {"changed", "reused", "lock", "wheels", "archive", "error"}; "reused"
says the lock came from DIR/history, "error" names the requirement pip could not satisfy, or
the packages whose wheels no longer match the remembered lock. On an error, DIR keeps the lock
it had.
"""

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

# glibc baselines that a Debian 12 / Ubuntu 22.04+ node (glibc >= 2.35) can load.
MANYLINUX_TAGS = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")
# pip's own words for a requirement it cannot satisfy.
UNSATISFIED = re.compile(r"(No matching distribution found for|Could not find a version that satisfies the requirement) (\S+)")


def normalised(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def spec_digest(requirements, python_version, arch, pip_args, wheelhouse, constraints):
    text = "\n".join([python_version, arch, str(wheelhouse), *MANYLINUX_TAGS, *pip_args, "--", *requirements,
                      *(["--constraints", *constraints] if constraints else [])])
    return hashlib.sha256(text.encode()).hexdigest()


def wheel_name_and_version(filename):
    """'scikit_learn-1.7.2-cp311-...whl' -> ('scikit-learn', '1.7.2')."""
    name, version = filename.split("-")[:2]
    return normalised(name), version


def lock_lines(wheels_dir):
    lines = []
    for wheel in sorted(wheels_dir.glob("*.whl")):
        name, version = wheel_name_and_version(wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return sorted(lines)


def download(requirements, python_version, arch, pip_args, dest):
    """pip download for the target; returns pip's error text, or None."""
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest", str(dest),
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version, *pip_args,
    ]
    for tag in MANYLINUX_TAGS:
        command += ["--platform", f"{tag}_{arch}"]
    result = subprocess.run(command + list(requirements), capture_output=True, text=True)
    if result.returncode == 0:
        return None
    unsatisfied = UNSATISFIED.findall(result.stderr)
    if unsatisfied:
        names = sorted({requirement for _, requirement in unsatisfied})
        return (f"pip finds no {', '.join(names)} for Python {python_version} on {arch} "
                f"(a version that does not exist, a misspelt name, or no wheel for that Python)")
    errors = [line for line in result.stderr.splitlines() if line.strip() and "is ignored" not in line]
    return "pip could not resolve the requirements: " + " / ".join(errors[-8:])


def pack(source_dir, archive):
    """Tar source_dir as 'wheelhouse/' with fixed metadata, so equal wheels give equal bytes."""

    def normalise(info):
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(source_dir, arcname="wheelhouse", recursive=False, filter=normalise)
        for wheel in sorted(source_dir.glob("*.whl")):
            tar.add(wheel, arcname=f"wheelhouse/{wheel.name}", filter=normalise)
    tmp.replace(archive)


def pinned_versions(lock_file):
    """The 'name==version' of every package of a lock, as pip constraints."""
    return [line.split()[0] for line in lock_file.read_text().splitlines() if line and not line.startswith("#")]


def remember(lock_file, stamp, history):
    """Keep DIR's lock in history/<its spec digest>.lock, unless already there.

    The spec file is written last and removed before the lock changes, so it names the lock
    beside it; this also records locks made before there was a history."""
    if not (lock_file.exists() and stamp.exists()):
        return
    kept = history / f"{stamp.read_text().strip()}.lock"
    if not kept.exists():
        history.mkdir(exist_ok=True)
        tmp = kept.with_suffix(".tmp")
        tmp.write_text(lock_file.read_text())
        tmp.replace(kept)  # never a half-written lock to compare with later


def differing_packages(old_text, new_text):
    """The packages whose line (version and sha256) differs between two locks."""

    def by_name(text):
        return {line.split("==")[0]: line for line in text.splitlines() if line and not line.startswith("#")}

    old, new = by_name(old_text), by_name(new_text)
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def lock(directory, requirements, python_version, arch, pip_args, wheelhouse, same_versions_as=None):
    directory.mkdir(parents=True, exist_ok=True)
    constraints = pinned_versions(same_versions_as) if same_versions_as else []
    lock_file, stamp = directory / "requirements.lock", directory / "spec"
    wheels, archive = directory / "wheels", directory / "wheelhouse.tar"
    history = directory / "history"
    result = {"changed": False, "reused": False, "lock": str(lock_file), "wheels": str(wheels),
              "archive": str(archive) if wheelhouse else None, "error": None}
    digest = spec_digest(requirements, python_version, arch, pip_args, wheelhouse, constraints)
    remember(lock_file, stamp, history)
    complete = lock_file.exists() and wheels.is_dir() and (archive.exists() or not wheelhouse)
    if complete and stamp.exists() and stamp.read_text().strip() == digest:
        return result
    # A fresh download directory each time: wheels of requirements since removed must go.
    incoming = directory / "wheels.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir()
    kept = history / f"{digest}.lock"
    reused = kept.exists()
    if reused:
        # This spec was locked before: fetch exactly that lock's packages rather than resolve
        # again, so the same pins give the same lock (and the nodes the environment they kept).
        # Its versions are exact, hence --no-deps and no constraints.
        error = download(pinned_versions(kept), python_version, arch, [*pip_args, "--no-deps"], incoming)
        if error:
            error += f" (fetching the packages of {kept}, the lock these pins had before)"
    else:
        if constraints:
            constraints_file = directory / "constraints.txt"
            constraints_file.write_text("\n".join(constraints) + "\n")
            pip_args = [*pip_args, f"--constraint={constraints_file}"]
        error = download(requirements, python_version, arch, pip_args, incoming)
    if not error:
        header = [f"# Locked for Python {python_version} on {arch} from:"] + [f"#   {r}" for r in requirements]
        text = "\n".join(header + lock_lines(incoming)) + "\n"
        if reused and text != kept.read_text():
            # Same name and version, other bytes (a rebuilt or replaced wheel): the nodes would
            # not get what they ran before, so refuse rather than lock it silently.
            changed = ", ".join(differing_packages(kept.read_text(), text)) or "its header"
            error = (f"the package index now serves other files for {changed} than the lock these pins had "
                     f"before ({kept}): their sha256 differs; check the index, or remove that file to lock "
                     f"these pins afresh")
    if error:
        shutil.rmtree(incoming)
        return {**result, "error": error}
    # Until the spec file is written again, DIR's lock is none to keep or remember (should
    # this stop half-way, the next run locks again).
    stamp.unlink(missing_ok=True)
    shutil.rmtree(wheels, ignore_errors=True)
    incoming.rename(wheels)
    lock_file.write_text(text)
    if wheelhouse:
        pack(wheels, archive)
    stamp.write_text(digest + "\n")
    remember(lock_file, stamp, history)
    return {**result, "changed": True, "reused": reused}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--python", required=True, help="the nodes' Python, major.minor")
    parser.add_argument("--arch", required=True, help="the nodes' CPU (uname -m)")
    parser.add_argument("--wheelhouse", action="store_true", help="also pack the wheels into wheelhouse.tar")
    parser.add_argument("--pip-arg", action="append", default=[], help="an index option for pip (repeatable)")
    parser.add_argument("--same-versions-as", type=Path, help="a lock whose packages keep their versions here")
    parser.add_argument("requirements", nargs="+")
    args = parser.parse_args(argv)
    result = lock(args.dir, args.requirements, args.python, args.arch, args.pip_arg, args.wheelhouse, args.same_versions_as)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
