"""Baked AMIs on EC2 against moto server on 127.0.0.1 (playbooks/image.yml, roles/cloud_ec2
tasks image-builder, image-capture, image and teardown): a bake makes one AMI tagged with the
cluster, the user's cloud_ec2_tags and the digest of its inputs, and terminates its builder; a
second bake of the same inputs makes nothing; site.yml launches new instances from that AMI
(from the base AMI with dask_image_use=false) and never replaces the ones that exist; teardown
keeps the AMI unless dask_image_prune is on, which deregisters it and deletes its snapshot.

moto's instances are records, not machines: nothing can log in to the builder or the nodes.
So image.yml runs with --skip-tags dask_image_install (the play that installs on the builder,
and the wait for its SSH), and site.yml with --limit localhost (validation, the lock, the digest
and provisioning run; the plays on the nodes match no host). The install steps on the builder
are the local cloud's, and are tested there (tests/integration/test_local_cloud.py). One
cluster, 'baked', goes through the steps in order: seven playbook runs."""

import json
import re

import pytest

from playbook_output import changed_tasks, recap
from test_ec2_moto import MOTO_AMI, ansible, client, cluster_instances, moto, playbook  # noqa: F401 - moto is a fixture

CLUSTER = "baked"
USER_TAGS = {"team": "data", "cost-center": "42"}
TAGS = ["-e", json.dumps({"cloud_ec2_tags": USER_TAGS})]
BAKE = ["--skip-tags", "dask_image_install", *TAGS]
# site.yml as an operator runs it, on the controller only. --limit localhost needs localhost in
# the inventory once the EC2 inventory holds hosts (the implicit one counts only while it is
# empty); its plays there run with connection: local, as they do without it.
SITE = ["-i", "localhost,", "--limit", "localhost", "-e", "dask_client_count=0", *TAGS]


def tags(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags") or []}


def own_amis(moto):
    """{image id: image} of the AMIs this account owns."""
    return {image["ImageId"]: image for image in client(moto).describe_images(Owners=["self"])["Images"]}


def all_instances(moto):
    """{instance id: instance} of every instance moto holds, terminated ones too."""
    return {instance["InstanceId"]: instance
            for reservation in client(moto).describe_instances()["Reservations"] for instance in reservation["Instances"]}


def snapshot_ids(moto):
    return {snapshot["SnapshotId"] for snapshot in client(moto).describe_snapshots()["Snapshots"]}


@pytest.fixture(scope="module")
def baked(moto):
    """The first bake of the cluster: what moto held before, the run's output, and the AMI."""
    amis_before, instances_before = own_amis(moto), all_instances(moto)
    rc, output = playbook(moto, "playbooks/image.yml", *BAKE, cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    new = {image_id: image for image_id, image in own_amis(moto).items() if image_id not in amis_before}
    builders = {instance_id: instance for instance_id, instance in all_instances(moto).items()
                if instance_id not in instances_before}
    return {"output": output, "amis": new, "builders": builders}


def test_a_bake_makes_one_tagged_ami_and_terminates_its_builder(moto, baked):
    assert len(baked["amis"]) == 1, baked["amis"]
    (image,) = baked["amis"].values()
    image_tags = tags(image)
    assert re.fullmatch(r"[0-9a-f]{64}", image_tags.get("dask_image_digest", "")), image_tags
    assert image_tags == {"dask_cluster": CLUSTER, **USER_TAGS, "dask_image_digest": image_tags["dask_image_digest"]}
    assert image["State"] == "available"
    assert image["Name"].startswith(f"dask-{CLUSTER}-{image_tags['dask_image_digest'][:16]}-")
    # The snapshot is billed: it carries the same tags, for cost reports.
    (snapshot_id,) = [mapping["Ebs"]["SnapshotId"] for mapping in image["BlockDeviceMappings"] if "Ebs" in mapping]
    (snapshot,) = client(moto).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    assert tags(snapshot) == image_tags

    # One builder, launched from the base AMI, tagged as the cluster's builder (never a node),
    # the AMI made from it, then terminated.
    assert len(baked["builders"]) == 1, baked["builders"]
    (builder,) = baked["builders"].values()
    assert builder["ImageId"] == MOTO_AMI
    assert builder["State"]["Name"] == "terminated"
    assert {key: value for key, value in tags(builder).items() if key != "Name"} == {
        "dask_cluster": CLUSTER, "dask_role": "image-builder", **USER_TAGS}
    assert cluster_instances(moto, CLUSTER) == {}


def left_builder(moto):
    """A running builder of the cluster, as an interrupted bake leaves it: its id."""
    reservation = client(moto).run_instances(
        ImageId=MOTO_AMI, InstanceType="m7i.2xlarge", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "dask_cluster", "Value": CLUSTER},
                                                                 {"Key": "dask_role", "Value": "image-builder"}]}])
    return reservation["Instances"][0]["InstanceId"]


