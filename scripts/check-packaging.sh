#!/usr/bin/env bash
# Checks packaging/ without a running systemd: unit files (systemd-analyze verify and security),
# sysusers.d/tmpfiles.d files (applied to a temporary root), both example configs
# (microcid check-config, with the commented-out examples switched on too), the nginx example
# (nginx -t), and the daemon itself under socket activation (systemd-socket-activate) and under
# the environment systemd gives the service ($STATE_DIRECTORY, $RUNTIME_DIRECTORY,
# $CONFIGURATION_DIRECTORY, NOTIFY_SOCKET, WATCHDOG_USEC). A .deb in target/debian/ is inspected
# too when there is one.
#
# Usage: scripts/check-packaging.sh   (MICROCID=/path/to/microcid to pick a binary; else
#        target/release or target/debug, built in debug when neither exists)
# Prints one line per check and a final "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pkg=$root/packaging
target=${CARGO_TARGET_DIR:-$root/target}

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME COMMAND...: runs COMMAND, output shown only when it fails.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name"; printf '%s\n' "$out" | sed 's/^/     /'; fi
}
need() { command -v "$1" >/dev/null 2>&1; }

tmp=$(mktemp -d /tmp/mci-pkg.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the daemon binary --------------------------------------------------------------------
microcid=${MICROCID:-}
if [ -z "$microcid" ]; then
  for c in "$target/release/microcid" "$target/debug/microcid"; do
    [ -x "$c" ] && { microcid=$c; break; }
  done
fi
if [ -z "$microcid" ]; then
  echo "building microcid (debug) ..."
  cargo build -q -p microcid && microcid=$target/debug/microcid
fi
echo "using $microcid"

# --- unit files ---------------------------------------------------------------------------
units=(microcid.service microcid-control.socket microcid-http.socket)
if need systemd-analyze; then
  # Units name /usr/bin/microcid: verify them in a temporary root that has it (and the
  # distribution's units, for sysinit.target and friends).
  vroot=$tmp/vroot
  mkdir -p "$vroot/usr/bin" "$vroot/usr/lib/systemd" "$vroot/etc/systemd/system"
  cp -a /usr/lib/systemd/system "$vroot/usr/lib/systemd/"
  cp "$microcid" "$vroot/usr/bin/microcid"
  # ExecReload= runs /bin/kill: verify checks that it is there.
  install -D /bin/kill "$vroot/bin/kill"
  for u in "${units[@]}"; do cp "$pkg/$u" "$vroot/etc/systemd/system/"; done
  # verify only warns about unknown keys and bad values (exit 0): any output is a failure.
  verify_quiet() { local out; out=$(systemd-analyze verify "$@" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }; }
  check "systemd-analyze verify ${units[*]} (no warnings)" \
    verify_quiet --root="$vroot" "${units[@]/#/$vroot/etc/systemd/system/}"
  # The unit's exposure score must stay "OK" or better (the README records the number).
  check "systemd-analyze security microcid.service <= 2.0" \
    systemd-analyze security --offline=yes --threshold=20 --root="$vroot" \
    "$vroot/etc/systemd/system/microcid.service"
else
  fail "systemd-analyze not installed"
fi

# What the daemon and the docs rely on, spelled out.
unit_has() { grep -qxF "$2" "$pkg/$1" || { echo "$1 lacks: $2"; return 1; }; }
unit_lacks() { ! grep -qE "$2" "$pkg/$1" || { echo "$1 must not have: $2"; return 1; }; }
check "service: Type=notify, watchdog, microci user, docker group, directories" bash -c "
  $(declare -f unit_has); pkg='$pkg'
  for l in Type=notify NotifyAccess=main 'ExecStartPre=/usr/bin/microcid check-config' \
           ExecStart=/usr/bin/microcid WatchdogSec=30s User=microci Group=microci \
           SupplementaryGroups=docker StateDirectory=microci RuntimeDirectory=microci \
           RuntimeDirectoryMode=0750 RuntimeDirectoryPreserve=yes ConfigurationDirectory=microci \
           ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= UMask=0027; do
    unit_has microcid.service \"\$l\" || exit 1
  done"
check "service: no ReadWritePaths= on the Docker socket" unit_lacks microcid.service '^ReadWritePaths=.*docker'
check "control socket: named control, 0660, group microci, default path" bash -c "
  $(declare -f unit_has); pkg='$pkg'
  for l in ListenStream=/run/microci/control.sock FileDescriptorName=control SocketMode=0660 \
           SocketGroup=microci Service=microcid.service; do
    unit_has microcid-control.socket \"\$l\" || exit 1
  done"
check "http socket: named http, loopback" bash -c "
  $(declare -f unit_has); pkg='$pkg'
  for l in ListenStream=127.0.0.1:8080 FileDescriptorName=http Service=microcid.service; do
    unit_has microcid-http.socket \"\$l\" || exit 1
  done"

# --- sysusers.d and tmpfiles.d, applied to a temporary root --------------------------------
sroot=$tmp/sroot
mkdir -p "$sroot/etc"
if need systemd-sysusers; then
  check "sysusers.d/microci.conf applies" \
    systemd-sysusers --root="$sroot" "$pkg/sysusers.d/microci.conf"
  check "sysusers: user microci, home /var/lib/microci, no login; group microci" bash -c "
    grep -qE '^microci:x:[0-9]+:[0-9]+:[^:]*:/var/lib/microci:/usr/sbin/nologin\$' '$sroot/etc/passwd' &&
    grep -qE '^microci:x:[0-9]+:' '$sroot/etc/group'"
else
  fail "systemd-sysusers not installed"
fi
if need systemd-tmpfiles; then
  # The owner is resolved on the host; map it to root when the host has no microci user.
  tf=$pkg/tmpfiles.d/microci.conf
  if ! getent passwd microci >/dev/null; then
    sed 's/ microci microci / root root /' "$tf" >"$tmp/tmpfiles.conf"
    tf=$tmp/tmpfiles.conf
  fi
  check "tmpfiles.d/microci.conf creates /run/microci 0750" bash -c "
    systemd-tmpfiles --create --root='$sroot' '$tf' &&
    [ \"\$(stat -c %a '$sroot/run/microci')\" = 750 ]"
else
  fail "systemd-tmpfiles not installed"
fi

# --- example configs ------------------------------------------------------------------------
# The installed example ships a placeholder secret: the daemon refuses it, naming the key, until
# the administrator writes a real one (and accepts it then).
check "check-config refuses packaging/config.toml's placeholder secret" bash -c "
  out=\$('$microcid' check-config --config '$pkg/config.toml' 2>&1) && exit 1
  printf '%s' \"\$out\" | grep -q 'webhook.secret'"
real_secret() { sed -e 's/"change-me"/"0123456789abcdef0123456789abcdef"/' \
  -e 's/"<openssl rand -hex 32>"/"fedcba9876543210fedcba9876543210"/' "$1"; }
real_secret "$pkg/config.toml" >"$tmp/config-real.toml"
check "check-config packaging/config.toml with a real secret" "$microcid" check-config --config "$tmp/config-real.toml"
check "check-config packaging/config.local.toml" "$microcid" check-config --config "$pkg/config.local.toml"
# The commented-out examples must be valid too: switch them all on ("#key" and "#[[repo]]";
# prose comments start with "# "). A password file named there must exist: it is read at load.
printf 'example-password\n' >"$tmp/smtp-password"
printf 'example-deploy-key\n' >"$tmp/deploy_key"
# The [[engine]] examples' files too; docker.host stays commented (refused beside [[engine]]).
mkdir -p "$tmp/engines"
for f in ca.pem client.pem client-key.pem id_ed25519 known_hosts; do printf 'x\n' >"$tmp/engines/$f"; done
sed -e '/^#host = "unix:\/\/\/run\/docker.sock"$/d' \
  -e 's/^#\([a-z[]\)/\1/' -e "s#/etc/microci/smtp-password#$tmp/smtp-password#" \
  -e "s#/etc/microci/secrets/deploy_key#$tmp/deploy_key#" \
  -e "s#/etc/microci/engines/#$tmp/engines/#" \
  "$tmp/config-real.toml" >"$tmp/config-all.toml"
check "check-config config.toml with every example uncommented" \
  env API_TOKEN=example-api-token "$microcid" check-config --config "$tmp/config-all.toml"
# Every key config.rs knows appears in the example (set or commented).
check "config.toml documents every key" bash -c '
  missing=
  for k in state_dir listen max_body header_timeout body_timeout max_connections pages socket \
           group max_jobs default_image helper_image helper_timeout host workspace memory cpus \
           pids timeout max_timeout stop_grace max_log max_artifacts cache_max network labels \
           cap_drop cap_add \
           allow_dangerous_caps secret allow_unsigned allow_unlisted clone_hosts hosts \
           allow_insecure_http connect_timeout io_timeout ssh_key known_hosts username token \
           protocol name clone_url default_branch public base_path metrics cancel_superseded \
           pull_requests branches tags paths status_token secrets secret_branches concurrency \
           schedule engine_ping engine_down_timeout tls_ca tls_cert tls_key insecure; do
    grep -qE "^#*$k = " "$0" || missing="$missing $k"
  done
  [ -z "$missing" ] || { echo "missing:$missing"; exit 1; }' "$pkg/config.toml"
check "check-config rejects a typo (sanity of the check itself)" bash -c "
  printf '[docker]\nmax_job = 3\n' >'$tmp/typo.toml'
  ! '$microcid' check-config --config '$tmp/typo.toml'"

# --- nginx example --------------------------------------------------------------------------
if need nginx && need openssl; then
  mkdir -p "$tmp/nginx/logs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=ci.example.com \
    -keyout "$tmp/nginx/key.pem" -out "$tmp/nginx/cert.pem" >/dev/null 2>&1
  sed -e "s#/etc/letsencrypt/live/ci.example.com/fullchain.pem#$tmp/nginx/cert.pem#" \
      -e "s#/etc/letsencrypt/live/ci.example.com/privkey.pem#$tmp/nginx/key.pem#" \
      "$pkg/nginx/microci.conf" >"$tmp/nginx/site.conf"
  cat >"$tmp/nginx/nginx.conf" <<NGINX
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events {}
http { access_log off; include $tmp/nginx/site.conf; }
NGINX
  check "nginx -t accepts nginx/microci.conf" nginx -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
  check "nginx client_max_body_size matches http.max_body (1 MiB)" bash -c "
    grep -qE '^\s*client_max_body_size 1m;' '$pkg/nginx/microci.conf' &&
    grep -qE '^max_body = 1048576\$' '$pkg/config.toml'"
else
  fail "nginx or openssl not installed"
fi

# --- the daemon as systemd runs it ----------------------------------------------------------
# A small client: reads sd_notify datagrams and the control socket's hello frame.
cat >"$tmp/probe.py" <<'PY'
import json, socket, struct, sys, time, urllib.request

def hello(path, timeout=20):
    deadline = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(path)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            raise SystemExit("connection closed before the hello")
        head += chunk
    (n,) = struct.unpack(">I", head)
    if n > 1 << 20:
        raise SystemExit(f"frame too long: {n}")
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            raise SystemExit("connection closed inside the hello")
        body += chunk
    msg = json.loads(body)
    if msg.get("type") != "hello" or "protocol" not in msg:
        raise SystemExit(f"not a hello: {msg}")
    print("hello", msg)

def notify(path, want, timeout=20):
    """Reads sd_notify datagrams on `path` until every state in `want` was seen."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    print("bound", flush=True)
    s.settimeout(timeout)
    seen = set()
    while not set(want) <= seen:
        for line in s.recv(4096).decode().splitlines():
            print(line, flush=True)
            seen.add(line.split("=", 1)[0])
    print("all seen", flush=True)

def http(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
        if r.status != 200:
            raise SystemExit(f"{url}: {r.status}")
        print(body.strip())

cmd = sys.argv[1]
if cmd == "hello":
    hello(sys.argv[2])
elif cmd == "notify":
    notify(sys.argv[2], sys.argv[3].split(","))
elif cmd == "http":
    http(sys.argv[2])
PY
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS COMMAND...
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}

if need python3; then
  # 1. The service's environment: no paths in the file, systemd's directory variables and
  #    sd_notify with a watchdog. The socket must appear in $RUNTIME_DIRECTORY, mode 0660.
  sd=$tmp/sd
  mkdir -p "$sd/state" "$sd/run" "$sd/etc"
  port=$(free_port)
  printf '[http]\nlisten = "127.0.0.1:%s"\n[webhook]\nsecret = "packaging-check-secret-0123"\n' "$port" >"$sd/etc/config.toml"
  python3 "$tmp/probe.py" notify "$sd/notify" READY,STATUS,WATCHDOG,STOPPING >"$sd/notify.log" 2>&1 &
  notify_pid=$!
  pids+=("$notify_pid")
  wait_for 5 grep -q bound "$sd/notify.log"
  env -u MICROCI_CONFIG STATE_DIRECTORY="$sd/state" RUNTIME_DIRECTORY="$sd/run" \
    CONFIGURATION_DIRECTORY="$sd/etc" NOTIFY_SOCKET="$sd/notify" WATCHDOG_USEC=2000000 \
    "$microcid" >"$sd/daemon.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  check "directories: config from \$CONFIGURATION_DIRECTORY, socket in \$RUNTIME_DIRECTORY answers hello" \
    python3 "$tmp/probe.py" hello "$sd/run/control.sock"
  check "directories: control socket is mode 0660" bash -c "[ \"\$(stat -c %a '$sd/run/control.sock')\" = 660 ]"
  check "directories: database in \$STATE_DIRECTORY" bash -c "ls '$sd/state' | grep -q '\.db\$'"
  # Let a watchdog period pass, then stop the daemon: READY, STATUS, WATCHDOG, STOPPING seen.
  sleep 1.5
  kill -TERM "$daemon_pid" 2>/dev/null
  wait_for 30 bash -c "! kill -0 $daemon_pid"
  wait_for 5 grep -q "all seen" "$sd/notify.log"
  check "sd_notify: READY=1, STATUS=, WATCHDOG=1, STOPPING=1" grep -q "all seen" "$sd/notify.log" ||
    sed 's/^/     /' "$sd/notify.log" "$sd/daemon.log"
  check "daemon removed its own socket on SIGTERM" bash -c "[ ! -e '$sd/run/control.sock' ]"

  # 2. Socket activation, as microcid-control.socket + microcid-http.socket pass them: two
  #    fds named control and http. The daemon must use them and bind nothing of its own.
  if need systemd-socket-activate; then
    sa=$tmp/sa
    mkdir -p "$sa"
    port=$(free_port)
    cat >"$sa/config.toml" <<TOML
state_dir = "$sa/state"
[http]
listen = "127.0.0.1:1"
[control]
socket = "$sa/not-used.sock"
[webhook]
secret = "packaging-check-secret-0123"
TOML
    systemd-socket-activate -l "$sa/c.sock" -l "127.0.0.1:$port" --fdname=control:http \
      "$microcid" --config "$sa/config.toml" >"$sa/daemon.log" 2>&1 &
    pids+=("$!")
    wait_for 10 test -S "$sa/c.sock"
    # The first connection starts the daemon (like systemd); it answers on the passed fd.
    check "socket activation: control fd answers hello" python3 "$tmp/probe.py" hello "$sa/c.sock" ||
      sed 's/^/     /' "$sa/daemon.log"
    check "socket activation: http fd serves /healthz" python3 "$tmp/probe.py" http "http://127.0.0.1:$port/healthz"
    check "socket activation: daemon bound no socket of its own" bash -c "[ ! -e '$sa/not-used.sock' ]"
  else
    fail "systemd-socket-activate not installed"
  fi
else
  fail "python3 not installed (needed for the daemon checks)"
fi

# --- a built .deb, when there is one -------------------------------------------------------
deb=$(ls -t "$target"/debian/microcid_*.deb 2>/dev/null | head -1)
if [ -n "$deb" ]; then
  dpkg-deb -c "$deb" >"$tmp/deb.list"
  check "deb $(basename "$deb"): files in place" bash -c '
    for f in ./usr/bin/microcid ./usr/bin/microci-tui ./etc/microci/config.toml \
             ./usr/lib/sysusers.d/microci.conf ./usr/lib/tmpfiles.d/microci.conf \
             /systemd/system/microcid.service /systemd/system/microcid-control.socket \
             /systemd/system/microcid-http.socket ./usr/share/doc/microcid/README.md; do
      grep -qF "$f" "$0" || { echo "missing $f"; exit 1; }
    done' "$tmp/deb.list"
  check "deb: config.toml is a conffile" bash -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/microci/config.toml"
  check "deb: postinst runs sysusers and sets the config's group" bash -c "
    dpkg-deb -I '$deb' postinst | grep -q 'systemd-sysusers' &&
    dpkg-deb -I '$deb' postinst | grep -q 'chown root:microci /etc/microci/config.toml'"
  check "deb: maintainer scripts parse (sh -n)" bash -c "
    for s in postinst prerm postrm; do dpkg-deb -I '$deb' \$s | sh -n || exit 1; done"
  # The packaged binary refuses the packaged config until its secret is set, then accepts it.
  mkdir -p "$tmp/deb"
  dpkg-deb -x "$deb" "$tmp/deb"
  check "deb: packaged microcid refuses the packaged config's placeholder secret" bash -c "
    ! '$tmp/deb/usr/bin/microcid' check-config --config '$tmp/deb/etc/microci/config.toml'"
  real_secret "$tmp/deb/etc/microci/config.toml" >"$tmp/deb-real.toml"
  check "deb: packaged microcid accepts the packaged config with a real secret" \
    "$tmp/deb/usr/bin/microcid" check-config --config "$tmp/deb-real.toml"
  check "deb: Depends names the Docker Engine" bash -c "
    dpkg-deb -f '$deb' Depends | tee /dev/stderr | grep -q 'docker.io | docker-ce'"
else
  echo "skip no target/debian/microcid_*.deb (cargo deb -p microcid builds one)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
