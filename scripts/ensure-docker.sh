#!/usr/bin/env bash
# Make sure a Docker engine answers. When none does and we are root on a Debian/Ubuntu machine,
# install Debian's docker.io and start dockerd in the background; otherwise say what to install.
set -euo pipefail

log=${DOCKERD_LOG:-/var/log/dockerd-dask-ansible.log}

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-docker: no Docker engine answers and this is not root." >&2
  echo "  Install and start Docker (for example: sudo apt-get install docker.io && sudo systemctl start docker)," >&2
  echo "  or add your user to the 'docker' group, then run this again." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: no Docker engine and no apt-get to install one: install Docker, then run this again." >&2
    exit 1
  fi
  echo "ensure-docker: installing Debian's docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl start docker
else
  # Appended: what dockerd said before a restart can explain a failure seen before it.
  echo "ensure-docker: starting dockerd in the background (log: $log)"
  setsid dockerd >>"$log" 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; see $log" >&2
exit 1
