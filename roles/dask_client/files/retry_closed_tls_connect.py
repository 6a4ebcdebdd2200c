"""Client preload: retry a TLS connection that closes before its handshake starts.

Why: with distributed 2026.8.0 and tornado 6.6.1, when the scheduler's port accepts a
connection and closes it before the client starts TLS on it (a scheduler killed with the
connection in its backlog, or a proxy in front of a stopped scheduler, such as Docker's on a
published port), tornado's IOStream.start_tls raises
ValueError("IOStream is not idle; cannot convert to SSL") instead of StreamClosedError.
distributed retries only OSError (CommClosedError), so the ValueError ends the client's
reconnect loop and the client stays "connecting" for good, even once the scheduler is back.
See docs/upstream/client-start-tls-valueerror.md.

What: that one ValueError, raised while connecting to a tls:// address, becomes the
CommClosedError a closed connection gives anywhere else. The client keeps retrying: it
reconnects, or after its timeout closes with "Failed to reconnect to scheduler". Any other
error is raised as before. (tornado says "not idle" also when the peer sent data before the
handshake: that is no TLS server, and retrying it ends in the same timeout error.)

Drop it when the upstream fix is released: tests/test_client_reconnect.py
(test_without_the_preload_...) then fails and says so.

Loaded through the Dask config, distributed.client.preload, by every Client() (the file is
imported again for each client: the patch is applied once).
"""

import functools
import logging

from distributed.comm.core import CommClosedError
from distributed.comm.tcp import TLSConnector

logger = logging.getLogger("distributed.comm.retry_closed_tls_connect")
_NOT_IDLE = "IOStream is not idle"


def _retry_closed_tls_connect(connect):
    @functools.wraps(connect)
    async def wrapper(self, address, *args, **kwargs):
        try:
            return await connect(self, address, *args, **kwargs)
        except ValueError as error:
            if _NOT_IDLE not in str(error):
                raise
            logger.info("%s%s closed the connection before its TLS handshake: retrying", self.prefix, address)
            raise CommClosedError(
                f"in {self.prefix}{address}: closed before the TLS handshake ({error})"
            ) from error

    wrapper.retries_closed_tls_connect = True
    return wrapper


if not getattr(TLSConnector.connect, "retries_closed_tls_connect", False):
    TLSConnector.connect = _retry_closed_tls_connect(TLSConnector.connect)
