"""Checks of the EC2 settings that a pattern cannot make: an OpenSSH public key whose body
really is a key of the type its prefix names, IPv4 CIDRs (host bits, containment, size), and
the user's tags (cloud_ec2_tags) against the role's own tags and AWS's limits; and the size
of an AMI's root snapshot, which the root volume of an instance launched from it may not undercut.
ansible.utils' ipaddr filters would do the CIDR part, but they need netaddr, which the
controller does not have; Python's ipaddress does it with nothing to install.

Every filter returns a value for any input, never raises: the preflight evaluates all its
checks in one loop, and one exception would hide every other message."""

import base64
import binascii
import ipaddress
import re
import struct

# What EC2's ImportKeyPair takes: RSA and ED25519 (no ECDSA, no DSA).
_EC2_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")
_RSA_MIN_BITS = 2048


def _ssh_strings(blob):
    """The length-prefixed strings (RFC 4251) that make up an SSH public key blob."""
    strings = []
    while blob:
        if len(blob) < 4:
            raise ValueError("truncated")
        (length,) = struct.unpack(">I", blob[:4])
        if length > len(blob) - 4:
            raise ValueError("truncated")
        strings.append(blob[4:4 + length])
        blob = blob[4 + length:]
    return strings


def public_key_problem(value):
    """Why value is not an OpenSSH public key that EC2 imports, or '' when it is one.
    The messages never repeat the value: it might be a private key pasted by mistake."""
    if not isinstance(value, str) or not value.strip():
        return "it is empty"
    if "PRIVATE KEY" in value:
        return "it is a private key: give the public one (the .pub file)"
    lines = value.strip().splitlines()
    if len(lines) != 1:
        return f"it has {len(lines)} lines: give the one line of the .pub file"
    fields = lines[0].split()
    if len(fields) < 2:
        return "it has no key body after the key type"
    prefix, body = fields[0], fields[1]
    if prefix not in _EC2_KEY_TYPES:
        return f"its type is '{prefix[:40]}', and EC2 imports only {' and '.join(_EC2_KEY_TYPES)} keys"
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return "its body is not base64 (a character lost or added in copying?)"
    try:
        strings = _ssh_strings(blob)
    except ValueError:
        return "its body is not an SSH public key (cut short in copying?)"
    if not strings or strings[0] != prefix.encode():
        return f"its body holds another type of key than its prefix '{prefix}' says"
    if prefix == "ssh-ed25519" and (len(strings) != 2 or len(strings[1]) != 32):
        return "its body is not a whole ed25519 key (truncated in copying?)"
    if prefix == "ssh-rsa":
        if len(strings) != 3:
            return "its body is not a whole RSA key (truncated in copying?)"
        bits = int.from_bytes(strings[2], "big").bit_length()
        if bits < _RSA_MIN_BITS:
            return f"it is an RSA key of {bits} bits; use one of {_RSA_MIN_BITS} bits or more, or ed25519"
    return ""


