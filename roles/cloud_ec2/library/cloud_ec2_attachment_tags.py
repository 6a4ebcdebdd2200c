#!/usr/bin/python
"""Give the EBS volumes and network interfaces of some instances the tags of their instance.

amazon.aws.ec2_instance tags an instance's volumes only when it launches the instance (and
its network interfaces never): instances that exist keep volumes without the tags added
since, and cost reports split by tag miss what those volumes cost. amazon.aws.ec2_tag would
do it one resource per task; CreateTags takes many resources in one call. Only adds and
updates tags (never removes one), skips AWS's own aws:* tags, and changes nothing when every
attachment carries its instance's tags already. Connection settings (region, profile,
AWS_URL, ...) as for every amazon.aws module."""

DOCUMENTATION = r"""
---
module: cloud_ec2_attachment_tags
short_description: Copy instances' tags to their EBS volumes and network interfaces
description:
  - Finds the instances that match O(filters) and gives each of their attached EBS volumes and
    network interfaces the tags of the instance (except aws:* tags, which are AWS's own).
  - Adds and updates tags, never removes any.
options:
  filters:
    description: Filters of DescribeInstances, as for amazon.aws.ec2_instance_info.
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - dask-ansible team
"""

EXAMPLES = r"""
- name: Tag the cluster's volumes and network interfaces like their instances
  cloud_ec2_attachment_tags:
    filters:
      "tag:dask_cluster": dask
      instance-state-name: [pending, running, stopping, stopped]
    region: us-east-1
"""

RETURN = r"""
tagged:
  description: The volumes and network interfaces whose tags were added or updated (or would be, in check mode).
  returned: success
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.transformation import ansible_dict_to_boto3_filter_list

# CreateTags takes at most 1000 resources per call.
_BATCH = 1000


def _tags(items):
    return {tag["Key"]: tag["Value"] for tag in items or []}


def _wanted(instance):
    return {key: value for key, value in _tags(instance.get("Tags")).items() if not key.lower().startswith("aws:")}


def _attachments(instance):
    volumes = [mapping["Ebs"]["VolumeId"] for mapping in instance.get("BlockDeviceMappings", []) if "Ebs" in mapping]
    interfaces = [interface["NetworkInterfaceId"] for interface in instance.get("NetworkInterfaces", [])]
    return volumes, interfaces


def main():
    module = AnsibleAWSModule(
        argument_spec={"filters": {"type": "dict", "required": True}},
        supports_check_mode=True,
    )
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        reservations = client.get_paginator("describe_instances").paginate(
            Filters=ansible_dict_to_boto3_filter_list(module.params["filters"])
        ).build_full_result()["Reservations"]
        instances = [instance for reservation in reservations for instance in reservation["Instances"]]
        volume_ids, interface_ids = [], []
        for instance in instances:
            volumes, interfaces = _attachments(instance)
            volume_ids += volumes
            interface_ids += interfaces
        current = {}
        if volume_ids:
            for volume in client.get_paginator("describe_volumes").paginate(VolumeIds=volume_ids).build_full_result()["Volumes"]:
                current[volume["VolumeId"]] = _tags(volume.get("Tags"))
        if interface_ids:
            for interface in client.get_paginator("describe_network_interfaces").paginate(
                NetworkInterfaceIds=interface_ids
            ).build_full_result()["NetworkInterfaces"]:
                current[interface["NetworkInterfaceId"]] = _tags(interface.get("TagSet"))
        # Resources that lack some of the same tags, grouped so that each group is one call.
        missing = {}
        for instance in instances:
            wanted = _wanted(instance)
            for resource in sum(_attachments(instance), []):
                have = current.get(resource, {})
                lacking = tuple(sorted((key, value) for key, value in wanted.items() if have.get(key) != value))
                if lacking:
                    missing.setdefault(lacking, []).append(resource)
        if not module.check_mode:
            for lacking, resources in missing.items():
                tags = [{"Key": key, "Value": value} for key, value in lacking]
                for start in range(0, len(resources), _BATCH):
                    client.create_tags(Resources=resources[start:start + _BATCH], Tags=tags)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg="Failed to tag the volumes and network interfaces of the instances")
    tagged = sorted(resource for resources in missing.values() for resource in resources)
    module.exit_json(changed=bool(tagged), tagged=tagged)


if __name__ == "__main__":
    main()
