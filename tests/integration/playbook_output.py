"""Reading ansible-playbook output in the integration tests."""

import re


def recap(output):
    """{host: {'ok': n, 'changed': n, 'failed': n, ...}} from the PLAY RECAP of output."""
    return {host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)}
