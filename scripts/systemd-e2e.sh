#!/usr/bin/env bash
# End-to-end test of the Debian package under a real systemd: builds the .deb (cargo-deb),
# boots a Debian root file system (mmdebstrap, cached as a local image keyed by its package
# list) with systemd as PID 1 in a container (not --privileged: only CAP_SYS_ADMIN added, so
# that systemd can build the unit's sandbox) that reaches the host's Docker Engine through its
# socket, installs the package with apt, and drives the service as an operator
# would: start and `systemctl status`, a signed Gogs push that builds, a restart in the middle of
# a job (the job ends with its true exit code and its whole log), a reload that adds a
# repository, a job's lines in the journal by JOB_ID, a watchdog restart of a frozen daemon,
# then `apt remove` and `apt purge`.
#
# Usage: scripts/systemd-e2e.sh          (root; Docker Engine; Debian package mirror reachable
#                                         for the first image build)
# Environment:
#   MICROCI_E2E_DEB=PATH          use this .deb instead of building one
#   MICROCI_E2E_PROFILE=NAME      the Cargo profile of the binaries it packs (default release;
#                                 e2e: the same code without whole-program optimisation; dev:
#                                 the debug binaries the test command built, stripped — CI)
#   MICROCI_E2E_APT_SOURCES=FILE  apt sources for the image (default: the machine's Debian ones)
#   MICROCI_E2E_KEEP=1            keep the container after a failure, to look inside
# Network traffic stays inside the container (--network none) and on the Docker socket; job
# containers run with network "none".
# Single quotes around $… are on purpose throughout: expanded in the container, by mmdebstrap
# or by jq, not here.
# shellcheck disable=SC2016
set -Eeuo pipefail
deb=${MICROCI_E2E_DEB:+$(realpath "$MICROCI_E2E_DEB")}
profile=${MICROCI_E2E_PROFILE:-release}
cd "$(dirname "$0")/.."

image_repo=microci-systemd-test
run_id=$(date +%s)-$$
ctr=microci-e2e-$run_id
label=microci-e2e.run
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
zeros=0000000000000000000000000000000000000000
job_image=${MICROCI_TEST_IMAGE:-microci-test/busybox:latest}
docker_sock=/var/run/docker.sock
tmp=$(mktemp -d /tmp/microci-e2e.XXXXXX)
t0=$SECONDS
started=0

# --- reporting ----------------------------------------------------------------------------
step() { printf '\n==> [%3ds] %s\n' $((SECONDS - t0)) "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
diagnose() {
  [ "$started" = 1 ] || return 0
  echo "---- systemctl status microcid" >&2
  timeout 30 docker exec "$ctr" systemctl status microcid --no-pager -l >&2 || true
  echo "---- journalctl -u microcid (last 300 lines)" >&2
  timeout 30 docker exec "$ctr" journalctl -u microcid --no-pager -n 300 -o short-precise >&2 || true
  echo "---- microci-tui jobs" >&2
  timeout 30 docker exec "$ctr" timeout 10 microci-tui jobs >&2 || true
  echo "---- failed units" >&2
  timeout 30 docker exec "$ctr" systemctl --failed --no-pager >&2 || true
}
fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  # In a command substitution: the main shell's ERR trap reports it, with the journal.
  [ "$BASHPID" = "$$" ] || exit 1
  trap - ERR
  diagnose
  exit 1
}
on_err() {
  # In a command substitution the caller sees the failure (and its `fail` message, if any).
  [ "$BASHPID" = "$$" ] || exit "$1"
  fail "command failed (exit $1) at line $2: $3"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ "${MICROCI_E2E_KEEP:-}" = 1 ] && [ "$started" = 1 ]; then
    echo "kept container $ctr (docker exec -it $ctr bash; docker rm -f $ctr)" >&2
  else
    docker rm -f "$ctr" >/dev/null 2>&1 || true
  fi
  # Job containers the daemon inside started on the host's Engine carry the run's label.
  docker ps -aq --filter "label=$label=$run_id" | xargs -r docker rm -f >/dev/null 2>&1 || true
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# cx CMD...: a command in the container, bounded in time. cxi: the same with stdin.
cx() { timeout 120 docker exec "$ctr" "$@"; }
cxi() { timeout 120 docker exec -i "$ctr" "$@"; }

