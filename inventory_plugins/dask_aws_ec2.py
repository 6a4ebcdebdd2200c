"""The amazon.aws.aws_ec2 inventory plugin, with two differences.

1. It searches one cluster, named where the playbooks read the name: the instances tagged
   dask_cluster=<name> in one region, where <name> is the environment variable
   DASK_CLUSTER_NAME, else dask_cluster_name in the group_vars/all next to the inventory file
   (templated, so an env lookup there works), else dask; and the region is DASK_EC2_REGION,
   else cloud_ec2_region there, else us-east-1. The inventory file therefore names neither
   (it refuses `regions` and a `tag:dask_cluster` filter): renaming the cluster or moving it
   to another region needs no edit of the inventory. A plugin cannot see `-e` values, so
   roles/cloud_ec2's preflight compares what this plugin searched (the group variable
   _cloud_ec2_inventory_searches, set before any AWS call) with the run's dask_cluster_name
   and cloud_ec2_region and names the setting to change when they differ.
2. When AWS finds no credentials, the run stops with a message that says what to set and
   where the local cloud is, instead of botocore's "Unable to locate credentials" among the
   warnings of every other inventory plugin.

Every other option, the hosts and the groups are exactly aws_ec2's."""

import os

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

# The group variable through which the preflight learns what each source searched.
SEARCHES_VARIABLE = "_cloud_ec2_inventory_searches"

# (environment variable, variable in group_vars/all, default of its role)
CLUSTER_SETTING = ("DASK_CLUSTER_NAME", "dask_cluster_name", "dask")
REGION_SETTING = ("DASK_EC2_REGION", "cloud_ec2_region", "us-east-1")


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

    def _read_config_data(self, path):
        # aws_ec2 reads its options here and calls AWS only afterwards: the search is set,
        # and recorded for the preflight, before anything can fail on credentials.
        config = super()._read_config_data(path)
        for option, written in (("regions", self.get_option("regions")),
                                ("filters['tag:dask_cluster']", (self.get_option("filters") or {}).get("tag:dask_cluster"))):
            if written:
                raise AnsibleParserError(
                    f"{path} sets {option}: remove it. The inventory searches the cluster named by "
                    "DASK_CLUSTER_NAME or dask_cluster_name, in DASK_EC2_REGION or cloud_ec2_region "
                    "(group_vars/all next to that file), the settings the playbooks read."
                )
        group_vars = self._group_vars_all(path)
        cluster, cluster_from = self._setting(group_vars, *CLUSTER_SETTING)
        region, region_from = self._setting(group_vars, *REGION_SETTING)
        self.set_option("regions", [region])
        self.set_option("filters", {**(self.get_option("filters") or {}), "tag:dask_cluster": cluster})
        searches = dict(self.inventory.groups["all"].get_vars().get(SEARCHES_VARIABLE) or {})
        searches[path] = {"cluster": cluster, "cluster_from": cluster_from, "region": region, "region_from": region_from}
        self.inventory.set_variable("all", SEARCHES_VARIABLE, searches)
        return config

    def _group_vars_all(self, path):
        """{variable: (value, file)} of the group_vars/all next to the inventory file, read as
        Ansible reads it (all.yml, or every file of the directory all/, later files winning)."""
        found = {}
        directory = os.path.join(os.path.dirname(path), "group_vars")
        if not os.path.isdir(directory):
            return found
        for file_name in self.loader.find_vars_files(directory, "all"):
            data = self.loader.load_from_file(file_name, cache="none", trusted_as_template=True) or {}
            if isinstance(data, dict):
                found.update({name: (value, file_name) for name, value in data.items()})
        return found

    def _setting(self, group_vars, environment_variable, variable, default):
        """(value, where it came from) of one setting: environment, group_vars/all, default."""
        value = os.environ.get(environment_variable, "")
        if value:
            return value, environment_variable
        if variable not in group_vars:
            return default, f"the default of {variable}"
        raw, file_name = group_vars[variable]
        try:
            value = self.templar.template(raw)
        except AnsibleError as error:
            raise AnsibleParserError(
                f"{variable} in {file_name} is a template that the EC2 inventory cannot resolve (it sees "
                f"no variables, only lookups): write the value there, or set {environment_variable}. ({error})"
            ) from None
        if not isinstance(value, str) or not value:
            raise AnsibleParserError(f"{variable} in {file_name} must be a non-empty string; got {value!r}.")
        return value, f"{variable} in {file_name}"
