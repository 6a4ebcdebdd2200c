"""EC2 provisioning against moto server on 127.0.0.1: settings that pass every pattern but
that AWS would refuse half-way (an AMI, instance type, subnet or instance profile that does
not exist, a subnet too small) are refused by the preflight and leave nothing behind; values
given as strings with -e provision what they say; the inventory, provisioning and teardown
follow DASK_CLUSTER_NAME / DASK_EC2_REGION; a teardown that finds nothing says so and
changes nothing. The no-API refusals are in test_ec2_preflight.py; the whole scenario with
scaling, spot workers and the bastion is molecule/ec2."""

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import ROOT
from playbook_output import changed_tasks, recap, run_tasks
from test_ec2_preflight import PUBLIC_KEY, aws_env
from test_lock_environment import make_wheel

BIN = Path(sys.executable).parent
REGION = "us-east-1"
# moto's own Amazon Linux image (x86_64, a 15 GiB root snapshot on /dev/xvda).
MOTO_AMI = "ami-760aaa0f"
# And its arm64 one (Amazon Linux 2022), for instance types that run arm64 only (Graviton).
MOTO_ARM64_AMI = "ami-0e9271c829888680e"
# And its Deep Learning AMI for Ubuntu, by AWS's account that publishes them, for GPU pools:
# looked up by name as the role's default looks up the Deep Learning Base AMI.
MOTO_GPU_AMI = "ami-dca37ea5"
MOTO_GPU_AMI_LOOKUP = {"cloud_ec2_gpu_ami_owner": "898082745236", "cloud_ec2_gpu_ami_name": "Deep Learning AMI Ubuntu Linux - *"}
# The run's settings, but not the cluster's name and region: those come from the
# environment through inventory/aws/group_vars/all, as for an operator.
KNOBS = {
    "dask_worker_count": 2,
    "dask_client_count": 1,
    "dask_admin_cidrs": ["203.0.113.7/32"],
    "cloud_ec2_public_key": PUBLIC_KEY,
    "cloud_ec2_ami_id": MOTO_AMI,
    # moto's instances are records, not machines: nothing to log in to and retire.
    "dask_retire_before_removal": False,
    "ansible_python_interpreter": sys.executable,
}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto server on a free port of 127.0.0.1, started directly (its PID is ours to stop)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as output:
        server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                  stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        knobs = tmp_path_factory.mktemp("knobs") / "knobs.yml"
        knobs.write_text(yaml.safe_dump(KNOBS))
        yield {"url": url, "knobs": knobs}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def client(moto, service="ec2", region=REGION):
    return boto3.client(service, endpoint_url=moto["url"], region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def ansible(moto, command, *args, cluster=None, region=None):
    """Run an Ansible command of the venv against moto, in the environment an operator would
    set (DASK_CLUSTER_NAME, DASK_EC2_REGION); return its completed process."""
    env = aws_env({"url": moto["url"]}, credentials=True)
    env.update(ANSIBLE_DEPRECATION_WARNINGS="false")
    env.pop("DASK_CLUSTER_NAME", None)
    env.pop("DASK_EC2_REGION", None)
    if cluster:
        env["DASK_CLUSTER_NAME"] = cluster
    if region:
        env["DASK_EC2_REGION"] = region
    return subprocess.run([str(BIN / command), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def playbook(moto, path, *args, cluster=None, region=None):
    """(rc, output) of ansible-playbook with the EC2 inventory and the run's settings."""
    result = ansible(moto, "ansible-playbook", "-i", "inventory/aws", path, "-e", f"@{moto['knobs']}", *args,
                     cluster=cluster, region=region)
    return result.returncode, result.stdout + result.stderr


def resources(moto, region=REGION):
    """What exists in moto, by kind, as sets of ids or names."""
    ec2 = client(moto, region=region)
    instances = {instance["InstanceId"]
                 for reservation in ec2.describe_instances()["Reservations"] for instance in reservation["Instances"]
                 if instance["State"]["Name"] != "terminated"}
    return {
        "instances": instances,
        "vpcs": {vpc["VpcId"] for vpc in ec2.describe_vpcs()["Vpcs"]},
        "subnets": {subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]},
        "security groups": {group["GroupId"] for group in ec2.describe_security_groups()["SecurityGroups"]},
        "key pairs": {key["KeyName"] for key in ec2.describe_key_pairs()["KeyPairs"]},
        "launch templates": {template["LaunchTemplateName"]
                             for template in ec2.describe_launch_templates()["LaunchTemplates"]},
        "internet gateways": {gateway["InternetGatewayId"]
                              for gateway in ec2.describe_internet_gateways()["InternetGateways"]},
    }


def cluster_instances(moto, name, region=REGION):
    """{role: [instance, ...]} of the live instances tagged dask_cluster=name."""
    reservations = client(moto, region=region).describe_instances(Filters=[
        {"Name": "tag:dask_cluster", "Values": [name]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ])["Reservations"]
    roles = {}
    for instance in (instance for reservation in reservations for instance in reservation["Instances"]):
        tags = {tag["Key"]: tag["Value"] for tag in instance["Tags"]}
        roles.setdefault(tags["dask_role"], []).append(instance)
    return roles


@pytest.fixture(scope="module")
def small_subnet(moto):
    """A subnet of 16 addresses (11 usable), outside any cluster, for the capacity check."""
    ec2 = client(moto)
    vpc = ec2.create_vpc(CidrBlock="10.200.0.0/24")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.200.0.0/28")["Subnet"]["SubnetId"]


BAD_INPUTS = [
    ({"cloud_ec2_ami_id": "", "cloud_ec2_ami_name": "ubuntu/images/nothing-like-this-*"},
     ["cloud_ec2_ami_name 'ubuntu/images/nothing-like-this-*' matches no available x86_64 image"]),
    ({"cloud_ec2_ami_id": "ami-0123456789abcdef0"},
     ["cloud_ec2_ami_id ami-0123456789abcdef0 does not exist in us-east-1"]),
    # Three settings refused by one task, each with its own message. moto has no Ubuntu image
    # for the arm64 type (Graviton) to launch from.
    ({"cloud_ec2_worker_instance_type": "m7i.huge", "cloud_ec2_client_instance_type": "m7g.large",
      "cloud_ec2_root_volume_size": 10},
     ["cloud_ec2_worker_instance_type 'm7i.huge': us-east-1 offers no such instance type",
      "cloud_ec2_client_instance_type 'm7g.large': run arm64 only, and cloud_ec2_arm64_ami_name "
      "'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*' matches no available arm64 image",
      "cloud_ec2_root_volume_size 10 is smaller than the 15 GiB root snapshot"]),
    # An arm64 AMI for x86_64-only types.
    ({"cloud_ec2_ami_id": MOTO_ARM64_AMI},
     ["cloud_ec2_scheduler_instance_type 'm7i.2xlarge', cloud_ec2_worker_instance_type 'm7i.2xlarge', "
      "cloud_ec2_client_instance_type 'm7i.2xlarge': these instance types cannot run arm64 images"]),
    # GPU pools: a type without GPUs, fewer GPUs than nworkers, and no GPU AMI of that name.
    ({"dask_env_provider": "pip", "dask_worker_pools": {"cuda": {"gpu": True, "instance_type": "m7i.large"}, "duo": {"gpu": True, "nworkers": 2}},
      **MOTO_GPU_AMI_LOOKUP, "cloud_ec2_gpu_ami_name": "Deep Learning nothing-*"},
     ["dask_worker_pools.cuda: its instance type m7i.large has 0 GPU(s), fewer than the pool's nworkers (1",
      "dask_worker_pools.duo: its instance type g6.xlarge has 1 GPU(s), fewer than the pool's nworkers (2",
      "cloud_ec2_gpu_ami_name 'Deep Learning nothing-*' matches no available x86_64 image owned by cloud_ec2_gpu_ami_owner 898082745236"]),
    ({"cloud_ec2_subnet_ids": ["SMALL", "subnet-0123456789abcdef0"], "dask_worker_count": 12},
     ["cloud_ec2_subnet_ids: subnet-0123456789abcdef0 do not exist in us-east-1",
      "cloud_ec2_subnet_ids: the instances launch in SMALL, which has room for 11 instances"]),
    ({"cloud_ec2_instance_profile": "arn:aws:iam::123456789012:instance-profile/dask/absent"},
     ["cloud_ec2_instance_profile 'arn:aws:iam::123456789012:instance-profile/dask/absent': no instance profile named 'absent'"]),
    # A user tag that would replace the cluster's own: refused by name, before anything is tagged.
    ({"cloud_ec2_tags": {"team": "data", "dask_cluster": "other"}},
     ["cloud_ec2_tags: the key 'dask_cluster' is reserved"]),
    # Pass the patterns, fail without AWS: refused before the first call.
    ({"cloud_ec2_public_key": "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x", "dask_admin_cidrs": ["203.0.113.7/8", "0.0.0.0/0"],
      "cloud_ec2_subnet_cidr": "10.87.1.0/24"},
     ["cloud_ec2_public_key is not an OpenSSH public key that EC2 imports",
      "dask_admin_cidrs: '203.0.113.7/8' has host bits set", "dask_admin_cidrs holds 0.0.0.0/0",
      "cloud_ec2_subnet_cidr 10.87.1.0/24 must lie inside cloud_ec2_vpc_cidr 10.86.0.0/16"]),
]


@pytest.mark.parametrize("knobs,messages", BAD_INPUTS, ids=[",".join(knobs) for knobs, _ in BAD_INPUTS])
def test_bad_inputs_are_refused_and_create_nothing(tmp_path, moto, small_subnet, knobs, messages):
    knobs = yaml.safe_load(yaml.safe_dump(knobs).replace("SMALL", small_subnet))
    messages = [message.replace("SMALL", small_subnet) for message in messages]
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(knobs))
    before = resources(moto)
    rc, output = playbook(moto, "playbooks/provision.yml", "-e", f"@{bad}")
    assert rc != 0, output[-3000:]
    for message in messages:
        assert message in output, output[-3000:]
    assert "Create the cluster VPC" not in output
    assert resources(moto) == before


def test_strings_from_the_command_line_provision_what_they_say(moto):
    """-e gives strings: 300, false, true and 2 are taken as the number and booleans they spell."""
    # dask_client_jupyter too: this cluster is test_jupyterlab_is_reachable_from_the_admins_only_...'s,
    # which would otherwise provision and tear down a cluster of its own for one rule.
    rc, output = playbook(moto, "playbooks/provision.yml", "-e", "cloud_ec2_root_volume_size=300",
                          "-e", "cloud_ec2_public_ip=false", "-e", "cloud_ec2_worker_spot=true",
                          "-e", "dask_worker_count=2", "-e", "dask_client_count=0", "-e", "dask_client_jupyter=true",
                          cluster="other")
    assert rc == 0, output[-3000:]
    # The preflight's AMI lookup serves the launches too: one boto3 process, not two.
    assert len(re.findall(r"^TASK \[cloud_ec2 : Look up the AMI\]", output, re.MULTILINE)) == 1, output[-3000:]
    roles = cluster_instances(moto, "other")
    assert {role: len(instances) for role, instances in roles.items()} == {"scheduler": 1, "worker": 2}
    instances = [instance for group in roles.values() for instance in group]
    assert all("PublicIpAddress" not in instance for instance in instances)
    volumes = client(moto).describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"] for instance in instances
                                                       for mapping in instance["BlockDeviceMappings"]])["Volumes"]
    assert sorted(volume["Size"] for volume in volumes) == [300] * 3
    templates = {template["LaunchTemplateName"]: template["LaunchTemplateId"]
                 for template in client(moto).describe_launch_templates()["LaunchTemplates"]}
    spot = templates["dask-other-worker-spot"]
    launched_from = {tag["Value"] for instance in roles["worker"] for tag in instance["Tags"]
                     if tag["Key"] == "aws:ec2launchtemplate:id"}
    assert launched_from == {spot}


