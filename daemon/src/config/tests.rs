//! Config validation: defaults, keys named in every error, the webhook policy, credential
//! binding and container limits.
#![allow(clippy::unwrap_used)]

use super::*;

const GOOD: &str = "0123456789abcdef0123";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(
        Path::new("/etc/microci/config.toml"),
        text,
        &SystemdDirs::default(),
    )
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// A minimal valid config with one repository, plus `extra`.
fn with_repo(extra: &str) -> String {
    format!("[webhook]\nsecret = \"{GOOD}\"\n{extra}\n[[repo]]\nname = \"alice/app\"\n")
}

#[test]
fn defaults_fill_an_empty_file() {
    let c = parse("").unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/var/lib/microci"));
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.http.header_timeout, Duration::from_secs(10));
    assert_eq!(c.http.body_timeout, Duration::from_secs(10));
    assert_eq!(c.http.pages, Pages::Public);
    assert_eq!(c.socket, PathBuf::from("/run/microci/control.sock"));
    assert_eq!(c.docker.max_jobs, 2);
    assert_eq!(c.docker.default_image, "debian:stable-slim");
    assert_eq!(c.docker.helper_image, "debian:stable-slim");
    assert_eq!(c.docker.workspace, WorkspaceMode::Bind);
    assert_eq!(c.docker.max_log, 64 << 20);
    assert_eq!(c.docker.max_artifacts, 500 << 20);
    assert_eq!(c.docker.cache_max, 5 << 30);
    assert_eq!(c.docker.cap_drop, ["NET_RAW"]);
    assert!(!c.webhook.allow_unsigned && !c.webhook.allow_unlisted);
    assert!(
        c.warnings.iter().any(|w| w.contains("no [[repo]]")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn superseding_defaults_to_branches_and_pull_requests() {
    let c = parse(&with_repo("")).unwrap();
    assert!(c.cancel_superseded("alice/app", "refs/heads/main"));
    assert!(c.cancel_superseded("alice/app", "refs/pull/3/head"));
    assert!(!c.cancel_superseded("alice/app", "refs/tags/v1"));
    assert!(c.cancel_superseded("someone/else", "refs/heads/main"));
    let off = parse(&format!("{}cancel_superseded = false\n", with_repo(""))).unwrap();
    assert!(!off.cancel_superseded("alice/app", "refs/heads/main"));
    let on = parse(&format!("{}cancel_superseded = true\n", with_repo(""))).unwrap();
    assert!(on.cancel_superseded("alice/app", "refs/tags/v1"));
    let e = error(&format!("{}cancel_superseded = \"yes\"\n", with_repo("")));
    assert!(e.contains("cancel_superseded"), "{e}");
}

#[test]
fn typo_names_the_key() {
    let err = error("[docker]\nmax_job = 3\n");
    assert!(err.contains("max_job"), "{err}");
    let err = error("stat_dir = \"/x\"\n");
    assert!(err.contains("stat_dir"), "{err}");
    let err = error(&format!(
        "[[repo]]\nname = \"a/b\"\nsecret = \"{GOOD}\"\nsecrte = \"x\"\n"
    ));
    assert!(err.contains("secrte") && err.contains("line 4"), "{err}");
}

#[test]
fn bad_values_name_the_key() {
    for (text, key) in [
        ("[http]\nlisten = \"nowhere\"\n", "http.listen"),
        ("[http]\nheader_timeout = \"soon\"\n", "http.header_timeout"),
        ("[http]\nmax_connections = 0\n", "http.max_connections"),
        ("[docker]\ntimeout = \"soon\"\n", "docker.timeout"),
        ("[docker]\nmax_jobs = 0\n", "docker.max_jobs"),
        ("[docker]\nmemory = \"lots\"\n", "docker.memory"),
        ("[docker]\nmax_log = \"lots\"\n", "docker.max_log"),
        ("[docker]\ncache_max = \"big\"\n", "docker.cache_max"),
        (
            "[docker]\nmax_artifacts = \"lots\"\n",
            "docker.max_artifacts",
        ),
        (
            "[docker]\ntimeout = \"5h\"\nmax_timeout = \"2h\"\n",
            "docker.timeout",
        ),
        ("[docker]\ncap_add = [\"FLY\"]\n", "docker.cap_add"),
        ("[git]\nio_timeout = \"x\"\n", "git.io_timeout"),
        ("[git]\nhosts = [\"h:22\"]\n", "git.hosts"),
        ("[[repo]]\nname = \"../x\"\n", "repo[0].name"),
    ] {
        let err = error(text);
        assert!(err.contains(key), "{text:?}: {err}");
    }
}

#[test]
fn errors_never_repeat_a_secret() {
    let secret = "hunter2-hunter2-hunter2";
    for text in [
        format!("[webhook]\nsecret = \"{secret}\nallow_unsigned = true\n"),
        format!("[git]\ntoken = {secret}\n"),
        format!("[docker]\nmax_jobs = \"{secret}\"\n"),
        format!("[[repo]]\nname = \"a/b\"\ntoken = [\"{secret}\"]\n"),
        format!("[webhook]\nsecret = \"{secret}\"\nsecret = \"{secret}\"\n"),
    ] {
        let err = error(&text);
        assert!(!err.contains("hunter2"), "{text:?} -> {err}");
        assert!(err.contains("line "), "{err}");
    }
}

/// Found by fuzzing: a value quoted in a message (here a URL with a form feed) stays one plain
/// line, whatever control characters the file holds.
#[test]
fn quoted_values_are_escaped() {
    let err = error(&format!(
        "[webhook]\nsecret = \"{GOOD}\"\n[[repo]]\nname = \"a/b\"\n\
         clone_url = \"https://git.e9\\fple.com/a/b.git\"\ntoken = \"tok-1234567890\"\n"
    ));
    assert!(err.contains("e9\\u{c}ple"), "{err}");
    assert!(!err.chars().any(char::is_control), "{err:?}");
}

#[test]
fn weak_secrets_refuse_to_start() {
    // Empty global secret with a repository that has none of its own.
    let err = error("[[repo]]\nname = \"alice/app\"\n");
    assert!(
        err.contains("webhook.secret") && err.contains("is empty"),
        "{err}"
    );
    assert!(err.contains("alice/app"), "{err}");
    // The shipped placeholder, and a short one.
    let err = error("[webhook]\nsecret = \"change-me\"\n[[repo]]\nname = \"a/b\"\n");
    assert!(err.contains("placeholder"), "{err}");
    let err = error("[webhook]\nsecret = \"s3cret\"\n");
    assert!(err.contains("shorter than 16 bytes"), "{err}");
    // A repository's own weak secret is named by its key.
    let err = error(&format!(
        "[webhook]\nsecret = \"{GOOD}\"\n[[repo]]\nname = \"a/b\"\nsecret = \"short\"\n"
    ));
    assert!(err.contains("repo[0].secret"), "{err}");
    // Unlisted repositories fall back to the global secret.
    let err = error(
        "[webhook]\nallow_unlisted = true\nclone_hosts = [\"git.example.com\"]\n\
         [[repo]]\nname = \"a/b\"\nsecret = \"0123456789abcdef\"\n",
    );
    assert!(
        err.contains("webhook.secret") && err.contains("unlisted"),
        "{err}"
    );
    // Every repository with a good secret of its own: an empty global is fine.
    let c = parse(&format!("[[repo]]\nname = \"a/b\"\nsecret = \"{GOOD}\"\n")).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.secret_for(Some("a/b")).expose(), GOOD);
    assert_eq!(c.secret_for(Some("x/y")).expose(), "");
}

#[test]
fn allow_unsigned_starts_with_a_warning() {
    let c = parse("[webhook]\nallow_unsigned = true\n[[repo]]\nname = \"alice/app\"\n").unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("allow_unsigned") && c.warnings[0].contains("alice/app"));
}