def test_a_second_bake_of_the_same_inputs_makes_nothing(moto, baked):
    """Nothing but the termination of a builder that an interrupted bake left: the inventory
    read it into dask_image_builder, and neither the install nor the capture may take it for
    this run's builder."""
    left = left_builder(moto)
    amis, instances = own_amis(moto), all_instances(moto)
    rc, output = playbook(moto, "playbooks/image.yml", *BAKE, cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    (image_id,) = baked["amis"]
    assert f"The baked AMI {image_id} (" in output
    assert own_amis(moto).keys() == amis.keys()
    assert all_instances(moto).keys() == instances.keys()
    assert all_instances(moto)[left]["State"]["Name"] == "terminated"
    assert changed_tasks(output) == {"localhost": ["cloud_ec2 : Terminate the builder that an earlier bake left"]}


def test_new_instances_launch_from_the_baked_ami_and_existing_ones_stay(moto, baked):
    (image_id,) = baked["amis"]
    rc, output = playbook(moto, "site.yml", *SITE, "-e", "dask_worker_count=1", "-e", "dask_image_use=false",
                          cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    first = {instance["InstanceId"]: instance["ImageId"]
             for group in cluster_instances(moto, CLUSTER).values() for instance in group}
    assert len(first) == 2
    assert set(first.values()) == {MOTO_AMI}

    # A builder that a bake is running beside the cluster is in the inventory, in no node group
    # (the validation and the counts must not take it for a node).
    builder = left_builder(moto)
    groups = json.loads(ansible(moto, "ansible-inventory", "-i", "inventory/aws", "--list", cluster=CLUSTER).stdout)
    assert sorted(group for group, members in groups.items() if builder in members.get("hosts", [])) == [
        "aws_ec2", "dask_image_builder"]

    # The same inputs with dask_image_use on (its default): the worker that the higher count
    # adds starts from the baked AMI, on its root device; the two that exist are kept as they are.
    rc, output = playbook(moto, "site.yml", *SITE, "-e", "dask_worker_count=2", cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    roles = cluster_instances(moto, CLUSTER)
    now = {instance["InstanceId"]: instance["ImageId"] for group in roles.values() for instance in group}
    assert {instance_id: now.get(instance_id) for instance_id in first} == first
    added = [instance for instance in roles["worker"] if instance["InstanceId"] not in first]
    assert [instance["ImageId"] for instance in added] == [image_id]
    assert [instance["InstanceId"] for instance in roles["image-builder"]] == [builder]
    (root,) = [mapping for mapping in added[0]["BlockDeviceMappings"] if mapping["DeviceName"] == added[0]["RootDeviceName"]]
    assert root["DeviceName"] == baked["amis"][image_id]["RootDeviceName"]


def test_teardown_keeps_the_ami_unless_pruning_which_removes_it_and_its_snapshot(moto, baked):
    (image_id,) = baked["amis"]
    (snapshot_id,) = [mapping["Ebs"]["SnapshotId"] for mapping in baked["amis"][image_id]["BlockDeviceMappings"]
                      if "Ebs" in mapping]
    # The builder of test_new_instances_... goes with the nodes.
    rc, output = playbook(moto, "playbooks/teardown.yml", cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    assert cluster_instances(moto, CLUSTER) == {}
    assert "Kept the AMIs this cluster baked" in output
    assert image_id in own_amis(moto)
    assert snapshot_id in snapshot_ids(moto)

    rc, output = playbook(moto, "playbooks/teardown.yml", "-e", "dask_image_prune=true", cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    assert [image for image in own_amis(moto).values() if tags(image).get("dask_cluster") == CLUSTER] == []
    assert snapshot_id not in snapshot_ids(moto)

    rc, output = playbook(moto, "playbooks/teardown.yml", "-e", "dask_image_prune=true", cluster=CLUSTER)
    assert rc == 0, output[-3000:]
    assert recap(output)["localhost"]["changed"] == 0, changed_tasks(output)