def jupyter_rules(moto, cluster):
    """The security group's admissions of dask_client_jupyter_port (8888): [(port, CIDRs)]."""
    group = client(moto).describe_security_groups(GroupNames=[f"dask-{cluster}"])["SecurityGroups"][0]
    return [(rule["FromPort"], sorted(cidr["CidrIp"] for cidr in rule["IpRanges"]))
            for rule in group["IpPermissions"] if rule.get("FromPort") == 8888]


def test_jupyterlab_is_reachable_from_the_admins_only_and_only_while_on(moto):
    """dask_client_jupyter opens 8888 to dask_admin_cidrs in the cluster's group (the
    controller's checks pass before the scheduler exists); a cluster without it has no such rule
    (test_instances_the_idle_guard_stopped_are_started_again_not_replaced). The cluster is
    'other' as test_strings_from_the_command_line_provision_what_they_say provisioned it, with
    dask_client_jupyter=true; test_the_other_cluster_is_seen_and_torn_down_alone tears it down,
    rule and all."""
    assert cluster_instances(moto, "other"), "test_strings_from_the_command_line_provision_what_they_say provisions 'other' first"
    assert jupyter_rules(moto, "other") == [(8888, sorted(KNOBS["dask_admin_cidrs"]))]


@pytest.fixture(scope="module")
def default_cluster(moto):
    """The cluster of the default name next to 'other': its instances, group and key pair as
    the role tags and names them, made directly (what teardown must leave alone)."""
    ec2 = client(moto)
    ec2.import_key_pair(KeyName="dask-dask", PublicKeyMaterial=PUBLIC_KEY.encode(),
                        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "dask_cluster", "Value": "dask"}]}])
    group = ec2.create_security_group(GroupName="dask-dask", Description="Dask cluster dask",
                                      TagSpecifications=[{"ResourceType": "security-group",
                                                          "Tags": [{"Key": "dask_cluster", "Value": "dask"}]}])["GroupId"]
    ids = []
    for role in ("scheduler", "worker", "client"):
        reservation = ec2.run_instances(ImageId=MOTO_AMI, InstanceType="m7i.2xlarge", MinCount=1, MaxCount=1,
                                        SecurityGroupIds=[group], TagSpecifications=[{
                                            "ResourceType": "instance",
                                            "Tags": [{"Key": "dask_cluster", "Value": "dask"}, {"Key": "dask_role", "Value": role}]}])
        ids += [instance["InstanceId"] for instance in reservation["Instances"]]
    return {"instances": set(ids), "security group": group}


