#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: a static busybox for the job image,
# sshd / nginx + fcgiwrap / git for the git servers, tmux for the terminal UI tests, chromium
# (headless) for the web pages' tests.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
have /bin/busybox || need+=(busybox-static)
have /usr/sbin/sshd || need+=(openssh-server)
have ssh || need+=(openssh-client)
have /usr/sbin/nginx || need+=(nginx-light)
have /usr/sbin/fcgiwrap || need+=(fcgiwrap)
have git || need+=(git)
have tmux || need+=(tmux)
have /usr/bin/chromium || need+=(chromium)
have docker || { echo "scripts/test-deps.sh: the Docker Engine (docker.io) must be installed and running" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test-deps.sh: missing packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
