"""Checks of the EC2 settings that a pattern cannot make: an OpenSSH public key whose body
really is a key of the type its prefix names, and IPv4 CIDRs (host bits, containment, size).
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


class FilterModule:
    def filters(self):
        return {
            "cloud_ec2_public_key_problem": public_key_problem,
            "cloud_ec2_cidr_problem": cidr_problem,
            "cloud_ec2_cidr_addresses": cidr_addresses,
            "cloud_ec2_cidr_prefix": cidr_prefix,
            "cloud_ec2_cidr_within": cidr_within,
        }