def listed_hosts(moto, **env):
    """The hosts of `ansible-inventory -i inventory/aws --list`."""
    result = ansible(moto, "ansible-inventory", "-i", "inventory/aws", "--list", **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout)["_meta"]["hostvars"])


def test_the_other_cluster_is_seen_and_torn_down_alone(moto, default_cluster):
    """Named only by DASK_CLUSTER_NAME=other: the inventory lists its instances and no others,
    teardown removes it all, and the default cluster next to it is untouched."""
    other = {instance["InstanceId"] for group in cluster_instances(moto, "other").values() for instance in group}
    assert other, "test_strings_from_the_command_line_provision_what_they_say provisions 'other' first"
    assert listed_hosts(moto, cluster="other") == other
    assert listed_hosts(moto) == default_cluster["instances"]

    rc, output = playbook(moto, "playbooks/teardown.yml", cluster="other")
    assert rc == 0, output[-3000:]
    assert cluster_instances(moto, "other") == {}
    left = resources(moto)
    assert not {name for name in left["key pairs"] | left["launch templates"] if name.startswith("dask-other")}
    vpcs = client(moto).describe_vpcs(Filters=[{"Name": "tag:dask_cluster", "Values": ["other"]}])["Vpcs"]
    assert vpcs == []
    assert default_cluster["instances"] <= left["instances"]
    assert default_cluster["security group"] in left["security groups"]
    assert "dask-dask" in left["key pairs"]


