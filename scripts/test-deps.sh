#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: a static busybox for the job image,
# sshd / nginx + fcgiwrap / git for the git servers, tmux for the terminal UI tests, chromium
# (headless) for the web pages' tests, openssl for the mail relay's test certificate and the extra
# Engines' TLS certificates, iproute2 + util-linux (nsenter) + curl for the extra Engines, podman
# (with uidmap and slirp4netns for rootless) for the Podman engine's tests.
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
have openssl || need+=(openssl)
# Extra Docker Engines in network namespaces (testkit::engines): ip, nsenter, curl.
have ip || need+=(iproute2)
have nsenter || need+=(util-linux)
have curl || need+=(curl)
have podman || need+=(podman)
have newuidmap || need+=(uidmap)
have slirp4netns || need+=(slirp4netns)
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
# Rootless Podman's user, with subordinate ids (useradd gives them), and /dev/net/tun open to
# users as on a stock Debian (some sandboxes make it 0600; slirp4netns needs it).
if [ "$(id -u)" = 0 ]; then
  id mcipodman >/dev/null 2>&1 || useradd --system --create-home --shell /usr/sbin/nologin mcipodman
  grep -q '^mcipodman:' /etc/subuid || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 mcipodman
  [ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
fi
# Python for the notification and metrics tests: a real SMTP server (aiosmtpd) and Prometheus'
# own text-format parser (prometheus_client), from PyPI into a venv of their own (Debian's Python
# refuses pip installs outside one). The tests find it at this path (MICROCI_TEST_VENV).
venv=${MICROCI_TEST_VENV:-/var/cache/microci-test/venv}
if ! "$venv/bin/python" -c 'import aiosmtpd, prometheus_client' >/dev/null 2>&1; then
  echo "installing aiosmtpd and prometheus_client into $venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q 'aiosmtpd>=1.4' 'prometheus_client>=0.17'
fi
