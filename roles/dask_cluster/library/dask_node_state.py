#!/usr/bin/python
"""What a node holds of what the roles put there, as one short digest per item.

playbooks/cluster.yml records it on every node it configured (tasks/configured.yml) and
reads it again at the start of the next run (tasks/scope.yml): a node whose settings, roles
and state are all as recorded is left alone, so a run that changes nothing configures no node,
while a deleted unit, an edited file, a stopped service, a removed package or account is
found and the node configured again (the roles put it back). It reads; it changes nothing."""

DOCUMENTATION = r"""
---
module: dask_node_state
short_description: Digest the files, units, accounts and packages the Dask roles manage on a node
description:
  - Returns one short digest per item (a file, a unit, an account, the package list), so that
    two readings taken at different times can be compared item by item. Changes nothing.
options:
  files:
    description:
      - Paths or glob patterns. A file counts with its bytes, mode and owner; a symbolic link with
        its target; a directory with everything under it. A pattern that matches nothing counts
        as absent, so a file that disappears is a difference.
    type: list
    elements: str
    default: []
  dirs:
    description: Directories that count with their mode and owner only, not what they hold (the services' own data).
    type: list
    elements: str
    default: []
  names:
    description:
      - Glob patterns whose matches count by name only (the packages of a Python environment,
        by their C(*.dist-info) folders).
    type: list
    elements: str
    default: []
  skip:
    description: File or directory names never counted (caches the services write, the record itself).
    type: list
    elements: str
    default: []
  units:
    description:
      - systemd units: names, or glob patterns matched against the unit files of
        C(/etc/systemd/system). Each counts with whether it is enabled and, unless it is a
        oneshot service (a timer starts those), whether it runs.
    type: list
    elements: str
    default: []
  accounts:
    description: User names; each counts with its passwd entry and its groups.
    type: list
    elements: str
    default: []
  packages:
    description: Count the OS packages installed (dpkg), with their versions.
    type: bool
    default: true
  sysctl_files:
    description: sysctl.d files whose keys count with their value in the running kernel.
    type: list
    elements: str
    default: []
  record:
    description:
      - The node's record of its last configuration (JSON), returned as RV(recorded) and never
        counted itself.
    type: path
author:
  - dask-ansible team
"""

EXAMPLES = r"""
- name: Read what this node holds
  dask_node_state:
    files: [/etc/dask, "/etc/systemd/system/dask-*"]
    names: ["/opt/dask/env/lib/python*/site-packages/*.dist-info"]
    skip: [__pycache__]
    units: ["dask-*", ssh.service]
    accounts: [dask]
  register: node_state
"""

RETURN = r"""
state:
  description: >-
    Item (a path, C(dir:<path>), C(unit:<name>), C(account:<name>), C(packages), C(names:<pattern>),
    C(sysctl:<key>)) to a digest of 16 hex digits.
  returned: success
  type: dict
recorded:
  description: The content of O(record), or an empty dict when it is missing or not a JSON object.
  returned: success
  type: dict
"""

import fnmatch
import glob
import grp
import hashlib
import json
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

UNIT_DIR = "/etc/systemd/system"


def short(text):
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]


def path_entry(path):
    try:
        return entry_of(path)
    except OSError:  # gone between listing and reading
        return "absent"


def entry_of(path):
    info = os.lstat(path)
    owner = f"{info.st_uid}:{info.st_gid}:{stat.S_IMODE(info.st_mode):o}"
    if stat.S_ISLNK(info.st_mode):
        return short(f"link {owner} {os.readlink(path)}")
    if stat.S_ISDIR(info.st_mode):
        return short(f"dir {owner}")
    with open(path, "rb") as handle:
        return short(f"file {owner} ".encode() + hashlib.sha256(handle.read()).digest())


def files_state(patterns, skip):
    state = {}
    for pattern in map(os.path.expanduser, patterns):
        matches = sorted(glob.glob(pattern))
        if not matches:
            state[pattern] = "absent"
        for match in matches:
            state[match] = path_entry(match)
            if os.path.isdir(match) and not os.path.islink(match):
                for folder, dirs, files in os.walk(match):
                    dirs[:] = sorted(name for name in dirs if name not in skip)
                    for name in sorted(dirs) + sorted(name for name in files if name not in skip):
                        path = os.path.join(folder, name)
                        state[path] = path_entry(path)
    return state