@pytest.mark.parametrize("cluster,region,args", [
    ("other", None, []),
    (None, "eu-west-1", []),
    # The teardown scope checks only the region and the credentials: an AMI and a key since
    # gone do not keep a cluster from being removed.
    ("other", None, ["-e", "cloud_ec2_preflight_scope=teardown", "-e", "cloud_ec2_ami_id=ami-0123456789abcdef0",
                     "-e", "cloud_ec2_public_key="]),
], ids=["name that matches nothing", "region that holds nothing", "teardown scope"])
def test_a_teardown_that_finds_nothing_says_so(moto, default_cluster, cluster, region, args):
    before = resources(moto)
    rc, output = playbook(moto, "playbooks/teardown.yml", *args, cluster=cluster, region=region)
    assert rc == 0, output[-3000:]
    assert (f"no EC2 resources tagged dask_cluster={cluster or 'dask'} in {region or REGION}: nothing to remove"
            in output)
    assert recap(output)["localhost"]["changed"] == 0
    assert resources(moto) == before


USER_TAGS = {"team": "data", "cost-center": "42"}


def tagged_resources(moto, region=REGION):
    """{(kind, id): {tag key: value}} of every resource in moto that costs or that the role
    names, with its tags, found without filtering on a tag (a resource that lacks one must show)."""
    ec2 = client(moto, region=region)

    def tags(items):
        return {tag["Key"]: tag["Value"] for tag in items or []}

    found = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] != "terminated":
                found["instance", instance["InstanceId"]] = tags(instance.get("Tags"))
    for volume in ec2.describe_volumes()["Volumes"]:
        found["volume", volume["VolumeId"]] = tags(volume.get("Tags"))
    for interface in ec2.describe_network_interfaces()["NetworkInterfaces"]:
        found["network interface", interface["NetworkInterfaceId"]] = tags(interface.get("TagSet"))
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        found["vpc", vpc["VpcId"]] = tags(vpc.get("Tags"))
    for subnet in ec2.describe_subnets()["Subnets"]:
        found["subnet", subnet["SubnetId"]] = tags(subnet.get("Tags"))
    for gateway in ec2.describe_internet_gateways()["InternetGateways"]:
        found["internet gateway", gateway["InternetGatewayId"]] = tags(gateway.get("Tags"))
    # A VPC's main route table and default security group come with it (AWS makes them, free
    # of charge, and removes them with the VPC): not the role's to tag.
    for table in ec2.describe_route_tables()["RouteTables"]:
        if not any(association.get("Main") for association in table.get("Associations", [])):
            found["route table", table["RouteTableId"]] = tags(table.get("Tags"))
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        if group["GroupName"] != "default":
            found["security group", group["GroupId"]] = tags(group.get("Tags"))
    for key in ec2.describe_key_pairs()["KeyPairs"]:
        found["key pair", key["KeyName"]] = tags(key.get("Tags"))
    # moto's DescribeLaunchTemplates shows the tags given at creation only, DescribeTags also
    # those added since (as AWS's both do).
    for template in ec2.describe_launch_templates()["LaunchTemplates"]:
        found["launch template", template["LaunchTemplateName"]] = tags(ec2.describe_tags(Filters=[
            {"Name": "resource-id", "Values": [template["LaunchTemplateId"]]}])["Tags"])
    for request in ec2.describe_spot_instance_requests()["SpotInstanceRequests"]:
        found["spot request", request["SpotInstanceRequestId"]] = tags(request.get("Tags"))
    return found


