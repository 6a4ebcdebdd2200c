"""Find settings that no role declares: a misspelled knob (dask_worker_cont=4) is otherwise
accepted silently and the real one keeps its default. And read a node's settings by name."""

import difflib
import re


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


class FilterModule:
    def filters(self):
        return {"dask_cluster_unknown_variables": dask_cluster_unknown_variables,
                "dask_cluster_settings": dask_cluster_settings}