#[test]
fn unlisted_repositories_need_clone_hosts() {
    let err = error(&format!(
        "[webhook]\nsecret = \"{GOOD}\"\nallow_unlisted = true\n"
    ));
    assert!(err.contains("webhook.clone_hosts"), "{err}");
    let c = parse(&format!(
        "[webhook]\nsecret = \"{GOOD}\"\nallow_unlisted = true\nclone_hosts = [\"git.example.com\", \"http://127.0.0.1:3000\"]\n"
    ))
    .unwrap();
    assert!(
        c.webhook
            .clone_host_allowed("https://git.example.com/a/b.git")
    );
    assert!(c.webhook.clone_host_allowed("git@git.example.com:a/b.git"));
    assert!(
        c.webhook
            .clone_host_allowed("http://127.0.0.1:3000/a/b.git")
    );
    assert!(
        !c.webhook
            .clone_host_allowed("http://git.example.com/a/b.git")
    );
    assert!(
        !c.webhook
            .clone_host_allowed("https://evil.example.com/a/b.git")
    );
    assert!(c.warnings.iter().any(|w| w.contains("allow_unlisted")));
}

#[test]
fn global_credentials_need_hosts_and_stay_there() {
    let err = error(&with_repo("[git]\ntoken = \"t\"\n"));
    assert!(err.contains("git.hosts"), "{err}");
    let c = parse(&with_repo(
        "[git]\ntoken = \"t\"\nusername = \"u\"\nhosts = [\"git.example.com\"]\n",
    ))
    .unwrap();
    let creds = c.credentials_for("alice/app");
    assert_eq!(creds.token.as_deref(), Some("t"));
    assert_eq!(
        creds.origins,
        Origin::parse_entry("git.example.com").unwrap()
    );
    assert!(!creds.allow_insecure_http);
    assert!(!format!("{creds:?}").contains("\"t\""));
}

