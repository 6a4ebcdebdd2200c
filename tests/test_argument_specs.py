"""Every role's defaults and meta/argument_specs.yml must describe the same variables."""

import pytest
import yaml

from conftest import ROLES


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


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_variables_carry_the_role_prefix(role):
    defaults = load(role / "defaults" / "main.yml")
    prefix = role.name + "_"
    assert all(name.startswith(prefix) for name in defaults), f"unprefixed defaults in {role.name}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_a_readme_documenting_every_default(role):
    readme = (role / "README.md").read_text()
    for name in load(role / "defaults" / "main.yml"):
        assert f"`{name}`" in readme, f"{role.name}/README.md does not document {name}"
