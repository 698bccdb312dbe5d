#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/seeds/<target>/ from payloads written here after each format's
documentation (Gogs, Gitea/Forgejo, GitHub, GitLab and Bitbucket Cloud webhook docs; the
`.microci.json` and config.toml sections of the README and packaging/config.toml; proto/PROTOCOL.md).
Names and ids are made up. Run it from anywhere after editing a payload; commit the output.

Inputs of targets with knobs start with a length byte n and n knob bytes read by `arbitrary`
(see fuzz/src/lib.rs); the helpers below spell those bytes out.
"""

import json
import pathlib
import shutil
import struct

SEEDS = pathlib.Path(__file__).resolve().parent


def variant(index, count):
    """The 4 bytes `arbitrary` reads to pick enum variant `index` of `count`."""
    value = -(-index * 2**32 // count)  # ceil: (value * count) >> 32 == index
    return struct.pack("<I", value)


def arbitrary_str(s):
    """A String read by `arbitrary` as the last thing in its data: the bytes, then a length byte."""
    b = s.encode()
    assert len(b) < 255
    return b + bytes([len(b)])


def webhook_knobs(event=0, signature=0, header_names=0, alternate=False, delivery=None):
    """Knobs of fuzz/src/webhook.rs: event = index of a documented event; signature 0 correct,
    2 wrong secret, 3 missing, 4 daemon without secret."""
    k = variant(0, 2) + bytes([event]) + variant(signature, 5) + bytes([header_names, int(alternate)])
    if delivery is not None:
        k += b"\x01" + arbitrary_str(delivery)
    return bytes([len(k)]) + k


def body(obj):
    return json.dumps(obj, indent=1, ensure_ascii=False).encode()


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data)


A = "9f3c1e2d4b5a69788796a5b4c3d2e1f001122334"
B = "5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b"
Z = "0" * 40
UUID = "f3c7a0d2-6b1e-4c8f-9a55-0e2d7c4b91aa"

# --- Gogs: push, create, delete (docs: gogs.io "Webhook", payload examples) -------------------
gogs_user = {"id": 1, "login": "alice", "full_name": "Alice Liddell", "email": "alice@example.com",
             "avatar_url": "https://git.example.com/avatars/1", "username": "alice"}
gogs_repo = {"id": 7, "owner": gogs_user, "name": "app", "full_name": "alice/app", "description": "",
             "private": False, "fork": False, "html_url": "https://git.example.com/alice/app",
             "ssh_url": "git@git.example.com:alice/app.git",
             "clone_url": "https://git.example.com/alice/app.git", "website": "", "stars_count": 0,
             "forks_count": 0, "watchers_count": 1, "open_issues_count": 0, "default_branch": "master",
             "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-03-04T05:06:07Z"}


def gogs_push(ref, before, after, message="Fix the build\n\nLonger text.\n"):
    commits = [] if after == Z else [{
        "id": after, "message": message,
        "url": f"https://git.example.com/alice/app/commit/{after}",
        "author": {"name": "Alice Liddell", "email": "alice@example.com", "username": "alice"},
        "committer": {"name": "Alice Liddell", "email": "alice@example.com", "username": "alice"},
        "timestamp": "2024-03-04T05:06:07Z"}]
    return {"ref": ref, "before": before, "after": after,
            "compare_url": f"https://git.example.com/alice/app/compare/{before}...{after}",
            "commits": commits, "repository": gogs_repo, "pusher": gogs_user, "sender": gogs_user}


def ref_event(ref, ref_type, sha=None):
    p = {"ref": ref, "ref_type": ref_type, "default_branch": "master", "repository": gogs_repo,
         "sender": gogs_user}
    if sha:
        p["sha"] = sha
    return p


t = "webhook_gogs"  # events: push, create, delete, release, issues
write(t, "push-branch", webhook_knobs(0, delivery=UUID) + body(gogs_push("refs/heads/master", B, A)))
write(t, "push-feature", webhook_knobs(0) + body(gogs_push("refs/heads/feature/login-form", Z, A, "wip")))
write(t, "push-test-delivery", webhook_knobs(0) + body(gogs_push("refs/heads/master", A, A)))
write(t, "push-branch-deleted", webhook_knobs(0) + body(gogs_push("refs/heads/old", A, Z)))
write(t, "push-wrong-secret", webhook_knobs(0, signature=2) + body(gogs_push("refs/heads/master", B, A)))
write(t, "create-tag", webhook_knobs(1) + body(ref_event("v1.2.0", "tag", A)))
write(t, "create-branch", webhook_knobs(1) + body(ref_event("next", "branch", A)))
write(t, "delete-tag", webhook_knobs(2) + body(ref_event("v0.9", "tag")))
write(t, "release", webhook_knobs(3) + body({"action": "published", "release": {
    "id": 3, "tag_name": "v1.2.0", "target_commitish": "master", "name": "1.2.0", "body": "",
    "draft": False, "prerelease": False}, "repository": gogs_repo, "sender": gogs_user}))
write(t, "push-unsigned", webhook_knobs(0, signature=4) + body(gogs_push("refs/tags/v2", B, A)))

# --- Gitea and Forgejo: push (with head_commit), tag push, create, delete -----------------------
gitea_user = {"id": 1, "login": "alice", "login_name": "", "full_name": "Alice Liddell",
              "email": "alice@example.com", "avatar_url": "https://gitea.example.com/avatars/1",
              "username": "alice"}
gitea_repo = dict(gogs_repo, owner=gitea_user, default_branch="main",
                  html_url="https://gitea.example.com/alice/app",
                  ssh_url="ssh://git@gitea.example.com:2222/alice/app.git",
                  clone_url="https://gitea.example.com/alice/app.git")


def gitea_push(ref, before, after, tag=False):
    commit = {"id": after, "message": "Add the parser\n", "url": f"https://gitea.example.com/alice/app/commit/{after}",
              "author": {"name": "Alice Liddell", "email": "alice@example.com", "username": "alice"},
              "committer": {"name": "Alice Liddell", "email": "alice@example.com", "username": "alice"},
              "verification": None, "timestamp": "2024-03-04T05:06:07Z", "added": ["parser.rs"],
              "removed": [], "modified": ["lib.rs"]}
    return {"ref": ref, "before": before, "after": after,
            "compare_url": "" if tag else f"https://gitea.example.com/alice/app/compare/{before}...{after}",
            "commits": [] if tag or after == Z else [commit], "total_commits": 0 if tag else 1,
            "head_commit": None if after == Z else commit, "repository": gitea_repo,
            "pusher": gitea_user, "sender": gitea_user}


t = "webhook_gitea"  # events: push, create, delete, release, pull_request
write(t, "push-branch", webhook_knobs(0, delivery=UUID) + body(gitea_push("refs/heads/main", B, A)))
write(t, "push-tag", webhook_knobs(0) + body(gitea_push("refs/tags/v1.0.0", Z, A, tag=True)))
write(t, "push-deleted", webhook_knobs(0) + body(gitea_push("refs/heads/topic", A, Z)))
write(t, "push-test-delivery", webhook_knobs(0) + body(gitea_push("refs/heads/main", Z, Z)))
write(t, "push-gogs-headers", webhook_knobs(0, header_names=1) + body(gitea_push("refs/heads/main", B, A)))
write(t, "create-tag", webhook_knobs(1) + body(ref_event("v1.0.0", "tag", A) | {"repository": gitea_repo}))
write(t, "delete-branch", webhook_knobs(2) + body(ref_event("topic", "branch") | {"repository": gitea_repo}))
write(t, "forgejo-push", webhook_knobs(0, alternate=True, delivery=UUID) + body(gitea_push("refs/heads/main", B, A)))
write(t, "forgejo-gitea-headers", webhook_knobs(0, header_names=1, alternate=True) + body(gitea_push("refs/heads/dev", B, A)))
write(t, "forgejo-push-tag", webhook_knobs(0, alternate=True) + body(gitea_push("refs/tags/v3", Z, B, tag=True)))

# --- GitHub: push, ping, create, delete (docs: "Webhook events and payloads") --------------------
gh_owner = {"name": "octo-org", "email": None, "login": "octo-org", "id": 6811672, "type": "Organization"}
gh_repo = {"id": 17273051, "node_id": "MDEwOlJlcG9zaXRvcnkxNzI3MzA1MQ==", "name": "octo-repo",
           "full_name": "octo-org/octo-repo", "private": True, "owner": gh_owner,
           "html_url": "https://github.com/octo-org/octo-repo", "fork": False,
           "url": "https://github.com/octo-org/octo-repo", "git_url": "git://github.com/octo-org/octo-repo.git",
           "ssh_url": "git@github.com:octo-org/octo-repo.git",
           "clone_url": "https://github.com/octo-org/octo-repo.git", "default_branch": "main",
           "master_branch": "main", "pushed_at": 1709528767}
gh_sender = {"login": "octocat", "id": 583231, "type": "User", "site_admin": False}


def gh_push(ref, before, after, deleted=False, created=False):
    commit = {"id": after, "tree_id": B, "distinct": True, "message": "Update README.md",
              "timestamp": "2024-03-04T05:06:07Z", "url": f"https://github.com/octo-org/octo-repo/commit/{after}",
              "author": {"name": "Mona Lisa", "email": "mona@example.com", "username": "octocat"},
              "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
              "added": [], "removed": [], "modified": ["README.md"]}
    return {"ref": ref, "before": before, "after": after, "repository": gh_repo,
            "pusher": {"name": "octocat", "email": "mona@example.com"}, "sender": gh_sender,
            "created": created, "deleted": deleted, "forced": False, "base_ref": None,
            "compare": f"https://github.com/octo-org/octo-repo/compare/{before[:12]}...{after[:12]}",
            "commits": [] if deleted else [commit], "head_commit": None if deleted else commit}


t = "webhook_github"  # events: push, ping, create, delete, pull_request
write(t, "push-branch", webhook_knobs(0, delivery=UUID) + body(gh_push("refs/heads/main", B, A)))
write(t, "push-new-branch", webhook_knobs(0) + body(gh_push("refs/heads/feature", Z, A, created=True)))
write(t, "push-tag", webhook_knobs(0) + body(gh_push("refs/tags/v1.0", Z, A, created=True)))
write(t, "push-deleted", webhook_knobs(0) + body(gh_push("refs/heads/feature", A, Z, deleted=True)))
write(t, "push-missing-signature", webhook_knobs(0, signature=3) + body(gh_push("refs/heads/main", B, A)))
write(t, "ping", webhook_knobs(1) + body({"zen": "Keep it logically awesome.", "hook_id": 30,
      "hook": {"type": "Repository", "id": 30, "name": "web", "active": True, "events": ["push"],
               "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://ci.example.com/hooks/github"}},
      "repository": gh_repo, "sender": gh_sender}))
write(t, "create-tag", webhook_knobs(2) + body({"ref": "v1.0", "ref_type": "tag", "master_branch": "main",
      "description": None, "pusher_type": "user", "repository": gh_repo, "sender": gh_sender}))
write(t, "delete-branch", webhook_knobs(3) + body({"ref": "feature", "ref_type": "branch",
      "pusher_type": "user", "repository": gh_repo, "sender": gh_sender}))

# --- GitLab: Push Hook, Tag Push Hook (docs: "Webhook events") ------------------------------------
gl_project = {"id": 15, "name": "Diaspora", "description": "", "web_url": "https://gitlab.example.com/mike/diaspora",
              "avatar_url": None, "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git",
              "git_http_url": "https://gitlab.example.com/mike/diaspora.git", "namespace": "Mike",
              "visibility_level": 0, "path_with_namespace": "mike/diaspora", "default_branch": "master",
              "homepage": "https://gitlab.example.com/mike/diaspora",
              "url": "git@gitlab.example.com:mike/diaspora.git",
              "ssh_url": "git@gitlab.example.com:mike/diaspora.git",
              "http_url": "https://gitlab.example.com/mike/diaspora.git"}


def gl_push(kind, ref, before, after, checkout=True, project=gl_project, message=None):
    commits = [] if after == Z else [{
        "id": after, "message": "Update Catalan translation to e38cb41.\n\nSee merge request !12",
        "title": "Update Catalan translation to e38cb41.", "timestamp": "2024-03-04T05:06:07+00:00",
        "url": f"{project['web_url']}/-/commit/{after}",
        "author": {"name": "Jordi Mallach", "email": "jordi@example.com"},
        "added": ["CHANGELOG"], "modified": ["app/controller/application.rb"], "removed": []}]
    p = {"object_kind": kind, "event_name": kind, "before": before, "after": after, "ref": ref,
         "ref_protected": True, "checkout_sha": (after if after != Z else None) if checkout else None,
         "message": message, "user_id": 4, "user_name": "John Smith", "user_username": "jsmith",
         "user_email": "john@example.com", "user_avatar": None, "project_id": project["id"],
         "project": project, "commits": commits, "total_commits_count": len(commits),
         "repository": {"name": project["name"], "url": project["url"], "description": "",
                        "homepage": project["homepage"], "git_http_url": project["git_http_url"],
                        "git_ssh_url": project["git_ssh_url"], "visibility_level": 0}}
    return p


sub = dict(gl_project, path_with_namespace="platform/backend/api", namespace="backend",
           web_url="https://gitlab.example.com/platform/backend/api",
           git_http_url="https://gitlab.example.com/platform/backend/api.git",
           git_ssh_url="git@gitlab.example.com:platform/backend/api.git")

t = "webhook_gitlab"  # events: Push Hook, Tag Push Hook, Merge Request Hook, System Hook
write(t, "push", webhook_knobs(0, delivery=UUID) + body(gl_push("push", "refs/heads/master", B, A)))
write(t, "push-subgroup", webhook_knobs(0, header_names=1, delivery=UUID) + body(gl_push("push", "refs/heads/main", B, A, project=sub)))
write(t, "push-deleted", webhook_knobs(0) + body(gl_push("push", "refs/heads/old", A, Z)))
write(t, "tag-push", webhook_knobs(1) + body(gl_push("tag_push", "refs/tags/v1.0.0", Z, B, message="Release 1.0.0")))
write(t, "tag-push-deleted", webhook_knobs(1) + body(gl_push("tag_push", "refs/tags/v0.1", B, Z)))
write(t, "push-wrong-token", webhook_knobs(0, signature=2) + body(gl_push("push", "refs/heads/master", B, A)))
write(t, "merge-request", webhook_knobs(2) + body({"object_kind": "merge_request", "event_type": "merge_request",
      "user": {"id": 1, "name": "Administrator", "username": "root"}, "project": gl_project,
      "object_attributes": {"id": 99, "iid": 1, "target_branch": "master", "source_branch": "ms-viewport",
                            "state": "opened", "last_commit": {"id": A, "message": "fixed readme"}}}))

# --- Bitbucket Cloud: repo:push (docs: "Event payloads") -----------------------------------------
bb_actor = {"display_name": "Emma Stone", "uuid": "{a5b2c3d4-1111-2222-3333-444455556666}",
            "nickname": "emma", "account_id": "557058:aa11bb22", "type": "user",
            "links": {"html": {"href": "https://bitbucket.org/%7Ba5b2c3d4%7D/"}}}
bb_repo = {"type": "repository", "full_name": "teamsinspace/documentation", "name": "documentation",
           "uuid": "{9f1e2d3c-aaaa-bbbb-cccc-ddddeeeeffff}", "is_private": True, "scm": "git",
           "links": {"html": {"href": "https://bitbucket.org/teamsinspace/documentation"}},
           "owner": {"type": "team", "username": "teamsinspace", "display_name": "Teams In Space"},
           "mainbranch": {"type": "branch", "name": "master"}, "website": None}


def bb_state(kind, name, sha):
    return {"type": kind, "name": name, "target": {
        "type": "commit", "hash": sha, "message": "Fix typo in the install guide\n",
        "date": "2024-03-04T05:06:07+00:00",
        "author": {"type": "author", "raw": "Emma Stone <emma@example.com>", "user": bb_actor},
        "links": {"html": {"href": f"https://bitbucket.org/teamsinspace/documentation/commits/{sha}"}}},
        "links": {"html": {"href": f"https://bitbucket.org/teamsinspace/documentation/branch/{name}"}}}


def bb_push(changes):
    return {"actor": bb_actor, "repository": bb_repo, "push": {"changes": changes}}


def change(new, old):
    return {"new": new, "old": old, "created": old is None, "closed": new is None, "forced": False,
            "truncated": False, "commits": [] if new is None else [{"hash": new["target"]["hash"], "type": "commit"}]}


t = "webhook_bitbucket"  # events: repo:push, pullrequest:created, :updated, :fulfilled, repo:fork
write(t, "push-branch", webhook_knobs(0, delivery=UUID) + body(bb_push([change(bb_state("branch", "master", A), bb_state("branch", "master", B))])))
write(t, "push-new-branch", webhook_knobs(0) + body(bb_push([change(bb_state("branch", "feature/x", A), None)])))
write(t, "push-tag", webhook_knobs(0) + body(bb_push([change(bb_state("tag", "v2.0", A), None)])))
write(t, "push-deleted", webhook_knobs(0) + body(bb_push([change(None, bb_state("branch", "old", B)),
                                                          change(None, bb_state("tag", "v0", B))])))
write(t, "push-no-changes", webhook_knobs(0) + body(bb_push([])))
bb_fork = dict(bb_repo, full_name="mallory/documentation")


def bb_pull(source_repo):
    return {"actor": bb_actor, "repository": bb_repo,
            "pullrequest": {"id": 1, "title": "Fix", "state": "OPEN",
                            "source": {"branch": {"name": "feature/x"}, "commit": {"hash": A[:12]},
                                       "repository": source_repo},
                            "destination": {"branch": {"name": "master"}, "commit": {"hash": B[:12]},
                                            "repository": bb_repo}}}


write(t, "pullrequest-created", webhook_knobs(1) + body(bb_pull(bb_repo)))
write(t, "pullrequest-updated-fork", webhook_knobs(2) + body(bb_pull(bb_fork)))
write(t, "pullrequest-fulfilled", webhook_knobs(3) + body(bb_pull(bb_repo)))

# --- .microci.json (README; the first microci's dockerimg/command, plus env and timeout) ---------
t = "repo_config"
for name, text in {
    "empty-object": "{}",
    "first-microci": '{"dockerimg": "debian:stable-slim", "command": "./ci.sh"}',
    "shell-command": '{"command": "make test && make lint"}',
    "exec-form": '{"dockerimg": "rust:1.85", "command": ["cargo", "test", "--locked"]}',
    "env-timeout": '{"dockerimg": "registry.example.com:5000/ci/build@sha256:' + "ab" * 32
                   + '", "command": "./ci.sh", "env": {"CI": "true", "RUST_LOG": "debug"}, "timeout": "15m 30s"}',
    "unknown-key": '{"dockerimage": "alpine:3", "comand": "true"}',
    "empty-command": '{"command": []}',
    "bad-image": '{"dockerimg": "-v /:/host alpine"}',
    "bad-timeout": '{"timeout": "forever"}',
    "non-string-arg": '{"command": ["sh", 1, null]}',
    "bad-env-key": '{"env": {"A=B": "1"}}',
    "not-json": "dockerimg: alpine\n",
}.items():
    write(t, name, text.encode())

# --- config.toml (README, packaging/config.toml's documented keys) -------------------------------
t = "config"
for name, text in {
    "empty": "",
    "minimal": '[webhook]\nsecret = "3f9a6c0e8b7d41f2a5c6e7d8"\n',
    "full": '''state_dir = "/var/lib/microci"

[http]
listen = "127.0.0.1:8080"
max_body = 1048576

[control]
socket = "/run/microci/control.sock"
group = "microci"

[docker]
max_jobs = 2
default_image = "debian:stable-slim"
host = "unix:///run/docker.sock"
workspace = "bind"
memory = "2g"
cpus = 1.5
pids = 1024
timeout = "1h"
stop_grace = "10s"
network = "none"
labels = { "com.example.owner" = "ci" }

[webhook]
secret = "0d1e2f3a4b5c6d7e8f90a1b2"

[git]
ssh_key = "/etc/microci/deploy_key"
known_hosts = "/etc/microci/known_hosts"
username = "microci"
token = "glpat-aaaabbbbccccdddd"
protocol = "http"
''',
    "repos": '''[webhook]
secret = "default-secret-value"

[[repo]]
name = "alice/app"
clone_url = "https://git.example.com/alice/app.git"
token = "tok-1234567890abcdef"
default_branch = "main"

[[repo]]
name = "platform/backend/api"
secret = "per-repo-secret-value"
ssh_key = "deploy_key"
protocol = "ssh"
''',
    "relative-paths": 'state_dir = "state"\n[control]\nsocket = "state/control.sock"\n[docker]\nworkspace = "copy"\nmemory = "512m"\n',
    "unknown-key": '[webhook]\nsecret = "abcdefgh12345678"\nsecrt = "typo"\n',
    "bad-values": '[docker]\nmax_jobs = 0\ncpus = -1\nmemory = "lots"\ntimeout = "soon"\n',
    "duplicate-repo": '[[repo]]\nname = "a/b"\n[[repo]]\nname = "a/b"\n',
    "syntax-error": '[webhook\nsecret = "unterminated\n',
    "engines": '''[[engine]]
name = "local"
host = "unix:///run/docker.sock"
labels = ["amd64"]

[[engine]]
name = "tls-1"
host = "tcp://10.0.0.5:2376"
max_jobs = 4
tls_ca = "/dev/null"
tls_cert = "/dev/null"
tls_key = "/dev/null"

[[engine]]
name = "arm"
host = "ssh://ci@[::1]:2222"
labels = ["arm64", "big"]
ssh_key = "/dev/null"
known_hosts = "/dev/null"

[[engine]]
name = "lo"
host = "tcp://127.0.0.1:2375"
insecure = true
''',
    "engines-refused": '[[engine]]\nname = "a/b"\nhost = "tcp://example.com:2375"\ninsecure = true\nworkspace = "bind"\n'
    '[[engine]]\nname = "x"\nhost = "ssh://-oProxyCommand=x"\n',
}.items():
    write(t, name, text.encode())

# --- control protocol frames (proto/PROTOCOL.md) -------------------------------------------------


def frame(obj):
    b = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return struct.pack(">I", len(b)) + b


SERVER_SIDE = b"\x00"              # n = 0: the daemon's decoder, all bytes at once
CLIENT_SIDE = b"\x01\x01"          # client_side = true
PIECES_OF_3 = b"\x03\x00\x03\x01"  # daemon side, bytes arriving three at a time

job = {"id": 42, "repo": "alice/app", "ref": "refs/heads/main", "commit": A, "message": "Fix the build",
       "author": "alice", "status": "FAILED", "reason": "exit code 2", "exit_code": 2,
       "created_at": "2024-03-04T05:06:07Z", "started_at": "2024-03-04T05:06:08Z",
       "finished_at": "2024-03-04T05:07:00Z", "trigger": "webhook", "log_size": 1234, "log_dropped": 10}
t = "codec"
requests = [
    {"id": 1, "type": "status"},
    {"id": 2, "type": "list_jobs", "limit": 50, "status": "FAILED", "repo": "alice/app", "search": "fix", "before": 100},
    {"id": 3, "type": "get_job", "job": 42},
    {"id": 4, "type": "read_log", "job": 42, "offset": 0, "max": 65536},
    {"id": 5, "type": "follow_log", "job": 42, "offset": 12},
    {"id": 6, "type": "watch_jobs"},
    {"id": 7, "type": "cancel", "job": 42},
    {"id": 8, "type": "retry", "job": 42},
    {"id": 9, "type": "run", "repo": "alice/app", "ref": "main"},
    {"id": 10, "type": "list_repos"},
    {"id": 11, "type": "unsubscribe", "subscription": 5},
]
for r in requests:
    write(t, "request-" + r["type"], SERVER_SIDE + frame(r))
write(t, "requests-in-pieces", PIECES_OF_3 + b"".join(frame(r) for r in requests[:4]))
replies = [
    {"type": "hello", "protocol": 1, "server_version": "0.1.0"},
    {"type": "ok", "id": 1, "reply": {"type": "status", "version": "0.1.0", "uptime_secs": 3600, "running": 1,
                                      "queued": 0, "max_jobs": 2, "docker_reachable": False,
                                      "docker_error": "connection refused", "warnings": ["webhook secret is empty"]}},
    {"type": "ok", "id": 2, "reply": {"type": "jobs", "jobs": [job]}},
    {"type": "ok", "id": 3, "reply": {"type": "job", "job": job}},
    {"type": "ok", "id": 4, "reply": {"type": "log", "id": 42, "offset": 0, "next_offset": 12, "data": "hello world\n"}},
    {"type": "ok", "id": 8, "reply": {"type": "created", "job": 43}},
    {"type": "ok", "id": 5, "reply": {"type": "subscribed"}},
    {"type": "ok", "id": 10, "reply": {"type": "repos", "repos": [{"name": "alice/app", "default_branch": "main",
                                                                   "clone_url": "https://git.example.com/alice/app.git"}]}},
    {"type": "ok", "id": 11, "reply": {"type": "done"}},
    {"type": "error", "id": 7, "code": "not_found", "message": "no job 42"},
    {"type": "event", "id": 5, "event": {"type": "log", "id": 42, "offset": 12, "next_offset": 20, "data": "\u001b[31mred\u001b[0m\n"}},
    {"type": "event", "id": 5, "event": {"type": "job", "job": job}},
    {"type": "event", "id": 6, "event": {"type": "lagged"}},
    {"type": "event", "id": 5, "event": {"type": "end"}},
]
for i, r in enumerate(replies):
    write(t, f"server-{i:02}-{r['type']}", CLIENT_SIDE + frame(r))
write(t, "oversized-length", SERVER_SIDE + struct.pack(">I", 1024 * 1024 + 1) + b'{"id":1')
write(t, "not-json", SERVER_SIDE + struct.pack(">I", 8) + b"\xff\xfenot js")
write(t, "short-frame", SERVER_SIDE + struct.pack(">I", 30) + b'{"id":1,"type":"st')

# --- TUI sanitiser: job output as programs print it -----------------------------------------------
t = "tui_sanitize"
PLAIN = b"\x00"             # colours kept, 80 columns
NO_COLOR_40 = b"\x02\x01\x28"  # no_color, 40 columns
for name, (knobs, text) in {
    "cargo-colours": (PLAIN, b"\x1b[0m\x1b[1m\x1b[32m   Compiling\x1b[0m microci v0.1.0\n\x1b[1m\x1b[31merror[E0308]\x1b[0m\x1b[1m: mismatched types\x1b[0m\n"),
    "256-and-truecolour": (PLAIN, b"\x1b[38;5;208morange\x1b[48;2;10;20;30m on rgb\x1b[39;49m plain \x1b[4;9mdeco\x1b[24;29m\n"),
    "progress-bar": (PLAIN, b"[#####     ] 50%\r[##########] 100%\r\n"),
    "title-and-hyperlink": (PLAIN, b"\x1b]0;pwned title\x07see \x1b]8;;https://example.com\x1b\\the docs\x1b]8;;\x1b\\ now\n"),
    "cursor-and-erase": (PLAIN, b"\x1b[2J\x1b[H\x1b[10;20Hmoved\x1b[K\x1b[?1049h\x1b[?25l\x1bc\x1b(B\x1b7\x1b8\n"),
    "dcs-and-c1": (PLAIN, "\x1bPq#0;2;0;0;0\x1b\\\u009b31mC1 CSI\u009dC1 OSC\u009c \u0090dcs\u009c done\n".encode()),
    "tabs-wide-combining": (NO_COLOR_40, "a\tb\tc\n日本語のテキスト\te\u0301\u0301 😀😀😀 \ufeffzero\u200bwidth\n".encode()),
    "invalid-utf8": (PLAIN, b"ok \xff\xfe\xc3( \xe2\x82 bytes\x00\x08\x7f end\n"),
    "unterminated": (NO_COLOR_40, b"colour \x1b[31;1;4"),
}.items():
    write(t, name, knobs + text)

print("seeds written under", SEEDS)
