#!/usr/bin/env bash
# Builds the local images the tests run, since no registry can be reached, from Debian's static
# busybox: `microci-test/busybox:latest` (every job) and `microci-test/hang:sh` (the same, but
# its /bin/sh only sleeps: a clean-up helper that never finishes). Skips images that exist.
set -euo pipefail
image=${MICROCI_TEST_IMAGE:-microci-test/busybox:latest}
hang=microci-test/hang:sh
if docker image inspect "$image" >/dev/null 2>&1 && docker image inspect "$hang" >/dev/null 2>&1; then
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
if ! docker image inspect "$image" >/dev/null 2>&1; then
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$image" >/dev/null
  echo "built $image"
fi
if ! docker image inspect "$hang" >/dev/null 2>&1; then
  # `sh -c …` runs this file as a script, whatever the command: busybox's shell would run its
  # own applets (rm) without looking at /bin, so the shell itself is what must hang.
  rm "$root"/bin/sh
  printf '#!/bin/busybox ash\nexec /bin/busybox sleep 600\n' >"$root"/bin/sh
  chmod 755 "$root"/bin/sh
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$hang" >/dev/null
  echo "built $hang"
fi