def untagged(resources, wanted):
    """'<kind> <id> lacks <key>=<value>' for every resource without a wanted tag."""
    return [f"{kind} {name} lacks {key}={value} (has {tags})"
            for (kind, name), tags in sorted(resources.items())
            for key, value in wanted.items() if tags.get(key) != value]


# The billed cluster's settings: one spot worker (its first run), then the user's tags too.
ONE_SPOT_WORKER = ["-e", "dask_worker_count=1", "-e", "cloud_ec2_worker_spot=true"]
BILLED = [*ONE_SPOT_WORKER, "-e", json.dumps({"cloud_ec2_tags": USER_TAGS})]
# What moto held before the billed cluster: filled by its first test.
BEFORE_BILLED = {}


def billed_resources(moto):
    """{(kind, id): tags} of what exists now and did not before the billed cluster."""
    return {resource: tags for resource, tags in tagged_resources(moto).items()
            if resource not in BEFORE_BILLED["resources"]}


def test_every_resource_carries_the_cluster_and_user_tags(moto):
    """cloud_ec2_tags reach everything the role makes: what it launches with them (the new
    worker, its volume and network interface) and what existed before they were set (the
    network, the group, the key pair, the template, the first instances and their volumes and
    interfaces). The cluster's own tags stay beside them. The cluster 'billed' stays for
    test_instances_the_idle_guard_stopped_are_started_again_not_replaced, which runs this
    provisioning again and tears it down."""
    BEFORE_BILLED["resources"] = set(tagged_resources(moto))
    rc, output = playbook(moto, "playbooks/provision.yml", *ONE_SPOT_WORKER, cluster="billed")
    assert rc == 0, output[-3000:]
    first = set(billed_resources(moto))

    rc, output = playbook(moto, "playbooks/provision.yml", *BILLED, "-e", "dask_worker_count=2", cluster="billed")
    assert rc == 0, output[-3000:]
    created = billed_resources(moto)
    kinds = {kind for kind, _ in created}
    # What the role makes, and the worker that the second run added with the tags given.
    assert {"instance", "volume", "network interface", "vpc", "subnet", "internet gateway", "route table",
            "security group", "key pair", "launch template"} <= kinds, kinds
    assert len([resource for resource in set(created) - first if resource[0] == "instance"]) == 1
    lacking = untagged(created, {"dask_cluster": "billed", **USER_TAGS})
    assert lacking == [], "\n".join(lacking)
    roles = {tags.get("dask_role") for (kind, _), tags in created.items() if kind in ("instance", "volume", "network interface")}
    assert roles == {"scheduler", "worker", "client"}


