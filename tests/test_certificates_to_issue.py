"""roles/dask_tls/files/certificates_to_issue.py, the one check that lets a run skip the
issue tasks for certificates that are current.

The first tests run the role's real controller tasks (tests/playbooks/issue-certificates.yml)
so the check is held to what community.crypto makes; the rest change one thing at a time in
certificates made that way and expect the check to report it.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import ROOT, ansible_playbook
from playbook_output import changed_tasks

SCRIPT = ROOT / "roles" / "dask_tls" / "files" / "certificates_to_issue.py"
HOSTS = ("node-a", "10.9.8.7")
ISSUE_TASK = "Sign with the cluster CA the certificate for this node"


def inventory(ca_dir):
    hosts = {name: {"ansible_connection": "local"} for name in HOSTS}
    return {"all": {"hosts": hosts, "vars": {"dask_tls_ca_dir": str(ca_dir), "dask_cluster_name": "certs"}}}


def issue(workdir, ca_dir, *extra_args):
    rc, output = ansible_playbook("tests/playbooks/issue-certificates.yml", inventory(ca_dir), workdir, extra_args)
    assert rc == 0, output[-4000:]
    return output


def request(ca_dir, **changes):
    wanted = [{"name": "nodes/node-a", "common_name": "node-a",
               "sans": ["DNS:node-a", "DNS:localhost", "IP:127.0.0.1"], "usages": ["serverAuth", "clientAuth"]},
              {"name": "nodes/10.9.8.7", "common_name": "10.9.8.7",
               "sans": ["IP:10.9.8.7", "DNS:localhost", "IP:127.0.0.1"], "usages": ["serverAuth", "clientAuth"]},
              {"name": "operator/client", "common_name": "operator", "sans": [], "usages": ["clientAuth"]}]
    return {"ca_dir": str(ca_dir), "curve": "secp384r1", "renew_before_days": 30, "rotate": False,
            "certificates": wanted, **changes}


def check(body):
    result = subprocess.run([sys.executable, str(SCRIPT)], input=json.dumps(body), capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def changed(output, task):
    """Hosts for which `task` reported changed."""
    return sorted(host for host, tasks in changed_tasks(output).items() if f"dask_tls : {task}" in tasks)


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """A CA and certificates for HOSTS and the operator, made by the role's tasks."""
    workdir = tmp_path_factory.mktemp("issue")
    ca_dir = workdir / "tls"
    first = issue(workdir, ca_dir)
    second = issue(workdir, ca_dir)
    return {"workdir": workdir, "ca_dir": ca_dir, "first": first, "second": second}


@pytest.fixture
def ca_dir(issued, tmp_path):
    """A copy of the issued certificates for a test to spoil."""
    copy = tmp_path / "tls"
    shutil.copytree(issued["ca_dir"], copy)
    return copy


def test_the_first_run_issues_everything_and_the_second_skips_the_issue_tasks(issued):
    assert "skipping" not in issued["first"].split(f"TASK [dask_tls : {ISSUE_TASK}]")[1].split("TASK [")[0]
    assert "changed=0" in issued["second"] and "changed=1" not in issued["second"], issued["second"][-3000:]
    signing = issued["second"].split(f"TASK [dask_tls : {ISSUE_TASK}]")[1].split("TASK [")[0]
    assert signing.count("skipping:") == len(HOSTS) and "ok:" not in signing, signing


def test_the_role_made_certificates_are_current_to_the_check(issued):
    assert check(request(issued["ca_dir"])) == {
        "to_issue": {}, "current": ["nodes/node-a", "nodes/10.9.8.7", "operator/client"]}


def test_a_new_name_is_reported_and_the_role_then_reissues_only_that_certificate(issued, ca_dir):
    report = check(request(ca_dir, certificates=[
        {**request(ca_dir)["certificates"][0], "sans": ["DNS:node-a", "DNS:localhost", "IP:127.0.0.1",
                                                        "DNS:dask.example.com"]}]))
    assert report["to_issue"] == {"nodes/node-a": "its subject alternative names differ"}
    output = issue(issued["workdir"], ca_dir, "-e", '{"dask_tls_extra_sans": ["DNS:dask.example.com"]}')
    assert changed(output, ISSUE_TASK) == sorted(HOSTS), output[-3000:]
    assert "its subject alternative names differ" in output  # the role says why


def test_renewal_is_due_within_renew_before_days_and_the_role_renews(issued, ca_dir):
    # The role's certificates last dask_tls_cert_valid_days (365).
    report = check(request(ca_dir, renew_before_days=366))
    assert set(report["to_issue"]) == {"nodes/node-a", "nodes/10.9.8.7", "operator/client"}
    assert all("renewal is due" in reason for reason in report["to_issue"].values())
    output = issue(issued["workdir"], ca_dir, "-e", '{"dask_tls_cert_valid_days": 400, "dask_tls_renew_before_days": 366}',
                   "-l", "node-a")
    assert changed(output, ISSUE_TASK) == ["node-a"], output[-3000:]


