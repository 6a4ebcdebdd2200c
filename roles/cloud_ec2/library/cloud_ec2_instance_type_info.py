#!/usr/bin/python
"""Which of some instance types EC2 offers in a region, the CPU architectures and the GPUs of each.

amazon.aws has no module for instance types (nor has community.aws): without this, a type
that does not exist in the region is found only by RunInstances, after the network, the
security group and the key pair exist. Read-only: DescribeInstanceTypeOfferings and
DescribeInstanceTypes. Connection settings (region, profile, AWS_URL, ...) as for every
amazon.aws module."""

DOCUMENTATION = r"""
---
module: cloud_ec2_instance_type_info
short_description: Which instance types EC2 offers in a region, their architectures and GPUs
description:
  - Looks up the given instance types in the instance type offerings of the region and reads
    the CPU architectures and the GPUs of those offered. Changes nothing.
options:
  instance_types:
    description: Instance types to look up, such as m7i.2xlarge.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - dask-ansible team
"""

EXAMPLES = r"""
- name: Look up the instance types of the cluster
  cloud_ec2_instance_type_info:
    instance_types: [m7i.2xlarge, t3.micro]
    region: us-east-1
  register: types
"""

RETURN = r"""
offered:
  description: The given instance types that the region offers.
  returned: success
  type: list
  elements: str
missing:
  description: The given instance types that the region does not offer (or that do not exist).
  returned: success
  type: list
  elements: str
architectures:
  description: For each offered type, the CPU architectures it runs (x86_64, arm64, ...).
  returned: success
  type: dict
gpus:
  description: For each offered type, its number of GPUs (0 for none).
  returned: success
  type: dict
"""

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec={"instance_types": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    wanted = sorted(set(module.params["instance_types"]))
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        offerings = client.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": wanted}]
        ).build_full_result()["InstanceTypeOfferings"]
        offered = sorted({offering["InstanceType"] for offering in offerings} & set(wanted))
        architectures, gpus = {}, {}
        if offered:
            # Only offered types: DescribeInstanceTypes fails on a name that does not exist.
            described = client.get_paginator("describe_instance_types").paginate(
                InstanceTypes=offered
            ).build_full_result()["InstanceTypes"]
            architectures = {
                item["InstanceType"]: item.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
                for item in described
            }
            gpus = {
                item["InstanceType"]: sum(gpu.get("Count", 0) for gpu in item.get("GpuInfo", {}).get("Gpus", []))
                for item in described
            }
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg="Failed to describe the instance types of the region")
    module.exit_json(
        changed=False,
        offered=offered,
        missing=[name for name in wanted if name not in offered],
        architectures=architectures,
        gpus=gpus,
    )


if __name__ == "__main__":
    main()
