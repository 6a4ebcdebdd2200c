"""List the TCP ports that accept a connection on each host, 1 to 65535.

Usage: python3 port_scan.py HOST [HOST ...]     (standard library only)
Prints one JSON object: host -> sorted open ports. Non-blocking connects in batches, polled
with epoll: a port is open when its connect completes without error within the timeout.
"""

import errno
import json
import select
import socket
import sys
import time

BATCH = 4000
TIMEOUT = 2.0


def open_ports(address, ports):
    found = []
    for start in range(0, len(ports), BATCH):
        pending = {}
        poller = select.epoll()
        for port in ports[start:start + BATCH]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex((address, port))
            if code in (0, errno.EINPROGRESS):
                pending[sock.fileno()] = (port, sock)
                poller.register(sock.fileno(), select.EPOLLOUT | select.EPOLLERR)
            else:
                sock.close()
        deadline = time.monotonic() + TIMEOUT
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(0.0, deadline - time.monotonic())):
                port, sock = pending.pop(fd)
                poller.unregister(fd)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    found.append(port)
                sock.close()
        for _, sock in pending.values():
            sock.close()
        poller.close()
    return sorted(found)


if __name__ == "__main__":
    all_ports = list(range(1, 65536))
    print(json.dumps({host: open_ports(socket.gethostbyname(host), all_ports) for host in sys.argv[1:]},
                     sort_keys=True))