# wait_for WHAT SECONDS CMD...: until CMD succeeds, at most SECONDS.
wait_for() {
  local what=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for: $what"
    sleep 0.5
  done
}
# expect WHAT ACTUAL EXPECTED
expect() {
  [ "$2" = "$3" ] || fail "$1: expected '$3', got '$2'"
  ok "$1: $2"
}
# contains WHAT TEXT NEEDLE
contains() {
  grep -qF -- "$3" <<<"$2" || fail "$1: '$3' not found in:"$'\n'"$2"
  ok "$1"
}

# --- tools --------------------------------------------------------------------------------
step "tools: Docker, mmdebstrap, cargo-deb, jq, openssl, the job image"
[ "$(id -u)" = 0 ] || fail "run as root (mmdebstrap, docker)"
[ -S "$docker_sock" ] || fail "no Docker socket at $docker_sock"
docker version --format '{{.Server.Version}}' >/dev/null || fail "the Docker Engine does not answer"
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v jq >/dev/null || need+=(jq)
command -v openssl >/dev/null || need+=(openssl)
[ -x /bin/busybox ] || need+=(busybox-static) # scripts/test-image.sh: the job image
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -z "$deb" ] && ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb"
  timeout 600 cargo install cargo-deb --locked --version '^3' --quiet
fi
scripts/test-image.sh

# --- the package --------------------------------------------------------------------------
if [ -n "$deb" ]; then
  step "the package: $deb"
else
  if [ "$profile" = dev ]; then
    # The debug binaries the test command built already, packed as the e2e profile's (which
    # strips them): no second build of the whole tree.
    step "build: the dev profile's binaries, cargo deb --no-build --profile e2e"
    cargo build --locked -p microcid -p microci-tui
    mkdir -p target/e2e
    cp target/debug/microcid target/debug/microci-tui target/e2e/
    cargo deb -p microcid --no-build --profile e2e --output "$tmp/" >/dev/null
  else
    step "build: cargo build --profile $profile, cargo deb --no-build"
    cargo build --profile "$profile" --locked -p microcid -p microci-tui
    cargo deb -p microcid --no-build --profile "$profile" --output "$tmp/" >/dev/null
  fi
  deb=$(ls "$tmp"/microcid_*.deb)
fi
[ -f "$deb" ] || fail "no .deb at $deb"
ok "$(basename "$deb"): depends on $(dpkg-deb -f "$deb" Depends)"