#[test]
fn repository_credentials_are_bound_to_their_clone_url() {
    let c = parse(&format!(
        "[webhook]\nsecret = \"{GOOD}\"\n\
         [git]\ntoken = \"global\"\nhosts = [\"git.example.com\"]\n\
         [[repo]]\nname = \"a/b\"\nclone_url = \"https://ci:repo-tok@forge.example.com:3000/a/b.git\"\n"
    ))
    .unwrap();
    let r = &c.repos["a/b"];
    assert_eq!(
        r.clone_url.as_deref(),
        Some("https://forge.example.com:3000/a/b.git"),
        "the stored URL carries no credentials"
    );
    let creds = c.credentials_for("a/b");
    assert_eq!(
        creds.token.as_deref(),
        Some("repo-tok"),
        "no fallback to global"
    );
    assert_eq!(creds.username.as_deref(), Some("ci"));
    assert_eq!(
        creds.origins,
        vec![Origin::of_url("https://forge.example.com:3000/").unwrap()]
    );
    assert_eq!(
        c.clone_url_for("a/b", "https://elsewhere/a/b.git", None),
        "https://forge.example.com:3000/a/b.git"
    );
}

#[test]
fn repository_credentials_need_somewhere_to_go() {
    let err = error(&with_repo("[[repo]]\nname = \"b/c\"\ntoken = \"t\"\n"));
    assert!(err.contains("repo[0].clone_url"), "{err}");
    let err = error(&with_repo(
        "[[repo]]\nname = \"b/c\"\ntoken = \"t\"\nclone_url = \"http://h/b/c.git\"\n",
    ));
    assert!(err.contains("cleartext"), "{err}");
    parse(&with_repo(
        "[git]\nallow_insecure_http = true\n\
         [[repo]]\nname = \"b/c\"\ntoken = \"t\"\nclone_url = \"http://h/b/c.git\"\n",
    ))
    .unwrap();
    let err = error(&with_repo(
        "[[repo]]\nname = \"b/c\"\ntoken = \"t\"\nclone_url = \"https://u:p@h/b/c.git\"\n",
    ));
    assert!(err.contains("not both"), "{err}");
}

#[test]
fn clone_url_choice_and_redaction() {
    let c = parse(&with_repo(
        "[git]\nssh_key = \"/k\"\nhosts = [\"h\"]\nknown_hosts = \"/kh\"\n",
    ))
    .unwrap();
    assert_eq!(
        c.clone_url_for("x/y", "https://tok@h/x/y.git", Some("git@h:x/y.git")),
        "git@h:x/y.git",
        "a deploy key and no token: SSH"
    );
    let c = parse(&with_repo("")).unwrap();
    assert_eq!(
        c.clone_url_for("x/y", "https://tok@h/x/y.git?t=1", Some("git@h:x/y.git")),
        "https://h/x/y.git"
    );
}

