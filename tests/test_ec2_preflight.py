"""EC2 provisioning refuses bad input before any AWS API call, and a missing AWS setup gets a
message that says what to do. No AWS and no moto here: every AWS endpoint is a listener on
127.0.0.1 that counts the connections it gets and answers none of them. (Provisioning
against a real EC2 API is the molecule scenario molecule/ec2.)"""

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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




def rsa_public_key(bits):
    """A fresh OpenSSH RSA public key line of that many bits."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


RSA_KEY_BODY = rsa_public_key(2048).split()[1]
# The shape of a private key pasted by mistake (no key: a few base64 bytes), written in
# pieces so that test_repository.py's search for tracked private keys does not find it.
PASTED_PRIVATE_KEY = "\n".join(["-----BEGIN OPENSSH " + "PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjE=",
                                "-----END OPENSSH " + "PRIVATE KEY-----"])

BAD_KNOBS = [
    ({"dask_worker_count": -1}, "dask_worker_count"),
    ({"dask_worker_count": "four"}, "dask_worker_count"),
    ({"dask_admin_cidrs": ["10.0.0.300/8"]}, "dask_admin_cidrs"),
    ({"dask_admin_cidrs": "0.0.0.0/0"}, "dask_admin_cidrs"),
    ({"dask_admin_cidrs": ["0.0.0.0/0"]}, "cloud_ec2_allow_world_admin_cidrs"),
    ({"dask_admin_cidrs": ["203.0.113.7/8"]}, "write 203.0.113.7/32 for that one address"),
    ({"cloud_ec2_worker_instance_type": "big"}, "cloud_ec2_worker_instance_type"),
    ({"dask_cluster_name": "Bad_Name"}, "dask_cluster_name"),
    ({"cloud_ec2_public_key": ""}, "cloud_ec2_public_key"),
    ({"cloud_ec2_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5garbage!! x"}, "cloud_ec2_public_key"),
    ({"cloud_ec2_public_key": f"ssh-ed25519 {RSA_KEY_BODY} x"}, "its body holds another type of key than its prefix"),
    ({"cloud_ec2_public_key": PUBLIC_KEY[:-20]}, "cloud_ec2_public_key"),
    ({"cloud_ec2_public_key": rsa_public_key(1024)}, "it is an RSA key of 1024 bits"),
    ({"cloud_ec2_public_key": PASTED_PRIVATE_KEY}, "it is a private key"),
    ({"cloud_ec2_public_key": "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= x"}, "cloud_ec2_public_key"),
    ({"cloud_ec2_worker_spot": "maybe"}, "cloud_ec2_worker_spot"),
    ({"cloud_ec2_public_ip": "nope"}, "cloud_ec2_public_ip"),
    ({"cloud_ec2_root_volume_size": "3OO"}, "cloud_ec2_root_volume_size"),
    ({"cloud_ec2_bastion": "ubuntu@bastion example.com"}, "cloud_ec2_bastion"),
    ({"cloud_ec2_subnet_cidr": "10.99.1.0/24"}, "cloud_ec2_subnet_cidr 10.99.1.0/24 must lie inside cloud_ec2_vpc_cidr"),
    ({"cloud_ec2_vpc_cidr": "10.0.0.0/8", "cloud_ec2_subnet_cidr": "10.1.0.0/16"}, "cloud_ec2_vpc_cidr 10.0.0.0/8 must have a prefix"),
    ({"cloud_ec2_subnet_cidr": "10.86.1.0/28", "dask_worker_count": 10}, "cloud_ec2_subnet_cidr 10.86.1.0/28 holds 11 instances"),
    ({"cloud_ec2_instance_profile": "arn:aws:iam::123:role/x"}, "cloud_ec2_instance_profile"),
    ({"cloud_ec2_region": "us-east"}, "cloud_ec2_region"),
    ({"cloud_ec2_preflight_scope": "all"}, "cloud_ec2_preflight_scope"),
    # User tags may not replace the role's own, by which the inventory and teardown find the
    # cluster, nor AWS's, and must fit AWS's limits.
    ({"cloud_ec2_tags": {"team": "data", "dask_cluster": "other"}}, "cloud_ec2_tags: the key 'dask_cluster' is reserved"),
    ({"cloud_ec2_tags": {"Name": "mine"}}, "cloud_ec2_tags: the key 'Name' is reserved"),
    ({"cloud_ec2_tags": {"dask_role": "worker"}}, "cloud_ec2_tags: the key 'dask_role' is reserved"),
    ({"cloud_ec2_tags": {"dask_ssh_bastion": "x"}}, "cloud_ec2_tags: the key 'dask_ssh_bastion' is reserved"),
    ({"cloud_ec2_tags": {"AWS:createdBy": "me"}}, "cloud_ec2_tags: the key 'AWS:createdBy' is reserved"),
    # A string that the argument spec's dict type lets through (key=value), and one it does not.
    ({"cloud_ec2_tags": "team=data"}, "cloud_ec2_tags: it must be a mapping of tag keys to values"),
    ({"cloud_ec2_tags": ["team", "data"]}, "argument 'cloud_ec2_tags' is of type list"),
    ({"cloud_ec2_tags": {"team": True}}, "cloud_ec2_tags: the value of 'team' is a boolean"),
    ({"cloud_ec2_tags": {"team": None}}, "cloud_ec2_tags: the value of 'team' is nothing (null)"),
    ({"cloud_ec2_tags": {"team": {"name": "data"}}}, "cloud_ec2_tags: the value of 'team' is a mapping"),
    ({"cloud_ec2_tags": {"k" * 129: "v"}}, "has 129 characters, AWS allows 128"),
    ({"cloud_ec2_tags": {"team": "v" * 257}}, "cloud_ec2_tags: the value of 'team' has 257 characters, AWS allows 256"),
    # 3 tags of the role's own on an instance (dask_cluster, dask_role, Name): 47 are left.
    ({"cloud_ec2_tags": {f"tag{n}": n for n in range(48)}}, "cloud_ec2_tags: it has 48 tags"),
    # With a bastion the role puts a fourth tag on the instances.
    ({"cloud_ec2_tags": {f"tag{n}": n for n in range(47)}, "cloud_ec2_bastion": "ubuntu@bastion.example.com"},
     "cloud_ec2_tags: it has 47 tags, but the role puts up to 4 of its own on a resource"),
]


# Ids by position and setting name: some values are keys made afresh in each process.
@pytest.mark.parametrize("knobs,named", BAD_KNOBS, ids=[f"{i}-{'+'.join(knobs)}" for i, (knobs, _) in enumerate(BAD_KNOBS)])
def test_bad_knobs_are_refused_before_any_api_call(tmp_path, endpoint, knobs, named):
    # Only localhost in the inventory: the aws_ec2 inventory would call AWS itself.
    rc, output = provision(tmp_path, endpoint, ["localhost,"], **knobs)
    assert rc != 0
    assert named in output
    assert "Check the AWS credentials" not in output
    assert endpoint["connections"] == []
    # A private key pasted by mistake is named, never printed.
    assert "b3BlbnNzaC1rZXktdjE" not in output


def test_good_knobs_do_reach_the_endpoint(tmp_path, endpoint):
    """The control of the test above: with good knobs, provisioning calls the endpoint."""
    rc, output = provision(tmp_path, endpoint, ["localhost,", "inventory/aws"])
    assert rc != 0
    assert "AWS did not accept the credentials or did not answer" in output
    assert "scripts/cluster up, or ansible-playbook -i inventory/local site.yml" in output
    assert len(endpoint["connections"]) > 0


@pytest.mark.parametrize("tags", [
    {"team": "data", "cost-center": 42, "rate": 1.5, "name": "not the role's Name", "empty": "", "k" * 128: "v" * 256},
    {f"tag{n}": str(n) for n in range(47)},
], ids=["strings, numbers and the longest key and value", "47 tags beside the role's 3"])
def test_good_tags_pass_the_preflight(tmp_path, endpoint, tags):
    """The control of the tag refusals: tags within the limits get to the AWS calls."""
    rc, output = provision(tmp_path, endpoint, ["localhost,", "inventory/aws"], cloud_ec2_tags=tags)
    assert rc != 0
    # The tag check ran and passed: the settings are checked before the credentials.
    assert "ok: [localhost] => (item=cloud_ec2_tags:)" in output
    assert "AWS did not accept the credentials or did not answer" in output
    assert len(endpoint["connections"]) > 0


@pytest.mark.parametrize("knobs,named", [
    ({"dask_cluster_name": "other"}, "dask_cluster_name 'other'"),
    ({"cloud_ec2_region": "eu-west-1"}, "cloud_ec2_region 'eu-west-1'"),
], ids=["cluster name", "region"])
def test_an_inventory_searching_another_cluster_is_refused(tmp_path, endpoint, knobs, named):
    """-e alone does not reach the inventory (it searches DASK_CLUSTER_NAME / DASK_EC2_REGION,
    else group_vars/all): the preflight says what the inventory searches and what to set."""
    # Without credentials the inventory plugin fails (a warning: localhost still parses), after
    # it has recorded its search.
    rc, output = provision(tmp_path, endpoint, ["localhost,", "inventory/aws"], credentials=False, **knobs)
    assert rc != 0
    assert "inventory/aws/aws_ec2.yml searches instances tagged dask_cluster=dask (from dask_cluster_name in" in output
    assert "in us-east-1 (from cloud_ec2_region in" in output
    assert named in output
    setting = {"dask_cluster_name": "DASK_CLUSTER_NAME=", "cloud_ec2_region": "DASK_EC2_REGION="}
    assert all(setting[name] + str(value) in output for name, value in knobs.items())
    assert "Check the AWS credentials" not in output
    assert endpoint["connections"] == []


def test_the_inventory_follows_the_environment(tmp_path, endpoint):
    """DASK_CLUSTER_NAME and DASK_EC2_REGION name the cluster for the inventory and, through
    inventory/aws/group_vars/all, for the run: no -e and no edit of aws_ec2.yml."""
    extra = tmp_path / "knobs.yml"
    knobs = {name: value for name, value in GOOD_KNOBS.items() if name not in ("dask_cluster_name", "cloud_ec2_region")}
    extra.write_text(yaml.safe_dump(knobs))
    env = dict(aws_env(endpoint, credentials=False), DASK_CLUSTER_NAME="other", DASK_EC2_REGION="eu-west-1")
    result = subprocess.run([str(BIN / "ansible-playbook"), "playbooks/provision.yml", "-e", f"@{extra}",
                             "-i", "localhost,", "-i", "inventory/aws"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "searches instances tagged" not in output
    # Past the inventory check: the next step is the credentials.
    assert "AWS did not accept the credentials" in output


def test_an_inventory_file_that_names_the_cluster_is_refused(tmp_path, endpoint):
    """The name and region come from one place: aws_ec2.yml must not write its own."""
    inventory = tmp_path / "aws"
    shutil.copytree(ROOT / "inventory" / "aws", inventory)
    config = yaml.safe_load((inventory / "aws_ec2.yml").read_text())
    config["regions"] = ["us-east-1"]
    (inventory / "aws_ec2.yml").write_text(yaml.safe_dump(config))
    rc, output = run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"], endpoint, credentials=False)
    assert rc != 0
    assert "aws_ec2.yml sets regions: remove it" in output
    assert endpoint["connections"] == []


def test_an_inventory_without_aws_ec2_is_refused(tmp_path, endpoint):
    rc, output = provision(tmp_path, endpoint, ["localhost,"])
    assert rc != 0
    assert "no inventory source uses the dask_aws_ec2 plugin" in output
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