# --- the systemd image --------------------------------------------------------------------
# Installed: systemd as PID 1, the Docker Engine's package (what the .deb depends on; its
# units are masked, the host's Engine is used through its socket) and what the test drives
# inside (git, curl). Fetched but not installed: procps, which the .deb depends on and a
# minimal Debian lacks, with what it recommends, as `apt install` takes them (the container
# has no network: apt installs them from the cache, so a dependency missing from the .deb
# shows as a missing /bin/kill here).
# shellcheck source=/dev/null
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
sources=${MICROCI_E2E_APT_SOURCES:-}
if [ -z "$sources" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [ -s "$f" ] && { sources=$f; break; }
  done
fi
[ -s "$sources" ] || fail "no apt sources (set MICROCI_E2E_APT_SOURCES)"
installed=(curl dbus docker.io git systemd systemd-sysv)
fetched=(procps)
hooks=(
  'chroot "$1" systemctl mask docker.service docker.socket containerd.service'
  'chroot "$1" apt-get clean'
  "chroot \"\$1\" apt-get install --download-only -y -q -o APT::Install-Recommends=true ${fetched[*]}"
  'rm -f "$1"/var/cache/apt/*.bin'
)
recipe=$(
  printf 'suite %s\nvariant minbase\n' "$suite"
  printf 'install %s\n' "${installed[@]}" | sort
  printf 'fetch %s\n' "${fetched[@]}" | sort
  printf 'hook %s\n' "${hooks[@]}"
  printf 'sources:\n'
  cat "$sources"
)
image=$image_repo:$(sha256sum <<<"$recipe" | cut -c1-32)
if docker image inspect "$image" >/dev/null 2>&1; then
  step "image: $image (cached)"
else
  step "image: building $image with mmdebstrap ($suite, from $sources; a minute or two)"
  hook_args=()
  for h in "${hooks[@]}"; do hook_args+=("--customize-hook=$h"); done
  if ! timeout 420 mmdebstrap --variant=minbase --include="$(IFS=,; echo "${installed[*]}")" \
      --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"' \
      "${hook_args[@]}" --skip=cleanup/apt/lists --skip=cleanup/apt/cache \
      "$suite" "$tmp/rootfs.tar" "$sources" >"$tmp/mmdebstrap.log" 2>&1; then
    tail -40 "$tmp/mmdebstrap.log" >&2
    fail "mmdebstrap failed (log above)"
  fi
  timeout 180 docker import -c 'CMD ["/lib/systemd/systemd"]' "$tmp/rootfs.tar" "$image" >/dev/null
  rm -f "$tmp/rootfs.tar"
  # Images for other package lists are stale now.
  docker images "$image_repo" --format '{{.Repository}}:{{.Tag}}' | grep -vxF "$image" |
    xargs -r docker rmi >/dev/null 2>&1 || true
  ok "built $image"
fi

# --- boot -----------------------------------------------------------------------------------
step "boot: systemd as PID 1 in container $ctr (CAP_SYS_ADMIN, no network, the Docker socket)"
started=1
# CAP_SYS_ADMIN (and nothing else beyond Docker's default set) lets systemd set up the service's
# namespaces, the sandbox the unit asks for; the container is as trusted as the Docker socket
# it is given anyway.
docker run -d --name "$ctr" --hostname "$ctr" --label "microci-e2e.systemd=$run_id" --network none \
  --cap-add SYS_ADMIN \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  -e container=docker -v "$docker_sock:/var/run/docker.sock" \
  "$image" /lib/systemd/systemd >/dev/null
wait_for "systemd's control socket" 30 cx test -S /run/systemd/private
state=$(timeout 90 docker exec "$ctr" systemctl is-system-running --wait || true)
case $state in
  running) ok "systemctl is-system-running: running" ;;
  degraded) echo "    note: degraded:"; cx systemctl --failed --no-pager --plain ;;
  *) fail "systemd did not come up: '$state'" ;;
esac

# --- install ------------------------------------------------------------------------------
step "install: apt-get install ./$(basename "$deb")"
# The docker group inside gets the socket's group id, so SupplementaryGroups=docker reaches it.
cx groupmod -o -g "$(stat -c %g "$docker_sock")" docker
docker cp "$deb" "$ctr:/root/"
cx dpkg -s procps >/dev/null 2>&1 && fail "procps is already installed in the image: the test of the dependency means nothing"
apt_out=$(cx sh -c "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./$(basename "$deb") 2>&1") ||
  fail "apt-get install failed:"$'\n'"$apt_out"
contains "postinst says what to do next" "$apt_out" "edit /etc/microci/config.toml"
expect "procps installed as a dependency" "$(cx dpkg-query -W -f='${db:Status-Abbrev}' procps)" "ii "
expect "systemctl is-enabled microcid" "$(cx systemctl is-enabled microcid)" enabled
expect "systemctl is-active microcid (not started on install)" "$(cx systemctl is-active microcid || true)" inactive
expect "microci user" "$(cx id -un microci)" microci
expect "config.toml mode and owner" "$(cx stat -c '%a %U:%G' /etc/microci/config.toml)" "640 root:microci"

