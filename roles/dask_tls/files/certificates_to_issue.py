"""Which of the cluster's certificates the issue tasks (tasks/issue.yml) must make or renew.

Reads a JSON request on stdin and prints {"to_issue": {name: reason}, "current": [name, ...]}.
Runs once per play on the controller, so a run that changes nothing starts one Python
process here instead of five community.crypto modules per node (docs/benchmarks.md).

It only decides what to skip: a certificate it reports goes through the same
community.crypto tasks as before, which make the actual decision and do the work. So it
must never call "current" what those tasks would change; anything it cannot read or does
not recognise is reported. What it compares mirrors tasks/issue.yml:

- the key: <name>-key.pem, mode 0600, an unencrypted EC key on the requested curve;
- the certificate: <name>.pem, mode 0644, for that key, signed by the CA in ca.pem,
  subject CN=<common_name> only, exactly the requested subject alternative names,
  CA:FALSE, key usage digitalSignature only, exactly the requested extended key usages,
  no other extension but the key identifiers, none critical, valid now and still valid
  renew_before_days from now;
- the directory holding them: mode 0700.

Request: {"ca_dir": str, "curve": str, "renew_before_days": int, "rotate": bool,
          "certificates": [{"name": "nodes/<host>", "common_name": str,
                            "sans": ["DNS:name" | "IP:address", ...],
                            "usages": ["serverAuth" | "clientAuth", ...]}, ...]}
"""

import datetime
import ipaddress
import json
import os
import stat
import sys

from cryptography import __version__ as cryptography_version
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

USAGES = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}
# The extensions tasks/issue.yml asks for (none of them critical), and the key identifiers
# that community.crypto's ownca provider adds.
EXTENSIONS = {ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE,
              ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_KEY_IDENTIFIER,
              ExtensionOID.AUTHORITY_KEY_IDENTIFIER}
KEY_USAGES = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
              "key_cert_sign", "crl_sign")


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def general_name(san):
    kind, _, value = san.partition(":")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    raise ValueError(f"unknown subject alternative name {san!r}")


def extension(cert, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def problem(request, wanted, ca):
    """Why the certificate `wanted` must be (re)issued, or None when it is current."""
    base = os.path.join(request["ca_dir"], wanted["name"])
    key_path, cert_path = base + "-key.pem", base + ".pem"
    if request["rotate"]:
        return "rotation requested"
    if int(cryptography_version.split(".")[0]) < 42:
        return f"the controller's cryptography {cryptography_version} is older than 42, which this check needs"
    if ca is None:
        return "the CA certificate cannot be read"
    for path in (os.path.dirname(base), key_path, cert_path):
        if not os.path.exists(path):
            return f"{path} is missing"
    if mode_of(os.path.dirname(base)) != 0o700:
        return "its directory's mode is not 0700"
    if mode_of(key_path) != 0o600 or mode_of(cert_path) != 0o644:
        return "the key's mode is not 0600 or the certificate's not 0644"
    try:
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        with open(cert_path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (ValueError, TypeError) as error:
        return f"the key or the certificate cannot be read: {error}"
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != request["curve"]:
        return f"the key is not an EC key on {request['curve']}"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != key.public_key().public_bytes(
            serialization.Encoding.DER, spki):
        return "the certificate is not for this key"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as error:
        return f"the certificate is not signed by the cluster CA ({type(error).__name__})"
    now = datetime.datetime.now(datetime.timezone.utc)
    renew_at = now + datetime.timedelta(days=request["renew_before_days"])
    if not cert.not_valid_before_utc <= now or cert.not_valid_after_utc < renew_at:
        return f"it is valid from {cert.not_valid_before_utc} to {cert.not_valid_after_utc}, renewal is due"
    if cert.subject != x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted["common_name"])]):
        return f"its subject is {cert.subject.rfc4514_string()}"
    if any(ext.critical or ext.oid not in EXTENSIONS for ext in cert.extensions):
        return "it has a critical extension or one that tasks/issue.yml does not ask for"
    try:
        sans = {general_name(san) for san in wanted["sans"]}
    except ValueError as error:
        return f"a requested name is not valid ({error})"
    if set(extension(cert, x509.SubjectAlternativeName) or []) != sans:
        return "its subject alternative names differ"
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is None or constraints.ca:
        return "its basic constraints are not CA:FALSE"
    usage = extension(cert, x509.KeyUsage)
    if usage is None or not usage.digital_signature or any(getattr(usage, name) for name in KEY_USAGES):
        return "its key usage is not digitalSignature only"
    extended = extension(cert, x509.ExtendedKeyUsage)
    if extended is None or set(extended) != {USAGES[name] for name in wanted["usages"]}:
        return "its extended key usages differ"
    return None


def main():
    request = json.load(sys.stdin)
    try:
        with open(os.path.join(request["ca_dir"], "ca.pem"), "rb") as handle:
            ca = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        ca = None
    to_issue, current = {}, []
    for wanted in request["certificates"]:
        reason = problem(request, wanted, ca)
        if reason is None:
            current.append(wanted["name"])
        else:
            to_issue[wanted["name"]] = reason
    json.dump({"to_issue": to_issue, "current": current}, sys.stdout)


if __name__ == "__main__":
    main()