#[test]
fn capabilities() {
    let c = parse("[docker]\ncap_add = [\"cap_net_raw\"]\ncap_drop = [\"NET_RAW\", \"MKNOD\"]\n")
        .unwrap();
    assert_eq!(c.docker.cap_add, ["NET_RAW"]);
    assert_eq!(c.docker.cap_drop, ["MKNOD"]);
    for cap in ["SYS_ADMIN", "ALL", "SYS_PTRACE", "NET_ADMIN"] {
        let err = error(&format!("[docker]\ncap_add = [\"{cap}\"]\n"));
        assert!(err.contains("allow_dangerous_caps"), "{cap}: {err}");
    }
    let c = parse("[docker]\ncap_add = [\"SYS_PTRACE\"]\nallow_dangerous_caps = true\n").unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("SYS_PTRACE")));
}

#[test]
fn systemd_directories_apply_when_file_is_silent() {
    let dirs = SystemdDirs {
        state: Some("/var/lib/microci-x".into()),
        runtime: Some("/run/microci-x".into()),
        configuration: Some("/etc/microci-x".into()),
    };
    let c = Config::parse(Path::new("/c.toml"), "", &dirs).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/var/lib/microci-x"));
    assert_eq!(c.socket, PathBuf::from("/run/microci-x/control.sock"));
    assert_eq!(
        dirs.config_path(None),
        PathBuf::from("/etc/microci-x/config.toml")
    );
    let c = Config::parse(Path::new("/c.toml"), "state_dir = \"/s\"", &dirs).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/s"));
}

#[test]
fn shipped_examples_parse_as_documented() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging");
    // The installed example refuses to start until its placeholder secret is replaced.
    let err = Config::load(&here.join("config.toml"), &SystemdDirs::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhook.secret"), "{err}");
    // The local trial config starts.
    Config::load(&here.join("config.local.toml"), &SystemdDirs::default()).unwrap();
}

#[test]
fn forge_status_settings_are_checked_and_tokens_bound_to_their_api() {
    let secret = "[webhook]\nsecret = \"0123456789abcdef0123\"\n";
    let with = |more: &str| format!("{secret}{more}");
    assert!(
        error(&with("[forge.gogs]\ntoken = \"t\"\n")).contains("Gogs has no commit status API")
    );
    assert!(error(&with("[forge.gitea]\ntoken = \"t\"\n")).contains("forge.gitea.api_url"));
    let plain = error(&with(
        "[forge.github]\napi_url = \"http://github.example.com\"\n",
    ));
    assert!(plain.contains("must be https://"), "{plain}");
    let bitbucket = error(&with("[forge.bitbucket]\ntoken = \"t\"\n"));
    assert!(bitbucket.contains("http.public_url"), "{bitbucket}");
    let c = parse(&with(
        "[forge.gitea]\napi_url = \"http://127.0.0.1:3000/api/v1/\"\ntoken = \"forge-status-tok3n\"\n\
         [forge.github]\ncontext = \"ci/microci\"\n\
         [[repo]]\nname = \"a/b\"\nstatus_token = \"repo-status-tok3n\"\n",
    ))
    .unwrap();
    let to = c.reporter("a/b", "gitea").unwrap();
    assert_eq!(to.api_url, "http://127.0.0.1:3000/api/v1");
    assert_eq!(
        to.token.expose(),
        "repo-status-tok3n",
        "the repository's token wins"
    );
    assert_eq!(
        c.reporter("c/d", "gitea").unwrap().token.expose(),
        "forge-status-tok3n"
    );
    // GitHub: the public API by default, but no token anywhere for c/d: nothing is reported.
    assert!(c.reporter("c/d", "github").is_none());
    let gh = c.reporter("a/b", "github").unwrap();
    assert_eq!(
        (gh.api_url.as_str(), gh.context.as_str()),
        ("https://api.github.com", "ci/microci")
    );
    assert!(c.reporter("a/b", "gogs").is_none());
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("status-tok3n"),
        "Debug shows no token: {shown}"
    );
}

#[test]
fn base_path_is_a_plain_url_path() {
    assert_eq!(parse("").unwrap().http.base_path, "");
    for (given, read) in [
        ("/ci", "/ci"),
        ("/ci/", "/ci"),
        ("/", ""),
        ("/a/b-c_d.e", "/a/b-c_d.e"),
    ] {
        let c = parse(&format!("[http]\nbase_path = \"{given}\"\n")).unwrap();
        assert_eq!(c.http.base_path, read, "{given}");
    }
    for bad in ["ci", "/c i", "/ci\\\"><script>", "/a//b", "/a/../b", "/%2e"] {
        let e = parse(&format!("[http]\nbase_path = \"{bad}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.base_path"), "{bad}: {e}");
    }
}