step "the shipped config's placeholder secret is refused at start"
if cx systemctl start microcid 2>/dev/null; then fail "microcid started with secret = \"change-me\""; fi
contains "journal names the key" "$(cx journalctl -u microcid --no-pager -o cat)" "webhook.secret: is a placeholder"
cx systemctl stop microcid
cx systemctl reset-failed microcid

# --- repositories and config ----------------------------------------------------------------
step "repositories: alice/app served by git daemon on 127.0.0.1, alice/other by local path"
cx mkdir -p /srv/git
cx git init -q --bare -b main /srv/git/app.git
cx git init -q --bare -b main /srv/git/other.git
cx git init -q -b main /root/app
cx git init -q -b main /root/other
cx systemd-run --quiet --unit=e2e-git-daemon git daemon --reuseaddr --base-path=/srv/git \
  --export-all --listen=127.0.0.1 --port=9418 /srv/git
# commit REPO MESSAGE COMMAND: a commit whose .microci.json runs COMMAND, pushed; prints its id.
commit() {
  jq -nc --arg img "$job_image" --arg cmd "$3" '{dockerimg: $img, command: $cmd}' |
    cxi sh -euc 'cd "/root/$1"; cat >.microci.json; git add .microci.json
      git -c user.name=E2E -c user.email=e2e@example.invalid commit -q --allow-empty -m "$2"
      git -c safe.directory="*" push -q "/srv/git/$1.git" HEAD:main; git rev-parse HEAD' sh "$1" "$2"
}
c_other=$(commit other "other: hello" 'echo "e2e-other job=$MICROCI_JOB"')
# The daemon opens a local repository as user microci: libgit2 refuses one owned by another.
cx chown -R microci:microci /srv/git/other.git
wait_for "git daemon on 127.0.0.1:9418" 20 cx git ls-remote -q git://127.0.0.1:9418/app.git
ok "git daemon answers"

cxi sh -c 'cat >/etc/microci/config.toml' <<EOF
[docker]
default_image = "$job_image"
helper_image = "$job_image"
# The host's Engine resolves bind paths on the host, not in this container: copy the checkout.
workspace = "copy"
network = "none"
labels = { "$label" = "$run_id" }

[webhook]
secret = "$secret"

[[repo]]
name = "alice/app"
clone_url = "git://127.0.0.1:9418/app.git"
EOF
cx microcid check-config >/dev/null

