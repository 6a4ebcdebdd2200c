"""Every role's defaults and meta/argument_specs.yml must describe the same variables."""

import pytest
import yaml

from conftest import ROLES, ROOT


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_and_argument_specs_match(role):
    defaults = load(role / "defaults" / "main.yml")
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    # Required options are inventory knobs the role reads but does not default.
    required = {name for name, spec in options.items() if spec.get("required")}
    assert sorted(defaults) == sorted(set(options) - required), "defaults/main.yml and argument_specs drifted apart"
    assert not required & set(defaults), "a required option must not have a default"
    for name, value in defaults.items():
        spec = options[name]
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"
        if isinstance(value, str) and "{{" in value:
            assert "default" not in spec, f"{name}: a templated default is described, not repeated"
        else:
            assert spec.get("default") == value, f"{name}: spec default {spec.get('default')!r} != {value!r}"


# The cluster's shape and the rolling operations: public names users know, which the shared
# role declares without its prefix.
SHARED_PUBLIC_NAMES = {"dask_cloud", "dask_worker_count", "dask_worker_pools", "dask_client_count", "dask_admin_cidrs",
                       "dask_rolling_batch", "dask_restart_scheduler", "dask_retire_hosts",
                       "dask_retire_before_removal"}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_variables_carry_the_role_prefix(role):
    defaults = load(role / "defaults" / "main.yml")
    prefix = role.name + "_"
    public = SHARED_PUBLIC_NAMES if role.name == "dask_cluster" else set()
    unprefixed = sorted(name for name in defaults if not name.startswith(prefix) and name not in public)
    assert unprefixed == [], f"unprefixed defaults in {role.name}"


def test_every_public_knob_has_one_home():
    # Declared by exactly one role, so that one default and one check serve every playbook.
    homes = {}
    for role in ROLES:
        for name in load(role / "defaults" / "main.yml"):
            homes.setdefault(name, []).append(role.name)
        spec = load(role / "meta" / "argument_specs.yml")["argument_specs"]
        for entry in spec.values():
            for name in entry.get("options") or {}:
                if name in SHARED_PUBLIC_NAMES and role.name != "dask_cluster":
                    homes.setdefault(name, []).append(role.name)
    assert {name: roles for name, roles in homes.items() if len(roles) > 1} == {}
    assert SHARED_PUBLIC_NAMES <= set(homes)


def test_validation_knows_every_role():
    # tasks/validate.yml reads every role's argument spec from this list.
    listed = load(ROOT / "roles" / "dask_cluster" / "vars" / "main.yml")["_dask_cluster_all_roles"]
    assert sorted(listed) == sorted(role.name for role in ROLES)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_a_readme_documenting_every_default(role):
    readme = (role / "README.md").read_text()
    for name in load(role / "defaults" / "main.yml"):
        assert f"`{name}`" in readme, f"{role.name}/README.md does not document {name}"
