#!/usr/bin/env python3
"""Build the wheelhouse that offline nodes install the Dask environment from.

Reads the pinned package list from roles/dask_env/defaults/main.yml (the one source of
versions), downloads wheels for the nodes' Python and platform with pip, and packs them
into a reproducible tarball (sorted, zero timestamps and owners) so that Ansible copies
it again only when its contents change. Reuses the tarball when the spec is unchanged.

Usage: build-wheelhouse.py [--python 3.11] [--arch x86_64] [--output build/wheelhouse.tar]
                           [--pin 'distributed==2026.7.1' ...] [--print-requirements]
--pin replaces the pin of that package (the upgrade test builds the previous release's).
Prints the tarball's path (the wheels also stay unpacked beside it, in build/wheelhouse/),
or with --print-requirements only the pinned requirements, one a line.
"""

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = ROOT / "roles" / "dask_env" / "defaults" / "main.yml"
# glibc baselines that a Debian 12 / Ubuntu 22.04+ node (glibc >= 2.35) can load.
MANYLINUX_TAGS = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")


def pinned_packages(defaults_path=DEFAULTS):
    defaults = yaml.safe_load(defaults_path.read_text())
    return list(defaults["dask_env_packages"]) + list(defaults.get("dask_env_extra_packages") or [])


def package_name(pin):
    return re.split(r"[\[=<>!~ ]", pin, maxsplit=1)[0].lower().replace("_", "-")


def replace_pins(packages, pins):
    """packages with each pin of --pin put in place of the pin of the same package."""
    by_name = {package_name(pin): pin for pin in pins}
    unknown = set(by_name) - {package_name(package) for package in packages}
    if unknown:
        raise SystemExit(f"build-wheelhouse: --pin names packages that are not pinned: {', '.join(sorted(unknown))}")
    return [by_name.get(package_name(package), package) for package in packages]


def spec_digest(packages, python_version, arch):
    text = "\n".join([python_version, arch, *MANYLINUX_TAGS, *packages])
    return hashlib.sha256(text.encode()).hexdigest()


def download(packages, python_version, arch, dest):
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest),
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
    ]
    for tag in MANYLINUX_TAGS:
        command += ["--platform", f"{tag}_{arch}"]
    result = subprocess.run(command + packages, stderr=subprocess.PIPE, text=True)
    # Drop pip's notes about this machine's configured-but-missing local mirrors.
    for line in result.stderr.splitlines():
        if not (line.startswith("WARNING: Location") and "is ignored" in line):
            print(line, file=sys.stderr)
    result.check_returncode()


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
        for wheel in sorted(source_dir.iterdir()):
            tar.add(wheel, arcname=f"wheelhouse/{wheel.name}", filter=normalise)
    tmp.replace(archive)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=os.environ.get("DASK_NODE_PYTHON", "3.11"),
                        help="Python version of the nodes (Debian 12: 3.11)")
    parser.add_argument("--arch", default=platform.machine(), help="CPU architecture of the nodes")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "wheelhouse.tar")
    parser.add_argument("--pin", action="append", default=[], help="replace a package's pin (repeatable)")
    parser.add_argument("--print-requirements", action="store_true", help="print the pins and stop")
    args = parser.parse_args(argv)

    packages = replace_pins(pinned_packages(), args.pin)
    if args.print_requirements:
        print("\n".join(packages))
        return 0
    digest = spec_digest(packages, args.python, args.arch)
    stamp = args.output.with_suffix(".spec")
    if args.output.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        print(args.output)
        return 0

    workdir = args.output.with_suffix("")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    print(f"build-wheelhouse: downloading {len(packages)} pinned packages for "
          f"Python {args.python} on {args.arch}", file=sys.stderr)
    download(packages, args.python, args.arch, workdir)
    pack(workdir, args.output)
    stamp.write_text(digest + "\n")
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