# --- helpers against the running daemon -------------------------------------------------------
# push REPO COMMIT DELIVERY: a signed Gogs push to the daemon's HTTP port (inside the
# container); sets http_status and http_body.
push() {
  local body sig out
  body=$(jq -nc --arg repo "$1" --arg after "$2" --arg before "$zeros" '
    ($repo | split("/")) as [$owner, $name] |
    {login: $owner, username: $owner, id: 1, full_name: $owner, email: "", avatar_url: ""} as $user |
    {ref: "refs/heads/main", before: $before, after: $after, compare_url: "",
     commits: [{id: $after, message: "e2e push", url: "http://forge.invalid/\($repo)/commit/\($after)",
       author: {name: "E2E", email: "e2e@example.invalid", username: $owner},
       committer: {name: "E2E", email: "e2e@example.invalid", username: $owner},
       timestamp: "2026-11-28T10:00:00Z"}],
     repository: {id: 1, owner: $user, name: $name, full_name: $repo, description: "",
       private: true, fork: false, html_url: "http://forge.invalid/\($repo)",
       ssh_url: "ssh://git@forge.invalid/\($repo).git", clone_url: "http://forge.invalid/\($repo).git",
       website: "", stars_count: 0, forks_count: 0, watchers_count: 0, open_issues_count: 0,
       default_branch: "main", created_at: "2026-11-01T10:00:00Z", updated_at: "2026-11-28T10:00:00Z"},
     pusher: $user, sender: $user}')
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.*= //')
  out=$(printf '%s' "$body" | cxi curl -sS --max-time 20 -w '\n%{http_code}' \
    -H 'Content-Type: application/json' -H 'X-Gogs-Event: push' -H "X-Gogs-Delivery: $3" \
    -H "X-Gogs-Signature: $sig" --data-binary @- http://127.0.0.1:8080/hooks/gogs) ||
    fail "POST /hooks/gogs did not get an answer"
  http_status=${out##*$'\n'}
  http_body=${out%$'\n'*}
}
# push_job REPO COMMIT DELIVERY: push, expect 202, print the job id.
push_job() {
  push "$@"
  [ "$http_status" = 202 ] || fail "push of $1 at $2: expected 202, got $http_status $http_body"
  jq -er .job_id <<<"$http_body"
}
job() { cx microci-tui show "$1" --json; }
job_status() { job "$1" | jq -r .status; }
is_final() { case $(job_status "$1") in SUCCEED | FAILED | ERRORED | CANCELED) return 0 ;; *) return 1 ;; esac; }
# logs exits 1 until the job has ended SUCCEED: read its output whatever the exit status.
log_of() { cx microci-tui logs "$1" 2>/dev/null || true; }
log_has() { log_of "$1" | grep -qxF -- "$2"; }
status_line() { cx systemctl status microcid --no-pager | sed -n 's/^ *Status: //p'; }
status_is() { [ "$(status_line)" = "\"$1\"" ]; }
# status_settles JOB: once JOB has ended, `systemctl status` says nothing runs.
status_settles() {
  local deadline=$((SECONDS + 5))
  until status_is "0 running, 0 queued"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "after job $1 ended, systemctl status still says $(status_line)"
    fi
    sleep 0.5
  done
  ok "systemctl status after job $1 ended: \"0 running, 0 queued\""
}
main_pid() { cx systemctl show -p MainPID --value microcid; }
active() { [ "$(cx systemctl is-active microcid)" = active ]; }
journal_has() { cx journalctl -u microcid --no-pager -o cat --since "@$1" | grep -qF -- "$2"; }
now() { cx date +%s; }

# --- start ----------------------------------------------------------------------------------
step "systemctl start microcid"
cx systemctl start microcid
expect "systemctl is-active microcid" "$(cx systemctl is-active microcid)" active
status_out=$(cx systemctl status microcid --no-pager)
contains "systemctl status shows the daemon's STATUS= line" "$status_out" 'Status: "0 running, 0 queued"'
contains "the daemon runs as microci" "$(cx ps -o user= -p "$(main_pid)")" microci
cx test -S /run/microci/control.sock
expect "control socket mode and group" "$(cx stat -c '%a %G' /run/microci/control.sock)" "660 microci"
expect "microci-tui status: Docker reachable (through SupplementaryGroups=docker)" \
  "$(cx microci-tui status --json | jq -r .docker_reachable)" true

step "the sandbox is applied (the unit's settings, seen in the daemon's /proc)"
pid=$(main_pid)
proc_status=$(cx cat "/proc/$pid/status")
field() { sed -n "s/^$1:[[:space:]]*//p" <<<"$proc_status"; }
expect "NoNewPrivs (NoNewPrivileges=yes)" "$(field NoNewPrivs)" 1
expect "Seccomp (SystemCallFilter=)" "$(field Seccomp)" 2
expect "CapEff and CapBnd (CapabilityBoundingSet=)" "$(field CapEff) $(field CapBnd)" \
  "0000000000000000 0000000000000000"
contains "Groups has the Docker socket's group (SupplementaryGroups=docker)" \
  " $(field Groups) " " $(stat -c %g "$docker_sock") "
# Without CAP_SYS_ADMIN in the container, systemd cannot unshare a mount namespace and runs the
# service without one, silently (debug level: "assuming containerized execution and
# ignoring"): ProtectSystem=, ProtectHome=, PrivateTmp=, PrivateDevices=, ProtectKernel*=,
# ProtectControlGroups= and ProtectProc= would then not be in effect.
mounts=$(cx cat "/proc/$pid/mountinfo")
# mount_at PATH: the mountinfo line of what the daemon sees at PATH: of the mounts there, the
# one no other mount there is stacked on.
mount_at() {
  awk -v m="$1" '$5 == m { id[NR] = $1; line[NR] = $0; under[$2] = 1 }
    END { for (i in id) if (!(id[i] in under)) print line[i] }' <<<"$mounts"
}
# mount_field PATH N: field N of that line (4 root, 6 options, and the last: super options).
mount_field() { mount_at "$1" | awk -v n="$2" '{ print (n == "last" ? $NF : $n) }'; }
first_opt() { mount_field "$1" 6 | cut -d, -f1; }
expect "/ read-only (ProtectSystem=strict)" "$(first_opt /)" ro
expect "/var/lib/microci writable (StateDirectory=)" "$(first_opt /var/lib/microci)" rw
expect "/run/microci writable (RuntimeDirectory=)" "$(first_opt /run/microci)" rw
contains "/tmp is private (PrivateTmp=yes)" "$(mount_field /tmp 4)" "/systemd-private-"
contains "/home is inaccessible (ProtectHome=yes)" "$(mount_field /home 4)" "/inaccessible/"
expect "/dev is its own, read-only (PrivateDevices=yes)" "$(first_opt /dev)" ro
contains "/proc hides other processes (ProtectProc=invisible, ProcSubset=pid)" \
  "$(mount_field /proc last)" "hidepid=invisible,subset=pid"
ignored=$(cx journalctl -u microcid --no-pager -o cat | grep -i 'ignoring namespace setup' || true)
[ -z "$ignored" ] || fail "systemd skipped part of the sandbox:"$'\n'"$ignored"
ok "systemd skipped no namespace setting"
cx systemd-analyze security microcid --no-pager | tail -1 | sed 's/^/    /'

# --- a push builds ----------------------------------------------------------------------------
step "a signed push builds: job SUCCEED"
c1=$(commit app "first" 'echo "e2e-hello job=$MICROCI_JOB"; test -f /repo/.microci.json')
j1=$(push_job alice/app "$c1" e2e-1)
wait_for "job $j1 to end" 60 is_final "$j1"
expect "job $j1 status" "$(job_status "$j1")" SUCCEED
log1=$(cx microci-tui logs "$j1") || fail "microci-tui logs $j1 exited non-zero for a SUCCEED job"
contains "job $j1's log has the command's output" "$log1" "e2e-hello job=$j1"
cx microci-tui jobs | grep -qE "^$j1 +SUCCEED +alice/app +main " ||
  fail "microci-tui jobs does not list job $j1 as SUCCEED:"$'\n'"$(cx microci-tui jobs)"
ok "microci-tui jobs lists job $j1 as SUCCEED"
status_settles "$j1"

# --- restart during a job -------------------------------------------------------------------------
step "systemctl restart during a 10-second job that exits 3"
c2=$(commit app "slow" 'i=1; while [ $i -le 10 ]; do echo "numbered line $i"; i=$((i+1)); sleep 1; done; exit 3')
j2=$(push_job alice/app "$c2" e2e-2)
wait_for "job $j2 to print line 3" 60 log_has "$j2" "numbered line 3"
log_has "$j2" "numbered line 10" && fail "job $j2 printed everything before the restart: the test proves nothing"
wait_for "systemctl status to say 1 running" 5 status_is "1 running, 0 queued"
ok "systemctl status while job $j2 runs: \"1 running, 0 queued\""
pid_before=$(main_pid)
cx systemctl restart microcid
pid_after=$(main_pid)
if [ "$pid_after" = "$pid_before" ] || [ "$pid_after" = 0 ]; then
  fail "restart: MainPID $pid_before -> $pid_after"
fi
ok "restarted: MainPID $pid_before -> $pid_after"
expect "job $j2 still running after the restart" "$(job_status "$j2")" STARTED
wait_for "job $j2 to end" 60 is_final "$j2"
j2_json=$(job "$j2")
expect "job $j2 status" "$(jq -r .status <<<"$j2_json")" FAILED
expect "job $j2 exit code" "$(jq -r .exit_code <<<"$j2_json")" 3
if cx microci-tui logs "$j2" >"$tmp/log2" 2>"$tmp/log2.err"; then
  fail "microci-tui logs $j2 exited 0 for a FAILED job"
fi
contains "microci-tui logs says how job $j2 ended" "$(cat "$tmp/log2.err")" "job $j2 ended FAILED: command exited with code 3"
for i in 1 2 3 4 5 6 7 8 9 10; do
  n=$(grep -cxF "numbered line $i" "$tmp/log2" || true)
  [ "$n" = 1 ] || fail "job $j2's log has 'numbered line $i' $n times:"$'\n'"$(cat "$tmp/log2")"
done
ok "job $j2's log has each of the 10 numbered lines exactly once"
grep -q 'output is missing' "$tmp/log2" && fail "job $j2's log reports a gap:"$'\n'"$(cat "$tmp/log2")"
ok "no gap in the log"
status_settles "$j2"

# --- reload adds a repository ---------------------------------------------------------------------
step "systemctl reload after adding a [[repo]]"
push alice/other "$c_other" e2e-3
expect "push for alice/other before the reload" "$http_status" 403
contains "403 says why" "$http_body" "repository not configured"
cxi sh -c 'cat >>/etc/microci/config.toml' <<EOF

[[repo]]
name = "alice/other"
clone_url = "/srv/git/other.git"
EOF
pid_before=$(main_pid)
since=$(now)
cx systemctl reload microcid
journal_has "$since" "configuration reloaded from" ||
  echo "    note: systemctl reload returned before the daemon had read the file"
expect "MainPID unchanged by reload" "$(main_pid)" "$pid_before"
# kill(1) returns once SIGHUP is sent, which can be before the daemon has read the file.
wait_for "the journal to say the configuration was reloaded" 15 \
  journal_has "$since" "configuration reloaded from /etc/microci/config.toml"
ok "journal: configuration reloaded"
j3=$(push_job alice/other "$c_other" e2e-4)
ok "push for alice/other after the reload: 202, job $j3"
wait_for "job $j3 to end" 60 is_final "$j3"
expect "job $j3 status" "$(job_status "$j3")" SUCCEED
contains "job $j3's log" "$(cx microci-tui logs "$j3")" "e2e-other job=$j3"
status_settles "$j3"

# --- journal fields -------------------------------------------------------------------------------
step "journalctl -u microcid JOB_ID=<id>"
jl1=$(cx journalctl -u microcid --no-pager -o cat "JOB_ID=$j1")
contains "JOB_ID=$j1 shows its end" "$jl1" "ended SUCCEED"
grep -qF "ended FAILED" <<<"$jl1" && fail "JOB_ID=$j1 shows another job's lines:"$'\n'"$jl1"
ok "JOB_ID=$j1 shows only job $j1"
jl2=$(cx journalctl -u microcid --no-pager -o json "JOB_ID=$j2")
contains "JOB_ID=$j2 shows its end" "$(jq -r .MESSAGE <<<"$jl2")" "ended FAILED"
expect "JOB_ID=$j2 entries carry REPO and COMMIT" \
  "$(jq -r '"\(.REPO) \(.COMMIT)"' <<<"$jl2" | sort -u)" "alice/app $c2"
expect "JOB_ID=$j2 has lines from both daemons (before and after the restart)" \
  "$(jq -r ._PID <<<"$jl2" | sort -u | wc -l)" 2

# --- watchdog -------------------------------------------------------------------------------------
step "watchdog: a frozen daemon is killed and restarted (WatchdogSec=5s in a drop-in)"
cx mkdir -p /etc/systemd/system/microcid.service.d
printf '[Service]\nWatchdogSec=5s\n' | cxi sh -c 'cat >/etc/systemd/system/microcid.service.d/e2e-watchdog.conf'
cx systemctl daemon-reload
cx systemctl restart microcid
expect "WatchdogUSec" "$(cx systemctl show -p WatchdogUSec --value microcid)" 5s
frozen=$(main_pid)
restarts=$(cx systemctl show -p NRestarts --value microcid)
since=$(now)
cx kill -STOP "$frozen"
new_main() { local p; p=$(main_pid); [ "$p" != 0 ] && [ "$p" != "$frozen" ] && active; }
wait_for "systemd to restart the frozen daemon" 60 new_main
ok "MainPID $frozen -> $(main_pid), active"
contains "systemd says it was the watchdog" \
  "$(cx journalctl -u microcid --no-pager -o cat --since "@$since")" "Watchdog timeout"
expect "NRestarts" "$(cx systemctl show -p NRestarts --value microcid)" $((restarts + 1))
c3=$(commit app "after the watchdog" 'echo "e2e-after-watchdog job=$MICROCI_JOB"')
j4=$(push_job alice/app "$c3" e2e-5)
wait_for "job $j4 to end" 60 is_final "$j4"
expect "job $j4 status (the restarted daemon serves)" "$(job_status "$j4")" SUCCEED
status_settles "$j4"

leftover=$(docker ps -aq --filter "label=$label=$run_id" --filter label=microci.job)
[ -z "$leftover" ] || fail "job containers left on the Engine: $leftover"
ok "no job container left on the Engine"

# --- remove and purge ----------------------------------------------------------------------------
step "apt-get remove microcid: service and files gone; user, state and config kept"
cx sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y microcid' >"$tmp/remove.log" 2>&1 ||
  fail "apt-get remove failed: $(cat "$tmp/remove.log")"
expect "microcid is stopped" "$(cx systemctl is-active microcid || true)" inactive
expect "dpkg status" "$(cx dpkg-query -W -f='${db:Status-Abbrev}' microcid)" "rc "
cx test ! -e /usr/bin/microcid || fail "/usr/bin/microcid still there"
cx test ! -e /lib/systemd/system/microcid.service || fail "the unit file is still there"
expect "microci user kept" "$(cx id -un microci)" microci
cx test -f /var/lib/microci/microci.db || fail "remove deleted /var/lib/microci/microci.db"
cx test -f /etc/microci/config.toml || fail "remove deleted /etc/microci/config.toml"
ok "/var/lib/microci and /etc/microci/config.toml kept"

step "apt-get install again: the kept state and config are picked up"
cx sh -c "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./$(basename "$deb")" >"$tmp/reinstall.log" 2>&1 ||
  fail "apt-get install (again) failed: $(cat "$tmp/reinstall.log")"
expect "systemctl is-enabled microcid" "$(cx systemctl is-enabled microcid)" enabled
cx systemctl start microcid
expect "job $j4 is still known" "$(job_status "$j4")" SUCCEED
expect "jobs known" "$(cx microci-tui jobs --json | jq length)" 4

step "apt-get purge microcid (installed and running): no unit, no user, no state, no config"
cx sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y microcid' >"$tmp/purge.log" 2>&1 ||
  fail "apt-get purge failed: $(cat "$tmp/purge.log")"
cx dpkg-query -W microcid >/dev/null 2>&1 && fail "dpkg still knows microcid: $(cx dpkg-query -W -f='${db:Status-Abbrev}' microcid)"
ok "dpkg no longer knows microcid"
expect "unit files named microcid*" "$(cx systemctl list-unit-files 'microcid*' --no-legend || true)(none)" "(none)"
left=$(cx find /etc/systemd /lib/systemd /usr/lib/systemd /run/systemd/system -name '*microcid*' 2>/dev/null || true)
[ -z "$left" ] || fail "unit files or drop-ins left: $left"
ok "no microcid unit, symlink or drop-in anywhere"
cx getent passwd microci >/dev/null && fail "user microci still exists"
cx getent group microci >/dev/null && fail "group microci still exists"
ok "no microci user or group"
for d in /var/lib/microci /etc/microci /run/microci; do
  cx test ! -e "$d" || fail "$d still exists: $(cx ls -la "$d")"
done
ok "/var/lib/microci, /etc/microci, /run/microci removed"

step "passed in $((SECONDS - t0))s"