def dirs_state(paths):
    return {f"dir:{path}": path_entry(path) for path in map(os.path.expanduser, paths)}


def names_state(patterns):
    return {f"names:{pattern}": short("\n".join(sorted(os.path.basename(p) for p in glob.glob(pattern))))
            for pattern in patterns}


def unit_names(patterns):
    present = sorted(os.listdir(UNIT_DIR)) if os.path.isdir(UNIT_DIR) else []
    names = []
    for pattern in patterns:
        if any(char in pattern for char in "*?["):
            names += [name for name in present if fnmatch.fnmatch(name, pattern) and not os.path.isdir(
                os.path.join(UNIT_DIR, name))]
        else:
            names.append(pattern)
    return sorted(set(names))


def units_state(module, patterns):
    names = unit_names(patterns)
    if not names:
        return {}
    rc, out, err = module.run_command(["systemctl", "show", "--property=Id,Type,UnitFileState,ActiveState", "--", *names])
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {err.strip()}")
    state = {}
    # One block of properties per unit, in the order asked, separated by an empty line.
    for name, block in zip(names, out.strip().split("\n\n")):
        properties = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        running = properties.get("ActiveState", "")
        if properties.get("Type") == "oneshot":
            running = "-"
        state[f"unit:{name}"] = short(f"{properties.get('UnitFileState', '')} {running}")
    return state


def accounts_state(users):
    state = {}
    for user in users:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            state[f"account:{user}"] = "absent"
            continue
        groups = sorted(group.gr_name for group in grp.getgrall() if user in group.gr_mem)
        try:
            primary = grp.getgrgid(entry.pw_gid).gr_name
        except KeyError:
            primary = ""
        state[f"account:{user}"] = short(f"{entry.pw_uid} {entry.pw_gid} {primary} {entry.pw_dir} {entry.pw_shell} "
                                         + ",".join(groups))
    return state


def packages_state(module):
    rc, out, err = module.run_command(["dpkg-query", "-W", "-f", "${binary:Package} ${Version} ${db:Status-Abbrev}\n"])
    if rc != 0:
        module.fail_json(msg=f"dpkg-query failed: {err.strip()}")
    return {"packages": short("\n".join(sorted(out.splitlines())))}


def sysctl_state(files):
    state = {}
    for path in files:
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            lines = [line.split("=", 1) for line in handle if "=" in line and not line.lstrip().startswith(("#", ";"))]
        for key, _ in lines:
            key = key.strip()
            try:
                with open("/proc/sys/" + key.replace(".", "/")) as value:
                    live = " ".join(value.read().split())
            except OSError:
                live = "unreadable"
            state[f"sysctl:{key}"] = short(live)
    return state


def read_record(path):
    try:
        with open(path) as handle:
            recorded = json.load(handle)
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def read_state(module, params):
    state = files_state(params["files"], set(params["skip"]))
    if params["record"]:
        state.pop(params["record"], None)
    state.update(dirs_state(params["dirs"]))
    state.update(names_state(params["names"]))
    state.update(units_state(module, params["units"]))
    state.update(accounts_state(params["accounts"]))
    state.update(sysctl_state(params["sysctl_files"]))
    if params["packages"]:
        state.update(packages_state(module))
    return state


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "str", "default": []},
            "dirs": {"type": "list", "elements": "str", "default": []},
            "names": {"type": "list", "elements": "str", "default": []},
            "skip": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "accounts": {"type": "list", "elements": "str", "default": []},
            "packages": {"type": "bool", "default": True},
            "sysctl_files": {"type": "list", "elements": "str", "default": []},
            "record": {"type": "path"},
        },
        supports_check_mode=True,
    )
    state = read_state(module, module.params)
    record = module.params["record"]
    module.exit_json(changed=False, state=state, recorded=read_record(record) if record else {})


if __name__ == "__main__":
    main()
