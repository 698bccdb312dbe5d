//! `[[notify]]` validation: every mistake names its key, secrets come only from files or the
//! environment, and entries cover the repositories and branches their globs say.
#![allow(clippy::unwrap_used)]

use super::*;

const GOOD: &str = "0123456789abcdef0123";

fn parse(notify: &str) -> Result<Config, ConfigError> {
    let text =
        format!("[webhook]\nsecret = \"{GOOD}\"\n{notify}\n[[repo]]\nname = \"alice/app\"\n");
    Config::parse(
        Path::new("/etc/microci/config.toml"),
        &text,
        &SystemdDirs::default(),
    )
}

fn error(notify: &str) -> String {
    parse(notify).unwrap_err().to_string()
}

#[test]
fn bad_entries_name_the_key() {
    let cases = [
        (
            "[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nevents = [\"broken\"]\n",
            "notify[0].events: \"broken\" is not an event",
        ),
        (
            "[[notify]]\nkind = \"pager\"\n",
            "notify[0].kind: \"pager\" is not a kind (email, webhook, command)",
        ),
        (
            "[[notify]]\nto = \"a@example.com\"\n",
            "notify[0].kind: is required",
        ),
        (
            "[[notify]]\nkind = \"email\"\n",
            "notify[0].to: is required",
        ),
        (
            "[[notify]]\nkind = \"email\"\nto = \"not an address\"\n",
            "notify[0].to: \"not an address\" is not a mail address",
        ),
        (
            "[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nsmtp = \"relay:x\"\n",
            "notify[0].smtp:",
        ),
        (
            "[[notify]]\nkind = \"webhook\"\nurl = \"http://example.com/hook\"\n",
            "notify[0].url: \"http://example.com/hook\" must be https://",
        ),
        (
            "[[notify]]\nkind = \"webhook\"\nurl = \"not a url\"\n",
            "notify[0].url: \"not a url\"",
        ),
        (
            "[[notify]]\nkind = \"webhook\"\n",
            "notify[0].url: is required",
        ),
        (
            "[[notify]]\nkind = \"webhook\"\nurl = \"https://ntfy.sh\"\nformat = \"ntfy\"\n",
            "notify[0].topic: format = \"ntfy\" needs the topic",
        ),
        (
            "[[notify]]\nkind = \"webhook\"\nurl = \"https://x.example\"\nto = \"a@b.c\"\n",
            "notify[0].to: is not a setting of kind = \"webhook\"",
        ),
        (
            "[[notify]]\nkind = \"command\"\ncommand = [\"notify-send\"]\n",
            "notify[0].command: \"notify-send\": give the program's absolute path",
        ),
        (
            "[[notify]]\nkind = \"command\"\n",
            "notify[0].command: is required",
        ),
        (
            "[[notify]]\nkind = \"command\"\ncommand = [\"/bin/true\"]\ntimeout = \"soon\"\n",
            "notify[0].timeout",
        ),
        (
            "[[notify]]\nkind = \"command\"\ncommand = [\"/bin/true\"]\nbranches = [\"[\"]\n",
            "notify[0].branches: \"[\" is not a glob",
        ),
        (
            "[[notify]]\nkind = \"command\"\ncommand = [\"/bin/true\"]\nsurprise = 1\n",
            "unknown field `surprise`",
        ),
        (
            "[[notify]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"/bin/true\"]\n\
             [[notify]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"/bin/true\"]\n",
            "notify[1].name: \"x\" is used by two [[notify]] entries",
        ),
    ];
    for (notify, want) in cases {
        let e = error(notify);
        assert!(e.contains(want), "{notify}\n→ {e}\nwant {want}");
    }
}

#[test]
fn passwords_are_never_written_in_the_config() {
    let e = error(
        "[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nusername = \"ci\"\n\
         password = \"hunter2hunter2\"\n",
    );
    assert!(
        e.contains("notify[0].password: never write it in the config"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = error(
        "[[notify]]\nkind = \"webhook\"\nurl = \"https://x.example\"\nsecret = \"s3cr3t-value\"\n",
    );
    assert!(
        e.contains("notify[0].secret: never write it in the config"),
        "{e}"
    );
    assert!(!e.contains("s3cr3t"), "{e}");
    let e = error(
        "[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nusername = \"ci\"\n\
         password_file = \"/nonexistent/smtp-password\"\n",
    );
    assert!(
        e.contains("notify[0].password_file: /nonexistent/smtp-password:"),
        "{e}"
    );
    let e = error(
        "[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nusername = \"ci\"\n\
         password_env = \"MICROCI_TEST_SURELY_UNSET_VARIABLE\"\n",
    );
    assert!(
        e.contains("notify[0].password_env: the environment variable MICROCI_TEST_SURELY_UNSET_VARIABLE is not set"),
        "{e}"
    );
    let e = error("[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nusername = \"ci\"\n");
    assert!(e.contains("notify[0].password_file"), "{e}");
}

#[test]
fn secrets_come_from_files_and_entries_cover_what_their_globs_say() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "  letmein-please\n").unwrap();
    let c = parse(&format!(
        "[[notify]]\nname = \"team\"\nkind = \"email\"\nto = [\"a@example.com\", \"B <b@example.com>\"]\n\
         smtp = \"mail.example.com:587\"\nstarttls = true\nusername = \"ci\"\npassword_file = \"{}\"\n\
         repos = [\"alice/*\"]\nbranches = [\"main\", \"release/*\"]\n\
         [[notify]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"slack\"\n\
         events = [\"started\", \"succeeded\"]\n",
        file.display()
    ))
    .unwrap();
    let team = c.notify_named("team").unwrap();
    assert_eq!(team.events, [Event::Failed, Event::Errored, Event::Fixed]);
    let NotifyKind::Email(e) = &team.kind else {
        panic!("{:?}", team.kind)
    };
    assert_eq!(
        (e.host.as_str(), e.port, e.starttls),
        ("mail.example.com", 587, true)
    );
    let (user, pw) = e.auth.as_ref().unwrap();
    assert_eq!((user.as_str(), pw.expose()), ("ci", "letmein-please"));
    assert!(!format!("{c:?}").contains("letmein"));
    assert!(team.covers("alice/app", "refs/heads/main"));
    assert!(team.covers("alice/app", "refs/heads/release/2"));
    assert!(!team.covers("alice/app", "refs/heads/feature"));
    assert!(!team.covers("alice/app", "refs/tags/v1"));
    assert!(!team.covers("bob/app", "refs/heads/main"));
    let hook = c.notify_named("webhook-1").unwrap();
    assert_eq!(hook.events, [Event::Started, Event::Succeeded]);
    assert!(hook.covers("bob/app", "refs/tags/v1"));

    // A password over plain SMTP only to this machine.
    let plain = |host: &str| {
        parse(&format!(
            "[[notify]]\nkind = \"email\"\nto = \"a@example.com\"\nsmtp = \"{host}:25\"\n\
             username = \"ci\"\npassword_file = \"{}\"\n",
            file.display()
        ))
    };
    let e = plain("mail.example.com").unwrap_err().to_string();
    assert!(
        e.contains("notify[0].starttls: a password for \"mail.example.com\" would cross"),
        "{e}"
    );
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        assert!(plain(host).is_ok(), "{host}");
    }
}
