"""Scheduler preload: stop accepting connections before closing the clients' ones.

When the scheduler shuts down (systemctl stop or restart), distributed aborts every
client's connection and only later closes its listening socket. A client reconnects at
once, so its TCP handshake can land on the still-open listener and be reset right after.
Tornado then refuses to start TLS on the closed stream with a ValueError, which the
client's reconnect loop does not retry: the client stays "connecting" for good, even
after the scheduler is back. Closing the listener first turns that into a refused
connection, which the client retries until the scheduler is back.
"""

from distributed.diagnostics.plugin import SchedulerPlugin


class StopListeningFirst(SchedulerPlugin):
    name = "stop-listening-first"

    def __init__(self, scheduler):
        self.scheduler = scheduler

    async def before_close(self):
        for listener in self.scheduler.listeners:
            listener.stop()


def dask_setup(scheduler):
    scheduler.add_plugin(StopListeningFirst(scheduler))