def test_rotation_reports_everything(issued):
    report = check(request(issued["ca_dir"], rotate=True))
    assert set(report["to_issue"].values()) == {"rotation requested"} and len(report["to_issue"]) == 3


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def key_of(path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def sign(ca_dir, cert, key, extensions=None, not_after=None, issuer_key=None, subject=None):
    """Re-sign `cert` (its subject and public key) with the cluster CA, with other extensions,
    dates or subject."""
    ca = load(ca_dir / "ca.pem")
    builder = (x509.CertificateBuilder().subject_name(subject or cert.subject).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(not_after or cert.not_valid_after_utc))
    for extension in (cert.extensions if extensions is None else extensions):
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(issuer_key or key_of(ca_dir / "ca-key.pem"), hashes.SHA256())


def write(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def reason(ca_dir, name="nodes/node-a"):
    return check(request(ca_dir))["to_issue"].get(name)


def test_a_name_that_is_not_an_address_is_reported_not_a_crash(ca_dir):
    wanted = {**request(ca_dir)["certificates"][0], "sans": ["IP:999.1.1.1"]}
    report = check(request(ca_dir, certificates=[wanted]))
    assert report["to_issue"]["nodes/node-a"].startswith("a requested name is not valid")


def test_missing_files_are_reported(ca_dir):
    (ca_dir / "nodes" / "node-a-key.pem").unlink()
    assert reason(ca_dir) == f"{ca_dir}/nodes/node-a-key.pem is missing"
    shutil.rmtree(ca_dir / "operator")
    assert reason(ca_dir, "operator/client") == f"{ca_dir}/operator is missing"


def test_modes_the_tasks_would_correct_are_reported(ca_dir):
    os.chmod(ca_dir / "nodes" / "node-a-key.pem", 0o644)
    assert "mode" in reason(ca_dir)
    os.chmod(ca_dir / "nodes" / "node-a-key.pem", 0o600)
    os.chmod(ca_dir / "nodes", 0o755)
    assert "mode" in reason(ca_dir)


def test_a_key_on_another_curve_or_a_certificate_for_another_key_is_reported(ca_dir):
    assert "not an EC key on secp256r1" in check(request(ca_dir, curve="secp256r1"))["to_issue"]["nodes/node-a"]
    other = ca_dir / "nodes" / "10.9.8.7.pem"
    shutil.copy(other, ca_dir / "nodes" / "node-a.pem")
    assert reason(ca_dir) == "the certificate is not for this key"


def test_a_certificate_from_another_ca_is_reported(ca_dir):
    path = ca_dir / "nodes" / "node-a.pem"
    stranger = ec.generate_private_key(ec.SECP384R1())
    write(path, sign(ca_dir, load(path), key_of(ca_dir / "nodes" / "node-a-key.pem"), issuer_key=stranger))
    assert reason(ca_dir) == "the certificate is not signed by the cluster CA (InvalidSignature)"
    (ca_dir / "ca.pem").write_text("not a certificate")
    assert reason(ca_dir, "nodes/10.9.8.7") == "the CA certificate cannot be read"


def test_other_extensions_subject_or_dates_are_reported(ca_dir):
    path = ca_dir / "nodes" / "node-a.pem"
    cert, key = load(path), key_of(ca_dir / "nodes" / "node-a-key.pem")
    # Re-signed unchanged by the same CA: still current (the baseline for what follows).
    write(path, sign(ca_dir, cert, key))
    assert reason(ca_dir) is None

    def without(kind):
        return [extension for extension in cert.extensions if not isinstance(extension.value, kind)]

    cases = [
        (without(x509.ExtendedKeyUsage) + [x509.Extension(x509.ExtendedKeyUsage.oid, False, x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CLIENT_AUTH]))], "its extended key usages differ"),
        (without(x509.BasicConstraints) + [x509.Extension(x509.BasicConstraints.oid, False, x509.BasicConstraints(
            ca=True, path_length=None))], "its basic constraints are not CA:FALSE"),
        (without(x509.KeyUsage) + [x509.Extension(x509.KeyUsage.oid, False, x509.KeyUsage(
            True, False, True, False, False, False, False, False, False))], "its key usage is not digitalSignature only"),
        (without(x509.KeyUsage) + [x509.Extension(x509.KeyUsage.oid, True, cert.extensions.get_extension_for_class(
            x509.KeyUsage).value)], "it has a critical extension or one that tasks/issue.yml does not ask for"),
        (list(cert.extensions) + [x509.Extension(x509.OCSPNoCheck.oid, False, x509.OCSPNoCheck())],
         "it has a critical extension or one that tasks/issue.yml does not ask for"),
    ]
    for extensions, expected in cases:
        write(path, sign(ca_dir, cert, key, extensions=extensions))
        assert reason(ca_dir) == expected
    write(path, sign(ca_dir, cert, key, not_after=datetime.datetime.now(datetime.timezone.utc)
                     + datetime.timedelta(days=29)))
    assert "renewal is due" in reason(ca_dir)
    write(path, sign(ca_dir, cert, key, subject=x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "node-a"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")])))
    assert reason(ca_dir) == "its subject is O=x,CN=node-a"
