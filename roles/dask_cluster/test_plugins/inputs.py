"""Tests for settings as users give them. On the command line every -e key=value is a
string, so a whole number or a boolean there is '4' or 'false'; in YAML files it is 4 or
false. Both forms are accepted when well-formed, and templates read them with | int and
| bool. Ansible's own | bool turns any unknown string into false, so it cannot check."""

import re

# The strings Ansible's bool filter reads as true or false, and nothing else.
BOOLEAN_STRINGS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def whole_number(value):
    """4 or '4' (digits only; no sign, fraction or exponent). A boolean is not a number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()) is not None


def true_or_false(value):
    """true/false, or a string Ansible reads as one ('false', 'yes', 'off', '0'...)."""
    return isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in BOOLEAN_STRINGS)


class TestModule:
    def tests(self):
        return {"whole_number": whole_number, "true_or_false": true_or_false}
