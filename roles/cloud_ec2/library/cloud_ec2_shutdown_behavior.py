#!/usr/bin/python
"""Set what EC2 does when instances power themselves off: stop them or terminate them.

amazon.aws.ec2_instance sets InstanceInitiatedShutdownBehavior only when it launches an
instance: instances that exist keep what they had when cloud_ec2_shutdown_behavior changes.
This sets it on every instance that matches, except spot instances (a one-time spot instance
cannot be stopped: it terminates). Changes nothing when each has it already. Connection
settings (region, profile, AWS_URL, ...) as for every amazon.aws module."""

DOCUMENTATION = r"""
---
module: cloud_ec2_shutdown_behavior
short_description: Set the instance-initiated shutdown behaviour of existing EC2 instances
description:
  - Finds the instances that match O(filters) and sets their InstanceInitiatedShutdownBehavior to
    O(behavior) where it differs. Spot instances are left alone.
options:
  filters:
    description: Filters of DescribeInstances, as for amazon.aws.ec2_instance_info.
    type: dict
    required: true
  behavior:
    description: What a power-off from inside the instance does.
    type: str
    choices: [stop, terminate]
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - dask-ansible team
"""

EXAMPLES = r"""
- name: Stop, not terminate, the cluster's instances that power themselves off
  cloud_ec2_shutdown_behavior:
    filters:
      "tag:dask_cluster": dask
      instance-state-name: [pending, running, stopping, stopped]
    behavior: stop
    region: us-east-1
"""

RETURN = r"""
changed_instances:
  description: The instances whose behaviour was set (or would be, in check mode).
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


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "filters": {"type": "dict", "required": True},
            "behavior": {"type": "str", "choices": ["stop", "terminate"], "required": True},
        },
        supports_check_mode=True,
    )
    behavior = module.params["behavior"]
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    changed = []
    try:
        reservations = client.get_paginator("describe_instances").paginate(
            Filters=ansible_dict_to_boto3_filter_list(module.params["filters"])
        ).build_full_result()["Reservations"]
        for instance in (instance for reservation in reservations for instance in reservation["Instances"]):
            if instance.get("InstanceLifecycle") == "spot":
                continue
            instance_id = instance["InstanceId"]
            current = client.describe_instance_attribute(
                InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
            )["InstanceInitiatedShutdownBehavior"].get("Value")
            if current == behavior:
                continue
            changed.append(instance_id)
            if not module.check_mode:
                # The Attribute/Value form: moto ignores the InstanceInitiatedShutdownBehavior one.
                client.modify_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior",
                                                 Value=behavior)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg="Failed to set the shutdown behaviour of the instances")
    module.exit_json(changed=bool(changed), changed_instances=sorted(changed))


if __name__ == "__main__":
    main()
