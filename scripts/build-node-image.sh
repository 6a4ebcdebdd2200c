#!/usr/bin/env bash
# Build the systemd-capable Debian 12 node image used by the local cloud and molecule,
# from Debian's packages (debootstrap + docker import): no container registry needed.
# The tag carries a hash of this script, so a changed recipe builds a new image and an
# unchanged one is reused. Prints the image name on stdout.
#
# DASK_NODE_IMAGE=<image> skips the build and uses that image instead (for example an
# Ubuntu 24.04 systemd image pulled from a registry, where one can be pulled).
set -euo pipefail

if [ -n "${DASK_NODE_IMAGE:-}" ]; then
  if ! docker image inspect "$DASK_NODE_IMAGE" >/dev/null 2>&1; then
    docker pull "$DASK_NODE_IMAGE" >&2
  fi
  echo "$DASK_NODE_IMAGE"
  exit 0
fi

suite=${DASK_NODE_SUITE:-bookworm}
mirror=${DASK_NODE_MIRROR:-http://deb.debian.org/debian}
# What an Ubuntu cloud image already has that Ansible needs; the roles install the rest.
packages=systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,ca-certificates
recipe_hash=$( (cat "$0"; echo "$suite $mirror $packages") | sha256sum | cut -c1-12)
image="dask-ansible-node:${suite}-${recipe_hash}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-node-image: installing debootstrap" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  else
    echo "build-node-image: debootstrap is missing: install it (apt-get install debootstrap) or set DASK_NODE_IMAGE" >&2
    exit 1
  fi
fi

rootfs=$(mktemp -d /tmp/dask-node-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "build-node-image: debootstrap $suite into $rootfs (about a minute)" >&2
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
  tail -n 30 "$rootfs.log" >&2
  echo "build-node-image: debootstrap failed (full log: $rootfs.log)" >&2
  exit 1
fi
rm -f "$rootfs.log"

# Units a container has no use for: consoles, device managers, kernel-level mounts.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount \
  systemd-modules-load.service systemd-firstboot.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# A machine id per container is made at boot; an empty file tells systemd to do so.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
# Keep the package lists: the roles refresh them once they are older than an hour.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -c 'ENV container=docker' \
  - "$image" >&2
echo "$image"
