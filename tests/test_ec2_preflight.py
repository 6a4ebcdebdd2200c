"""EC2 provisioning refuses bad input before any AWS API call, and a missing AWS setup gets a
message that says what to do. No AWS and no moto here: every AWS endpoint is a listener on
127.0.0.1 that counts the connections it gets and answers none of them. (Provisioning
against a real EC2 API is the molecule scenario molecule/ec2.)"""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

BIN = Path(sys.executable).parent
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBe6u1fTsbkk0YbO5f5pdh0UCo5HhXxZgfqZfYlKqYxA test@dask"
GOOD_KNOBS = {
    "dask_cloud": "ec2",
    "dask_cluster_name": "dask",
    "cloud_ec2_region": "us-east-1",
    "dask_worker_count": 3,
    "dask_client_count": 1,
    "dask_admin_cidrs": ["203.0.113.7/32"],
    "cloud_ec2_public_key": PUBLIC_KEY,
    "ansible_python_interpreter": sys.executable,
}
MISSING_CREDENTIALS = "No AWS credentials for the EC2 inventory"


@pytest.fixture
def endpoint():
    """An AWS endpoint on 127.0.0.1 that accepts connections, counts and closes them."""
    connections = []
    stop = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except (TimeoutError, socket.timeout):
                continue
            connections.append(1)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.getsockname()[1]}", "connections": connections}
    stop.set()
    thread.join(timeout=5)
    server.close()


def aws_env(endpoint, credentials):
    """The environment of a run: no AWS settings of this machine, every AWS call to endpoint."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "EC2_"))}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
        AWS_URL=endpoint["url"], AWS_ENDPOINT_URL=endpoint["url"], AWS_MAX_ATTEMPTS="1",
    )
    if credentials:
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return env


def run(command, endpoint, credentials=True):
    result = subprocess.run(command, cwd=ROOT, env=aws_env(endpoint, credentials), capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stdout + result.stderr


def provision(tmp_path, endpoint, inventories, credentials=True, **knobs):
    extra = tmp_path / "knobs.yml"
    extra.write_text(yaml.safe_dump({**GOOD_KNOBS, **knobs}))
    command = [str(BIN / "ansible-playbook"), "playbooks/provision.yml", "-e", f"@{extra}"]
    for inventory in inventories:
        command += ["-i", inventory]
    return run(command, endpoint, credentials)


BAD_KNOBS = [
    ({"dask_worker_count": -1}, "dask_worker_count"),
    ({"dask_admin_cidrs": ["10.0.0.300/8"]}, "dask_admin_cidrs"),
    ({"dask_admin_cidrs": "0.0.0.0/0"}, "dask_admin_cidrs"),
    ({"cloud_ec2_worker_instance_type": "big"}, "cloud_ec2_worker_instance_type"),
    ({"dask_cluster_name": "Bad_Name"}, "dask_cluster_name"),
    ({"cloud_ec2_public_key": ""}, "cloud_ec2_public_key"),
    ({"cloud_ec2_worker_spot": "yes"}, "cloud_ec2_worker_spot"),
    ({"cloud_ec2_bastion": "ubuntu@bastion example.com"}, "cloud_ec2_bastion"),
]


@pytest.mark.parametrize("knobs,named", BAD_KNOBS, ids=[named for _, named in BAD_KNOBS])
def test_bad_knobs_are_refused_before_any_api_call(tmp_path, endpoint, knobs, named):
    # Only localhost in the inventory: the aws_ec2 inventory would call AWS itself.
    rc, output = provision(tmp_path, endpoint, ["localhost,"], **knobs)
    assert rc != 0
    assert named in output
    assert "Check the AWS credentials" not in output
    assert endpoint["connections"] == []


def test_good_knobs_do_reach_the_endpoint(tmp_path, endpoint):
    """The control of the test above: with good knobs, provisioning calls the endpoint."""
    rc, output = provision(tmp_path, endpoint, ["localhost,", "inventory/aws"])
    assert rc != 0
    assert "AWS did not accept the credentials or did not answer" in output
    assert "scripts/cluster up, or ansible-playbook -i inventory/local site.yml" in output
    assert len(endpoint["connections"]) > 0


@pytest.mark.parametrize("knobs,named", [
    ({"dask_cluster_name": "other"}, "dask_cluster_name is 'other'"),
    ({"cloud_ec2_region": "eu-west-1"}, "cloud_ec2_region is 'eu-west-1'"),
], ids=["cluster name", "region"])
def test_an_inventory_searching_another_cluster_is_refused(tmp_path, endpoint, knobs, named):
    # Without credentials the inventory plugin fails (a warning: localhost still parses).
    rc, output = provision(tmp_path, endpoint, ["localhost,", "inventory/aws"], credentials=False, **knobs)
    assert rc != 0
    assert "inventory/aws/aws_ec2.yml searches instances tagged dask_cluster='dask' in regions ['us-east-1']" in output
    assert named in output
    assert "Check the AWS credentials" not in output
    assert endpoint["connections"] == []


def test_an_inventory_without_aws_ec2_is_refused(tmp_path, endpoint):
    rc, output = provision(tmp_path, endpoint, ["localhost,"])
    assert rc != 0
    assert "no inventory source is an aws_ec2.yml file" in output
    assert endpoint["connections"] == []


@pytest.mark.parametrize("command", [
    ["ansible-inventory", "-i", "inventory/aws", "--list"],
    ["ansible-playbook", "site.yml"],  # inventory/aws is ansible.cfg's default
], ids=["ansible-inventory", "site.yml"])
def test_missing_credentials_point_to_the_local_cloud(endpoint, command):
    rc, output = run([str(BIN / command[0]), *command[1:]], endpoint, credentials=False)
    assert rc != 0
    assert MISSING_CREDENTIALS in output
    assert "Export AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)" in output
    assert "scripts/cluster up, or ansible-playbook -i inventory/local site.yml" in output
    assert "PLAY [" not in output
    assert endpoint["connections"] == []


def test_other_inventory_failures_keep_their_own_message(endpoint):
    """With credentials, an endpoint that does not answer is not reported as missing credentials."""
    rc, output = run([str(BIN / "ansible-inventory"), "-i", "inventory/aws", "--list"], endpoint)
    assert rc != 0
    assert MISSING_CREDENTIALS not in output
    assert "Failed to describe instances" in output
    assert len(endpoint["connections"]) > 0
