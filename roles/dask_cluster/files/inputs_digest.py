"""A digest of settings and files, on the controller: what a baked node image holds (role
dask_image), what a node was last configured from (tasks/scope.yml).

Usage: python inputs_digest.py < {"inputs": {...}, "paths": [PATH, ...]}

Prints the sha256 (hex) of the inputs (settings, as canonical JSON) and of every file under
the paths (a role's directory, a lock file), each by its path relative to the path it was
found under and its bytes. READMEs and compiled Python leave it unchanged: they do not change
what a node gets. The same inputs and files give the same digest on any machine.

With "nodes": {HOST: {SETTING: VALUE}}, "groups": {HOST: [GROUP, ...]}, "options" (the
roles' argument specs, as parsed) and "role_groups" ([{"role": ROLE, "group": GROUP}, ...]:
dask_cluster's _dask_cluster_checked_roles, "all" for every node), it prints {HOST: digest}
instead: that digest and each node's settings, read as their specs type them, without those
equal to their role's default and those of a role the node does not run. So a setting
given as a string on the command line ("8786", "false"), or given its default value, digests
as if unset, and a client's setting changes no worker's digest. Of dask_worker_pools a
worker's digest holds its own pool's settings (its group dask_pool_<name>) but the count: a
pool that scales, or another pool, changes no worker that exists.
"""

import hashlib
import json
import sys
from pathlib import Path

SKIPPED_NAMES = {"README.md"}
SKIPPED_DIRS = {"__pycache__"}
# What changes no node that exists: which nodes exist, the controller's own settings that no
# role of role_groups owns, and the facts that playbooks/upgrade.yml sets.
NOT_NODE_SETTINGS = ("dask_worker_count", "dask_worker_pools", "dask_client_count", "dask_image_", "dask_retire_",
                     "dask_env_outdated", "dask_env_unmet_pins", "dask_env_previous")
POOL_GROUP_PREFIX = "dask_pool_"
TRUE = {"true", "yes", "on", "1", "y", "t"}


def files_under(root):
    if root.is_file():
        return [(root.name, root)]
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and path.name not in SKIPPED_NAMES and not SKIPPED_DIRS & set(relative.parts):
            found.append((f"{root.name}/{relative.as_posix()}", path))
    return found


def digest(inputs, paths):
    sha = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise SystemExit(f"inputs_digest: {root} does not exist")
        for name, path in files_under(root):
            sha.update(b"\0" + name.encode() + b"\0")
            sha.update(hashlib.sha256(path.read_bytes()).digest())
    return sha.hexdigest()


def typed(value, spec):
    kind = spec.get("type")
    try:
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).strip().lower() in TRUE
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind in ("str", "path"):
            return str(value)
    except (TypeError, ValueError):
        pass
    return value


def node_settings(settings, groups, options, role_groups):
    kept = {}
    for name, value in settings.items():
        if name.startswith(NOT_NODE_SETTINGS):
            continue
        if any(name.startswith(entry["role"] + "_") and entry["group"] not in ["all", *groups] for entry in role_groups):
            continue
        spec = options.get(name, {})
        value = typed(value, spec)
        if "default" in spec and value == typed(spec["default"], spec):
            continue
        kept[name] = value
    pool = next((group[len(POOL_GROUP_PREFIX):] for group in groups if group.startswith(POOL_GROUP_PREFIX)), None)
    if pool is not None:
        kept["dask_worker_pool"] = {key: value for key, value in ((settings.get("dask_worker_pools") or {}).get(pool) or {}).items()
                                    if key != "count"}
    return kept


def node_digests(base, nodes, groups, specs, role_groups):
    options = {}
    for spec in specs:
        for entry_point in spec.get("argument_specs", {}).values():
            options.update(entry_point.get("options") or {})
    digests = {}
    for host, settings in nodes.items():
        kept = node_settings(settings, groups.get(host, []), options, role_groups)
        digests[host] = hashlib.sha256((base + json.dumps(kept, sort_keys=True, separators=(",", ":"))).encode()).hexdigest()
    return digests


if __name__ == "__main__":
    request = json.load(sys.stdin)
    base = digest(request["inputs"], request["paths"])
    if "nodes" in request:
        print(json.dumps(node_digests(base, request["nodes"], request["groups"], request["options"],
                                      request["role_groups"])))
    else:
        print(base)
