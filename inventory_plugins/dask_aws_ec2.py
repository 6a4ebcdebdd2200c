"""The amazon.aws.aws_ec2 inventory plugin, with one difference: when AWS finds no
credentials, the run stops with a message that says what to set and where the local
cloud is, instead of botocore's "Unable to locate credentials" among the warnings of
every other inventory plugin. Options, hosts and groups are exactly aws_ec2's."""

from ansible.errors import AnsibleError, AnsibleParserError
from ansible_collections.amazon.aws.plugins.inventory.aws_ec2 import DOCUMENTATION as _AWS_EC2_DOCUMENTATION
from ansible_collections.amazon.aws.plugins.inventory.aws_ec2 import InventoryModule as AwsEc2InventoryModule

try:
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError
except ImportError:  # aws_ec2 itself reports a missing botocore
    NoCredentialsError = PartialCredentialsError = ()

# The options are aws_ec2's (ansible-doc -t inventory amazon.aws.aws_ec2); Ansible reads them
# from this attribute when it loads the plugin.
DOCUMENTATION = _AWS_EC2_DOCUMENTATION

MISSING_CREDENTIALS = (
    "No AWS credentials for the EC2 inventory ({path}). Export AWS_PROFILE (or AWS_ACCESS_KEY_ID "
    "and AWS_SECRET_ACCESS_KEY) and run again. No AWS account? The local Docker cloud needs none: "
    "scripts/cluster up, or ansible-playbook -i inventory/local site.yml. (AWS said: {reason})"
)


def _credentials_error(error):
    """The botocore credentials error behind error, if there is one."""
    while error is not None:
        if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
            return error
        error = error.__cause__ or error.__context__
    return None


class InventoryModule(AwsEc2InventoryModule):
    NAME = "dask_aws_ec2"

    def parse(self, inventory, loader, path, cache=True):
        try:
            super().parse(inventory, loader, path, cache=cache)
        except AnsibleError as error:
            missing = _credentials_error(error)
            if missing is None:
                raise
            raise AnsibleParserError(MISSING_CREDENTIALS.format(path=path, reason=missing)) from None
