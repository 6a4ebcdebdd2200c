"""Try to use a Dask cluster the ways an intruder would, and once the right way.

Usage: python attack_client.py SCHEDULER_HOST:PORT CA_FILE CERT KEY WORKDIR

Run with the cluster's Python and with DASK_ROOT_CONFIG and DASK_CONFIG pointing at an empty
directory, so that no configuration of the node helps. Every attempt is made on the
scheduler and on each worker (found through a client with the cluster's certificate). Prints
one JSON object: address -> attempt -> true when the server answered a request, false when
it refused the connection.
"""

import json
import subprocess
import sys
from pathlib import Path

import asyncio
import ssl

from distributed import Client
from distributed.comm import connect
from distributed.security import Security


def tls_context(ca_file, cert=None, key=None):
    """What a Dask client builds, but also without a certificate (Security refuses that)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.check_hostname = False
    if cert:
        context.load_cert_chain(cert, key)
    return context


def round_trip(address, ssl_context=None):
    """True when the scheduler answers an identity request over this connection."""

    async def ask():
        kwargs = {"ssl_context": ssl_context} if ssl_context else {}
        comm = await connect(address, timeout="10s", **kwargs)
        try:
            await comm.write({"op": "identity"})
            return "type" in await comm.read()
        finally:
            comm.abort()

    try:
        return asyncio.run(ask())
    except Exception:  # noqa: BLE001 - any failure to talk to the scheduler counts as refused
        return False


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def identity_from_another_ca(workdir):
    """A CA of the intruder's own and a client certificate it signed."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=intruder CA",
            "-keyout", f"{workdir}/other-ca-key.pem", "-out", f"{workdir}/other-ca.pem")
    openssl("req", "-new", *ec, "-subj", "/CN=intruder",
            "-keyout", f"{workdir}/other-key.pem", "-out", f"{workdir}/other.csr")
    openssl("x509", "-req", "-days", "1", "-in", f"{workdir}/other.csr", "-CA", f"{workdir}/other-ca.pem",
            "-CAkey", f"{workdir}/other-ca-key.pem", "-CAcreateserial", "-out", f"{workdir}/other.pem")
    return f"{workdir}/other.pem", f"{workdir}/other-key.pem"


def main(scheduler, ca_file, cert, key, workdir):
    Path(workdir).mkdir(parents=True, exist_ok=True)
    other_cert, other_key = identity_from_another_ca(workdir)
    cluster = tls_context(ca_file, cert, key)
    security = Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    with Client(f"tls://{scheduler}", security=security, timeout="30s") as client:
        workers = sorted(client.scheduler_info()["workers"])
    results = {}
    for address in [f"tls://{scheduler}", *workers]:
        host_port = address.removeprefix("tls://")
        results[address] = {
            "cluster_certificate": round_trip(address, cluster),
            "plain_tcp": round_trip(f"tcp://{host_port}"),
            "tls_without_certificate": round_trip(address, tls_context(ca_file)),
            "certificate_from_another_ca": round_trip(address, tls_context(ca_file, other_cert, other_key)),
        }
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:6])
