"""EC2 provisioning against a real EC2 API (moto server on 127.0.0.1): first run, a re-run
with changed=0, workers scaled 3 -> 5 -> 2 with the aws_ec2 inventory following, the
security group, IMDSv2 and encryption as specified, bad knobs refused before any API
call, and teardown leaving nothing of the cluster behind."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from playbook_output import recap

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLUSTER = "dask"  # the tag filter of inventory/aws/aws_ec2.yml
ADMIN_CIDR = "203.0.113.7/32"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBe6u1fTsbkk0YbO5f5pdh0UCo5HhXxZgfqZfYlKqYxA test@dask"
pytestmark = pytest.mark.integration


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                              stderr=subprocess.STDOUT)
    env = dict(os.environ, AWS_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    for env_name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(env_name, None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=env["AWS_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    # An "Ubuntu 24.04" image, owned by moto's account, for the AMI lookup to find (an image
    # made from a running instance keeps moto's architecture; a registered one has none).
    seed = ec2.run_instances(ImageId="ami-760aaa0f", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.create_image(InstanceId=seed, Name="ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101")
    ec2.terminate_instances(InstanceIds=[seed])
    yield {"env": env, "ec2": ec2}
    server.terminate()
    server.wait(timeout=10)
    log.close()


def run(moto, tmp_path, playbook, **extra):
    variables = {"dask_worker_count": 3, "dask_client_count": 1, "dask_admin_cidrs": [ADMIN_CIDR],
                 "cloud_ec2_public_key": PUBLIC_KEY, "cloud_ec2_ami_owner": "123456789012",
                 "dask_cluster_name": CLUSTER}
    variables.update(extra)
    extra_file = tmp_path / f"vars-{time.monotonic_ns()}.yml"
    extra_file.write_text(yaml.safe_dump(variables))
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory/aws", playbook, "-e", f"@{extra_file}"],
                            cwd=ROOT, env=moto["env"], capture_output=True, text=True, timeout=600)
    return result


def running(moto, role=None):
    filters = [{"Name": "tag:dask_cluster", "Values": [CLUSTER]},
               {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    if role:
        filters.append({"Name": "tag:dask_role", "Values": [role]})
    reservations = moto["ec2"].describe_instances(Filters=filters)["Reservations"]
    return [instance for reservation in reservations for instance in reservation["Instances"]]


def inventory_groups(moto):
    listed = subprocess.run([str(BIN / "ansible-inventory"), "-i", "inventory/aws", "--list"], cwd=ROOT,
                            env=moto["env"], capture_output=True, text=True, check=True).stdout
    data = json.loads(listed)
    return {group: sorted(data.get(group, {}).get("hosts", []))
            for group in ("dask_scheduler", "dask_workers", "dask_clients")}, data["_meta"]["hostvars"]


def test_first_provision_builds_the_cluster(moto, tmp_path):
    result = run(moto, tmp_path, "playbooks/provision.yml")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert [len(running(moto, role)) for role in ("scheduler", "worker", "client")] == [1, 3, 1]


def test_second_provision_changes_nothing(moto, tmp_path):
    result = run(moto, tmp_path, "playbooks/provision.yml")
    assert result.returncode == 0, result.stdout[-5000:]
    assert recap(result.stdout)["localhost"]["changed"] == 0, result.stdout[-5000:]


def test_instances_require_imdsv2_and_encrypt_their_volumes(moto):
    instances = running(moto)
    assert len(instances) == 5
    volume_ids = []
    for instance in instances:
        assert instance["MetadataOptions"]["HttpTokens"] == "required"
        assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert instance["InstanceType"] == "m7i.2xlarge"
        volume_ids += [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["dask_cluster"] == CLUSTER and tags["dask_role"] in ("scheduler", "worker", "client")
    volumes = moto["ec2"].describe_volumes(VolumeIds=volume_ids)["Volumes"]
    assert volumes and all(v["Encrypted"] for v in volumes)
    assert all(v["VolumeType"] == "gp3" and v["Size"] == 200 for v in volumes)


def test_security_group_rules_are_exactly_as_specified(moto):
    group = moto["ec2"].describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"dask-{CLUSTER}"]}])
    group = group["SecurityGroups"][0]
    rules = set()
    for permission in group["IpPermissions"]:
        ports = (permission.get("FromPort"), permission.get("ToPort"))
        for cidr in permission.get("IpRanges", []):
            rules.add((permission["IpProtocol"], ports, cidr["CidrIp"]))
        for pair in permission.get("UserIdGroupPairs", []):
            rules.add((permission["IpProtocol"], ports, pair["GroupId"]))
    assert rules == {
        ("-1", (None, None), group["GroupId"]),
        ("tcp", (22, 22), ADMIN_CIDR),
        ("tcp", (8786, 8786), ADMIN_CIDR),
        ("tcp", (8787, 8787), ADMIN_CIDR),
    }
    assert not any(cidr == "0.0.0.0/0" for _, _, cidr in rules)
    keys = moto["ec2"].describe_key_pairs(KeyNames=[f"dask-{CLUSTER}"])["KeyPairs"]
    assert len(keys) == 1


@pytest.mark.parametrize("count", [5, 2])
def test_scaling_workers_follows_the_count_and_the_inventory_follows(moto, tmp_path, count):
    result = run(moto, tmp_path, "playbooks/provision.yml", dask_worker_count=count)
    assert result.returncode == 0, result.stdout[-5000:]
    assert len(running(moto, "worker")) == count
    assert len(running(moto, "scheduler")) == 1
    groups, hostvars = inventory_groups(moto)
    assert len(groups["dask_workers"]) == count
    assert len(groups["dask_scheduler"]) == 1 and len(groups["dask_clients"]) == 1
    worker = groups["dask_workers"][0]
    assert worker.startswith("i-")
    role = hostvars[worker]["ec2_tags"]["dask_role"]
    assert (role.get("__ansible_unsafe") if isinstance(role, dict) else role) == "worker"
    assert hostvars[worker]["ansible_host"]


BAD_KNOBS = [
    ({"dask_worker_count": -1}, "dask_worker_count"),
    ({"dask_admin_cidrs": ["10.0.0.300/8"]}, "dask_admin_cidrs"),
    ({"dask_admin_cidrs": "0.0.0.0/0"}, "dask_admin_cidrs"),
    ({"cloud_ec2_worker_instance_type": "big"}, "cloud_ec2_worker_instance_type"),
    ({"dask_cluster_name": "Bad_Name"}, "dask_cluster_name"),
    ({"cloud_ec2_public_key": ""}, "cloud_ec2_public_key"),
]


@pytest.mark.parametrize("knobs,named", BAD_KNOBS, ids=[n for _, n in BAD_KNOBS])
def test_bad_knobs_are_refused_before_any_api_call(moto, tmp_path, knobs, named):
    vpcs_before = moto["ec2"].describe_vpcs()["Vpcs"]
    result = run(moto, tmp_path, "playbooks/provision.yml", **knobs)
    assert result.returncode != 0
    assert named in result.stdout
    assert "aws_caller_info" not in result.stdout and "Check the AWS credentials" not in result.stdout
    assert moto["ec2"].describe_vpcs()["Vpcs"] == vpcs_before


def test_teardown_leaves_nothing_of_the_cluster(moto, tmp_path):
    result = run(moto, tmp_path, "playbooks/teardown.yml")
    assert result.returncode == 0, result.stdout[-5000:]
    ec2 = moto["ec2"]
    assert running(moto) == []
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"dask-{CLUSTER}"]}])[
        "SecurityGroups"] == []
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"dask-{CLUSTER}"]}])["KeyPairs"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:dask_cluster", "Values": [CLUSTER]}])["Vpcs"] == []
    assert ec2.describe_subnets(Filters=[{"Name": "tag:dask_cluster", "Values": [CLUSTER]}])["Subnets"] == []
    again = run(moto, tmp_path, "playbooks/teardown.yml")
    assert again.returncode == 0
    assert recap(again.stdout)["localhost"]["changed"] == 0, again.stdout[-4000:]
