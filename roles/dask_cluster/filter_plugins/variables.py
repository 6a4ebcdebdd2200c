"""Find settings that no role declares: a misspelled knob (dask_worker_cont=4) is otherwise
accepted silently and the real one keeps its default."""

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


class FilterModule:
    def filters(self):
        return {"dask_cluster_unknown_variables": dask_cluster_unknown_variables}
