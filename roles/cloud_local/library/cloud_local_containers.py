#!/usr/bin/python
"""Which of the cluster's containers are already as tasks/container.yml would make them.

tasks/provision.yml asks once, then runs community.docker.docker_container only for the
nodes that are missing, stopped or different: that module takes about half a second per
container even when nothing changes, which a run that changes nothing paid for every node.
It reads; it changes nothing."""

DOCUMENTATION = r"""
---
module: cloud_local_containers
short_description: Compare the local cloud's containers with the nodes a run wants
description:
  - Lists the containers labelled C(dask.cluster=<cluster>) and the cluster's network, and
    names each wanted node whose container is missing, not running, or differs in what
    tasks/container.yml sets and can change (labels, published ports, restart policy,
    network). Changes nothing.
options:
  cluster:
    description: The value of the containers' C(dask.cluster) label.
    type: str
    required: true
  network:
    description: The cluster's network.
    type: str
    required: true
  nodes:
    description:
      - The wanted containers, each with C(name), C(labels) (a dict), C(published_ports)
        (C(address:host port:container port) strings) and C(restart_policy).
    type: list
    elements: dict
    required: true
requirements:
  - docker (the Python SDK of the controller's environment)
"""

RETURN = r"""
containers:
  description: Names of every container of the cluster, running or not.
  type: list
  elements: str
  returned: always
network_found:
  description: Whether the network exists with the cluster's label.
  type: bool
  returned: always
start:
  description: The wanted nodes to run docker_container for, with why (C(name), C(why)).
  type: list
  elements: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

try:
    import docker
    from docker.errors import DockerException, NotFound
except ImportError:  # reported by the module, below
    docker = None


def port_bindings(published_ports):
    """The published ports as Docker's HostConfig.PortBindings has them."""
    bindings = {}
    for published in published_ports:
        address, host_port, container_port = published.rsplit(":", 2)
        bindings.setdefault(f"{container_port}/tcp", []).append({"HostIp": address, "HostPort": host_port})
    return bindings


def differences(node, attrs, network):
    """What of node's spec the container with these inspect attributes does not have."""
    host = attrs.get("HostConfig") or {}
    why = []
    if not (attrs.get("State") or {}).get("Running"):
        why.append("not running")
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    if any(labels.get(key) != str(value) for key, value in node["labels"].items()):
        why.append("labels")
    if (host.get("PortBindings") or {}) != port_bindings(node.get("published_ports") or []):
        why.append("published ports")
    if (host.get("RestartPolicy") or {}).get("Name", "no") != node.get("restart_policy", "no"):
        why.append("restart policy")
    if network not in ((attrs.get("NetworkSettings") or {}).get("Networks") or {}):
        why.append("network")
    return why


def main():
    module = AnsibleModule(
        argument_spec={
            "cluster": {"type": "str", "required": True},
            "network": {"type": "str", "required": True},
            "nodes": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    if docker is None:
        module.fail_json(msg="cloud_local_containers needs the docker Python package on the controller")
    params = module.params
    try:
        client = docker.from_env()
        found = {container.name: container.attrs for container in
                 client.containers.list(all=True, ignore_removed=True, filters={"label": f"dask.cluster={params['cluster']}"})}
        try:
            network_labels = client.networks.get(params["network"]).attrs.get("Labels") or {}
            network_found = network_labels.get("dask.cluster") == params["cluster"]
        except NotFound:
            network_found = False
    except DockerException as error:
        module.fail_json(msg=f"the Docker engine did not answer: {error}")
    start = []
    for node in params["nodes"]:
        why = ["missing"] if node["name"] not in found else differences(node, found[node["name"]], params["network"])
        if why:
            start.append({"name": node["name"], "why": why})
    module.exit_json(changed=False, containers=sorted(found), network_found=network_found, start=start)


if __name__ == "__main__":
    main()