def _network(value):
    """The IPv4 network that value writes (host bits allowed), or None."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9.]+/[0-9]{1,2}", value):
        return None
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return None


def cidr_problem(value):
    """Why value is not an IPv4 CIDR with only network bits set, or '' when it is one."""
    network = _network(value)
    if network is None:
        return f"'{value}' is not an IPv4 CIDR such as 203.0.113.7/32"
    if str(network) != value:
        address = value.split("/")[0]
        return (f"'{value}' has host bits set, so it means the {network.num_addresses} addresses of {network}: "
                f"write {address}/32 for that one address, or {network} if the whole network is meant")
    return ""


def cidr_addresses(value):
    """How many addresses the CIDR value spans; 0 when it is none."""
    network = _network(value)
    return 0 if network is None else network.num_addresses


def cidr_prefix(value):
    """The prefix length of the CIDR value; -1 when it is none."""
    network = _network(value)
    return -1 if network is None else network.prefixlen


def cidr_within(inner, outer):
    """Whether the CIDR inner lies inside the CIDR outer."""
    inner_network, outer_network = _network(inner), _network(outer)
    return bool(inner_network and outer_network and inner_network.subnet_of(outer_network))


# AWS's limits on tags (EC2 counts Unicode characters); tags with the prefix aws: are AWS's own
# (in any case) and count towards none of them.
_TAG_KEY_MAX = 128
_TAG_VALUE_MAX = 256
_TAGS_PER_RESOURCE = 50
_AWS_TAG_PREFIX = "aws:"


def _kind(value):
    """The YAML name of value's type, for a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def tag_problems(value, reserved, own_count):
    """What is wrong with value as cloud_ec2_tags, as messages that follow 'cloud_ec2_tags: '
    (none when nothing is): not a mapping; a key that is reserved (one of reserved, or aws:...
    in any case), empty, longer than AWS allows, or no string or number; a value that is no
    string or number (booleans and nulls too: YAML reads yes and an empty value as those), or
    too long; more tags than fit beside the role's own_count tags of its own on a resource."""
    if not isinstance(value, dict):
        return [f"it must be a mapping of tag keys to values, such as {{team: data, cost-center: '42'}} "
                f"(on the command line: -e '{{\"cloud_ec2_tags\": {{\"team\": \"data\"}}}}'); got {_kind(value)}"]
    reserved = [str(key) for key in reserved or []]
    own = " and ".join(filter(None, [", ".join(reserved[:-1]), "".join(reserved[-1:])]))
    problems = []
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, (str, int, float)):
            problems.append(f"the key {key!r} is {_kind(key)}: tag keys are strings")
            continue
        key = str(key)
        named = key if len(key) <= 40 else key[:40] + "..."
        if key in reserved or key.lower().startswith(_AWS_TAG_PREFIX):
            problems.append(f"the key '{named}' is reserved (the role sets {own} itself, AWS the {_AWS_TAG_PREFIX}* tags): "
                            "choose another key")
        elif not key.strip():
            problems.append("a key is empty")
        elif len(key) > _TAG_KEY_MAX:
            problems.append(f"the key '{named}' has {len(key)} characters, AWS allows {_TAG_KEY_MAX}")
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            problems.append(f"the value of '{named}' is {_kind(item)}: give a string or a number "
                            "(quote yes, no, true and false: YAML reads them as booleans)")
        elif len(str(item)) > _TAG_VALUE_MAX:
            problems.append(f"the value of '{named}' has {len(str(item))} characters, AWS allows {_TAG_VALUE_MAX}")
    own_count = own_count if isinstance(own_count, int) and not isinstance(own_count, bool) else 0
    room = _TAGS_PER_RESOURCE - own_count
    if len(value) > room:
        problems.append(f"it has {len(value)} tags, but the role puts up to {own_count} of its own on a resource "
                        f"and AWS allows {_TAGS_PER_RESOURCE} per resource: give at most {room}")
    return problems


def tag_strings(value):
    """cloud_ec2_tags with keys and values as the strings AWS stores ({} when it is no mapping,
    which the preflight refuses): the modules then compare like with like on a re-run."""
    if not isinstance(value, dict):
        return {}
    return {str(key): str(item) for key, item in value.items()}


def root_snapshot_size(image):
    """GiB of the root snapshot of image (an ec2_ami_info entry), 0 when it shows none."""
    if not isinstance(image, dict):
        return 0
    for mapping in image.get("block_device_mappings") or []:
        if isinstance(mapping, dict) and mapping.get("device_name") == image.get("root_device_name"):
            size = (mapping.get("ebs") or {}).get("volume_size")
            if isinstance(size, int):
                return size
    return 0


class FilterModule:
    def filters(self):
        return {
            "cloud_ec2_public_key_problem": public_key_problem,
            "cloud_ec2_cidr_problem": cidr_problem,
            "cloud_ec2_cidr_addresses": cidr_addresses,
            "cloud_ec2_cidr_prefix": cidr_prefix,
            "cloud_ec2_cidr_within": cidr_within,
            "cloud_ec2_tag_problems": tag_problems,
            "cloud_ec2_tag_strings": tag_strings,
            "cloud_ec2_root_snapshot_size": root_snapshot_size,
        }
