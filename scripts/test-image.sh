#!/usr/bin/env bash
# Builds the local job image the tests run (`microci-test/busybox:latest`) from Debian's static
# busybox, since no registry can be reached. Skips the build when the image already exists.
set -euo pipefail
image=${MICROCI_TEST_IMAGE:-microci-test/busybox:latest}
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
busybox=/bin/busybox
if ! "$busybox" --list >/dev/null 2>&1; then
  echo "scripts/test-image.sh: $busybox is missing: apt-get install busybox-static" >&2
  exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/bin "$root"/tmp "$root"/etc "$root"/repo
cp "$busybox" "$root"/bin/busybox
for applet in $("$root"/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root"/etc/passwd
echo 'root:x:0:' >"$root"/etc/group
chmod 1777 "$root"/tmp
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$image" >/dev/null
echo "built $image"