def shutdown_behaviors(moto, instances):
    ec2 = client(moto)
    return {instance["InstanceId"]: ec2.describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"] for instance in instances}


def test_instances_the_idle_guard_stopped_are_started_again_not_replaced(moto):
    """The idle guard powers the nodes off and EC2 stops them (cloud_ec2_shutdown_behavior stop);
    the next provisioning starts those same instances instead of launching others, and a
    changed behaviour reaches the instances that exist. The same run again changes nothing
    (tags compared as the strings AWS keeps, the route table found again, not made anew), and
    teardown finds it all. On the cluster of test_every_resource_carries_the_cluster_and_user_tags."""
    instances = [instance for group in cluster_instances(moto, "billed").values() for instance in group]
    ids = {instance["InstanceId"] for instance in instances}
    assert len(ids) == 4, "test_every_resource_carries_the_cluster_and_user_tags provisions 'billed' first"
    assert set(shutdown_behaviors(moto, instances).values()) == {"stop"}
    assert jupyter_rules(moto, "billed") == []  # dask_client_jupyter is off
    created = billed_resources(moto)

    client(moto).stop_instances(InstanceIds=sorted(ids))
    terminate = [*BILLED, "-e", "dask_worker_count=2", "-e", "cloud_ec2_shutdown_behavior=terminate"]
    rc, output = playbook(moto, "playbooks/provision.yml", *terminate, cluster="billed")
    assert rc == 0, output[-3000:]
    assert "cloud_ec2 : Start the cluster's stopped instances" in changed_tasks(output)["localhost"]
    after = [instance for group in cluster_instances(moto, "billed").values() for instance in group]
    assert {instance["InstanceId"]: instance["State"]["Name"] for instance in after} == dict.fromkeys(ids, "running")
    assert set(shutdown_behaviors(moto, after).values()) == {"terminate"}

    rc, output = playbook(moto, "playbooks/provision.yml", *terminate, cluster="billed")
    assert rc == 0, output[-3000:]
    assert changed_tasks(output) == {}
    assert set(billed_resources(moto)) == set(created)

    rc, output = playbook(moto, "playbooks/teardown.yml", cluster="billed")
    assert rc == 0, output[-3000:]
    left = tagged_resources(moto)
    assert [resource for resource in created if resource in left and resource[0] not in ("volume", "network interface")] == []


def instance_tags(instance):
    return {tag["Key"]: tag["Value"] for tag in instance["Tags"]}


def pool_groups(moto, cluster):
    """{group: sorted hosts} of the inventory's dask_pool_* groups."""
    result = ansible(moto, "ansible-inventory", "-i", "inventory/aws", "--list", cluster=cluster)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    return {group: sorted(entry.get("hosts", [])) for group, entry in listed.items() if group.startswith("dask_pool_")}


def test_a_pool_launches_its_own_instances_and_scales_apart_from_the_default_pool(moto, tmp_path):
    """A pool of spot workers of another instance type, a pool of Graviton (arm64) workers and
    a pool of GPU workers, beside one default worker: a pool's instances carry dask_pool and
    their own Name, spot ones come from the spot template, Graviton ones from the arm64 AMI
    (and the run locks the environment for aarch64 too), GPU ones are cloud_ec2_gpu_instance_type
    from the GPU AMI (and the run locks dask_env_gpu_packages for them), and the inventory
    groups them in dask_pool_<name>. Then the default pool grows and a pool shrinks in one run:
    one default worker is added, one of the pool's goes, the other workers stay."""
    pools = {"highmem": {"count": 2, "instance_type": "r5.large", "spot": True, "resources": {"MEMORY": 16e9}},
             "graviton": {"count": 1, "instance_type": "m7g.large"},
             "cuda": {"count": 1, "gpu": True, "spot": True}}
    arm64 = json.dumps({"dask_worker_pools": pools, "cloud_ec2_arm64_ami_id": MOTO_ARM64_AMI, **MOTO_GPU_AMI_LOOKUP})
    # The pip provider's lock (environment.yml: what site.yml does first), from a folder of
    # wheels: the arm64 instance type has the pins locked for aarch64 too, the GPU pool its
    # packages (a wheel of this folder stands in for dask-cuda).
    make_wheel(tmp_path / "index", "toplevel", "1.0")
    make_wheel(tmp_path / "index", "gpukit", "1.0")
    pip = json.dumps({"dask_env_provider": "pip", "dask_env_lock_dir": str(tmp_path / "lock"), "dask_env_packages": ["toplevel==1.0"],
                      "dask_env_pip_no_index": True, "dask_env_pip_find_links": [str(tmp_path / "index")],
                      "dask_env_gpu_packages": ["gpukit==1.0"]})
    rc, output = playbook(moto, "playbooks/environment.yml", "-e", arm64, "-e", pip, cluster="pools")
    assert rc == 0, output[-3000:]
    assert (tmp_path / "lock" / "aarch64" / "requirements.lock").read_text().startswith("# Locked for Python 3.11 on aarch64")
    assert (tmp_path / "lock" / "requirements.lock").read_text().startswith("# Locked for Python 3.11 on x86_64")
    assert "\ngpukit==1.0 --hash=sha256:" in (tmp_path / "lock" / "gpu" / "requirements.lock").read_text()
    rc, output = playbook(moto, "playbooks/provision.yml", "-e", "dask_worker_count=1", "-e", "dask_client_count=0",
                          "-e", arm64, "-e", pip, cluster="pools")
    assert rc == 0, output[-3000:]
    assert "cloud_ec2 : Lock the environment for the arm64 instances too" in run_tasks(output)["localhost"]
    workers = cluster_instances(moto, "pools")["worker"]
    by_pool = {}
    for instance in workers:
        by_pool.setdefault(instance_tags(instance).get("dask_pool", ""), []).append(instance)
    assert sorted(by_pool) == ["", "cuda", "graviton", "highmem"] and len(by_pool["highmem"]) == 2 and len(by_pool[""]) == 1
    graviton = by_pool["graviton"][0]
    assert (graviton["InstanceType"], graviton["ImageId"], graviton["Architecture"]) == ("m7g.large", MOTO_ARM64_AMI, "arm64")
    assert {instance["ImageId"] for instance in by_pool["highmem"] + by_pool[""]} == {MOTO_AMI}
    gpu = by_pool["cuda"][0]
    assert (gpu["InstanceType"], gpu["ImageId"], instance_tags(gpu)["Name"]) == ("g6.xlarge", MOTO_GPU_AMI, "dask-pools-worker-cuda")
    assert "aws:ec2launchtemplate:id" in instance_tags(gpu)
    assert instance_tags(graviton)["Name"] == "dask-pools-worker-graviton"
    assert {instance["InstanceType"] for instance in by_pool["highmem"]} == {"r5.large"}
    assert {instance_tags(instance)["Name"] for instance in by_pool["highmem"]} == {"dask-pools-worker-highmem"}
    assert by_pool[""][0]["InstanceType"] == "m7i.2xlarge" and instance_tags(by_pool[""][0])["Name"] == "dask-pools-worker"
    assert "aws:ec2launchtemplate:id" not in instance_tags(by_pool[""][0])
    assert all("aws:ec2launchtemplate:id" in instance_tags(instance) for instance in by_pool["highmem"])
    highmem = sorted(instance["InstanceId"] for instance in by_pool["highmem"])
    assert pool_groups(moto, "pools") == {"dask_pool_highmem": highmem, "dask_pool_graviton": [graviton["InstanceId"]],
                                          "dask_pool_cuda": [gpu["InstanceId"]]}

    pools["highmem"]["count"] = 1
    rc, output = playbook(moto, "playbooks/provision.yml", "-e", "dask_worker_count=2", "-e", "dask_client_count=0",
                          "-e", json.dumps({"dask_worker_pools": pools, "cloud_ec2_arm64_ami_id": MOTO_ARM64_AMI, **MOTO_GPU_AMI_LOOKUP}),
                          "-e", pip, cluster="pools")
    assert rc == 0, output[-3000:]
    after = cluster_instances(moto, "pools")["worker"]
    ids = {instance["InstanceId"] for instance in after}
    # The two of the pool launched together: either may go.
    kept = sorted(set(highmem) & ids)
    assert len(kept) == 1 and {by_pool[""][0]["InstanceId"], graviton["InstanceId"], gpu["InstanceId"]} <= ids and len(ids) == 5, (highmem, ids)
    assert pool_groups(moto, "pools") == {"dask_pool_highmem": kept, "dask_pool_graviton": [graviton["InstanceId"]],
                                          "dask_pool_cuda": [gpu["InstanceId"]]}
    rc, output = playbook(moto, "playbooks/teardown.yml", cluster="pools")
    assert rc == 0, output[-3000:]
