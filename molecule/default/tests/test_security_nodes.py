"""Every cluster node: its own TLS identity, no CA key, and Dask requiring encryption."""

import os
from pathlib import Path

from conftest import TLS_DIR

testinfra_hosts = ["ansible://dask_scheduler", "ansible://dask_workers", "ansible://dask_clients"]


def test_node_holds_its_certificate_and_key_but_no_ca_key(host):
    files = host.check_output(f"ls {TLS_DIR}").split()
    assert sorted(files) == ["ca.pem", "node-key.pem", "node.pem"]
    key = host.file(f"{TLS_DIR}/node-key.pem")
    assert (key.user, key.group, key.mode) == ("root", "dask", 0o640)
    for public in ("ca.pem", "node.pem"):
        assert host.file(f"{TLS_DIR}/{public}").mode == 0o644
    # molecule.yml keeps the controller's CA directory in the scenario's ephemeral directory.
    ca_key = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "tls", "ca-key.pem").read_text()
    ca_key_line = ca_key.splitlines()[1]
    found = host.run("grep -rlF -- %s /etc /opt /var/lib/dask /home /root /tmp", ca_key_line)
    assert found.stdout.strip() == "", f"the CA key is on this node: {found.stdout}"


def test_every_dask_process_requires_encryption(host):
    script = "import dask; print(dask.config.get('distributed.comm.require-encryption'))"
    assert host.check_output("/opt/dask/env/bin/python -c %s", script) == "True"
