"""Find settings that no role declares: a misspelled knob (dask_worker_cont=4) is otherwise
accepted silently and the real one keeps its default. Read a node's settings by name, and
tell the nodes with the same settings apart from the others. And
the pools of workers (dask_worker_pools) as the clouds and the roles read them."""

import difflib
import json
import re

from ansible.module_utils.parsing.convert_bool import boolean

POOL_GROUP_PREFIX = "dask_pool_"


def dask_cluster_unknown_variables(names, argument_specs, prefixes):
    """One message per name that starts with one of prefixes and that no entry point of the
    argument_specs (the parsed meta/argument_specs.yml of every role) declares, with the
    closest declared names as suggestions."""
    declared = sorted({option for spec in argument_specs for entry in spec["argument_specs"].values()
                       for option in entry.get("options") or {}})
    pattern = re.compile("^(" + "|".join(re.escape(prefix) for prefix in prefixes) + ")")
    messages = []
    for name in sorted(set(names)):
        if not pattern.match(name) or name in declared:
            continue
        close = difflib.get_close_matches(name, declared, n=3, cutoff=0.75)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        messages.append(f"unknown variable {name}: no role declares it.{hint}")
    return messages


def dask_cluster_settings(variables, pattern):
    """{name: value} of the variables (a host's hostvars) whose names match pattern. Only those
    values are read, so a variable of another kind that cannot be templated in hostvars (one
    that reads a role's default, say) does not stop the run."""
    matcher = re.compile(pattern)
    return {name: variables[name] for name in variables if matcher.match(name)}


def dask_cluster_checked_settings(variables, names):
    """{name: value} of names read from variables (the controller's, play variables included),
    or None when one cannot be read there (a setting made from a node's facts, say): the
    nodes are then all checked on their own."""
    try:
        return {name: variables[name] for name in names}
    except Exception:  # noqa: BLE001 - any templating error: nothing is taken as checked
        return None


def dask_cluster_first_of_kind(hosts, variables, pattern, checked_settings=None):
    """{host: the first of hosts in the same groups with the same settings}: variables holds
    each host's hostvars, in the order of hosts; settings are the variables whose names match
    pattern. A host whose settings cannot be read is a kind of its own (its own checks then
    say what is wrong). With checked_settings (those the controller checked in this run, with
    every role's checks), a host in no pool's group with exactly those settings maps to
    "localhost": nothing of it is left to check."""
    first = {}
    kinds = {}
    for host, host_variables in zip(hosts, variables):
        try:
            settings = dask_cluster_settings(host_variables, pattern)
            groups = sorted(host_variables["group_names"])
            if settings == checked_settings and not any(group.startswith(POOL_GROUP_PREFIX) for group in groups):
                first[host] = "localhost"
                continue
            kind = json.dumps([groups, settings], sort_keys=True, default=str)
        except Exception:  # noqa: BLE001 - any templating error: the checks of this host will name it
            kind = f"unreadable {host}"
        first[host] = kinds.setdefault(kind, host)
    return first


def dask_cluster_pool_of(group_names):
    """The pool of a worker host: NAME of its group dask_pool_NAME, '' (the default pool) when
    it is in none. validate-node refuses a host in two."""
    return next((group[len(POOL_GROUP_PREFIX):] for group in group_names if group.startswith(POOL_GROUP_PREFIX)), "")


def whole_or_zero(count):
    """A count as an int; 0 for one that is not a whole number, which validation names."""
    count = str(count).strip()
    return int(count) if count.isdigit() else 0


def dask_cluster_worker_pools(pools, default_count):
    """Every pool of workers with its count, the default pool first:
    [{"pool": "", "count": N}, {"pool": NAME, "count": N, SETTING: VALUE, ...}, ...], by name,
    counts as ints (-e gives strings), 1 where a pool gives none."""
    entries = [{"pool": "", "count": whole_or_zero(default_count)}]
    for name in sorted(pools or {}):
        settings = dict(pools[name] or {})
        settings["count"] = whole_or_zero(settings.get("count", 1))
        entries.append({"pool": name, **settings})
    return entries


def dask_cluster_gpu_pools(pools):
    """The names of the pools whose gpu is true (a bool, or a string Ansible reads as true)."""
    return sorted(name for name, settings in (pools or {}).items()
                  if isinstance(settings, dict) and boolean(settings.get("gpu", False), strict=False))


class FilterModule:
    def filters(self):
        return {"dask_cluster_unknown_variables": dask_cluster_unknown_variables,
                "dask_cluster_settings": dask_cluster_settings,
                "dask_cluster_checked_settings": dask_cluster_checked_settings,
                "dask_cluster_first_of_kind": dask_cluster_first_of_kind,
                "dask_cluster_pool_of": dask_cluster_pool_of,
                "dask_cluster_worker_pools": dask_cluster_worker_pools,
                "dask_cluster_gpu_pools": dask_cluster_gpu_pools}
