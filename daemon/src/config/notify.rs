//! `[[notify]]`: who hears of which jobs. Each entry picks events (`failed`, `errored`, `fixed`,
//! `succeeded`, `started`), repositories and branches (globs), and one kind of delivery: an
//! `email` through an SMTP relay, a `webhook` POST (plain job JSON, or a Slack, Matrix or ntfy
//! body), or a `command` run with the job's JSON on stdin. Passwords and signing secrets are
//! read from a file or the environment, never written in the config.

use super::credentials::KeyError;
use super::filter::{Globs, globs};
use super::webhook::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A job ended FAILED.
    Failed,
    /// A job ended ERRORED.
    Errored,
    /// A job succeeded and the branch's previous finished job had not.
    Fixed,
    /// A job succeeded.
    Succeeded,
    /// A job started.
    Started,
}

impl Event {
    /// Every event, by its name in the config and the outbox.
    pub const ALL: [Event; 5] = [
        Event::Failed,
        Event::Errored,
        Event::Fixed,
        Event::Succeeded,
        Event::Started,
    ];

    /// The name in the config, the outbox and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Failed => "failed",
            Event::Errored => "errored",
            Event::Fixed => "fixed",
            Event::Succeeded => "succeeded",
            Event::Started => "started",
        }
    }

    /// The event of that name.
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Which body a `webhook` notification POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The job document (`{"event", "job", "url"}`).
    Json,
    /// Slack incoming webhooks (and Mattermost, Rocket.Chat): `{"text"}`.
    Slack,
    /// Matrix hookshot generic webhooks: `{"text", "html"}`.
    Matrix,
    /// ntfy's JSON publishing: `{"topic", "title", "message", "tags", "click"}`.
    Ntfy,
}

/// How one entry delivers.
#[derive(Debug, Clone)]
pub enum NotifyKind {
    /// Mail through an SMTP relay.
    Email(Email),
    /// An HTTP POST.
    Webhook(Webhook),
    /// A program run without a shell.
    Command(Command),
}

impl NotifyKind {
    /// `email`, `webhook` or `command`.
    pub fn name(&self) -> &'static str {
        match self {
            NotifyKind::Email(_) => "email",
            NotifyKind::Webhook(_) => "webhook",
            NotifyKind::Command(_) => "command",
        }
    }
}

/// `kind = "email"`.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipients, as written (`Name <a@b>` or `a@b`), checked.
    pub to: Vec<String>,
    /// The sender.
    pub from: String,
    /// Relay host.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Require STARTTLS before anything else is said (the relay's certificate is verified).
    pub starttls: bool,
    /// SMTP AUTH user and password, when set.
    pub auth: Option<(String, Secret)>,
}

/// `kind = "webhook"`.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Where to POST.
    pub url: String,
    /// The body's shape.
    pub format: WebhookFormat,
    /// The ntfy topic (`format = "ntfy"`).
    pub topic: Option<String>,
    /// Key of the `X-Microci-Signature: sha256=…` header, when set.
    pub secret: Option<Secret>,
}

/// `kind = "command"`.
#[derive(Debug, Clone)]
pub struct Command {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// How long it may run before it is killed.
    pub timeout: Duration,
    /// Its whole environment (nothing of the daemon's is passed on).
    pub env: Vec<(String, String)>,
}

/// One `[[notify]]` entry, validated.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The entry's name, as the outbox and `show` know it.
    pub name: String,
    /// Events it wants.
    pub events: Vec<Event>,
    /// Repositories it covers (`None`: all).
    repos: Option<Globs>,
    /// Branches it covers (`None`: every ref, tags and pull requests included).
    branches: Option<Globs>,
    /// How it delivers.
    pub kind: NotifyKind,
}

impl Notify {
    /// Whether jobs of `repo` at `git_ref` concern this entry.
    pub fn covers(&self, repo: &str, git_ref: &str) -> bool {
        let repo_ok = self.repos.as_ref().is_none_or(|g| g.is_match(repo));
        let branch_ok = match (&self.branches, git_ref.strip_prefix("refs/heads/")) {
            (None, _) => true,
            (Some(g), Some(branch)) => g.is_match(branch),
            (Some(_), None) => false,
        };
        repo_ok && branch_ok
    }
}

/// A string or a list of them (`to = "a@b"` or `to = ["a@b", "c@d"]`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    name: Option<String>,
    kind: Option<String>,
    events: Option<Vec<String>>,
    repos: Option<Vec<String>>,
    branches: Option<Vec<String>>,
    to: Option<OneOrMany>,
    from: Option<String>,
    smtp: Option<String>,
    starttls: Option<bool>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    url: Option<String>,
    format: Option<WebhookFormat>,
    topic: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    command: Option<Vec<String>>,
    timeout: Option<String>,
    env: Option<HashMap<String, String>>,
}

/// The events of an entry that names none.
const DEFAULT_EVENTS: [Event; 3] = [Event::Failed, Event::Errored, Event::Fixed];

/// Validates every `[[notify]]`.
pub(super) fn notify_entries(raw: Vec<RawNotify>) -> Result<Vec<Notify>, KeyError> {
    let mut out: Vec<Notify> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let n = entry(&format!("notify[{i}]"), i, r)?;
        if out.iter().any(|o| o.name == n.name) {
            return Err((
                format!("notify[{i}].name"),
                format!("{:?} is used by two [[notify]] entries", n.name),
            ));
        }
        out.push(n);
    }
    Ok(out)
}

fn entry(key: &str, index: usize, r: RawNotify) -> Result<Notify, KeyError> {
    let k = |field: &str| format!("{key}.{field}");
    let kind_name = r.kind.clone().ok_or_else(|| {
        (
            k("kind"),
            "is required: \"email\", \"webhook\" or \"command\"".to_string(),
        )
    })?;
    let name = r
        .name
        .clone()
        .unwrap_or_else(|| format!("{kind_name}-{index}"));
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err((k("name"), "must be 1 to 64 printable characters".into()));
    }
    let events = match &r.events {
        None => DEFAULT_EVENTS.to_vec(),
        Some(list) if list.is_empty() => {
            return Err((k("events"), "must name at least one event".into()));
        }
        Some(list) => list
            .iter()
            .map(|e| {
                Event::parse(e).ok_or_else(|| {
                    (
                        k("events"),
                        format!(
                            "{e:?} is not an event (failed, errored, fixed, succeeded, started)"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let repos = r.repos.clone().map(|g| globs(&k("repos"), g)).transpose()?;
    let branches = r
        .branches
        .clone()
        .map(|g| globs(&k("branches"), g))
        .transpose()?;
    let kind = match kind_name.as_str() {
        "email" => NotifyKind::Email(email(&k, r)?),
        "webhook" => NotifyKind::Webhook(webhook(&k, r)?),
        "command" => NotifyKind::Command(command(&k, r)?),
        other => {
            return Err((
                k("kind"),
                format!("{other:?} is not a kind (email, webhook, command)"),
            ));
        }
    };
    Ok(Notify {
        name,
        events,
        repos,
        branches,
        kind,
    })
}

/// Refuses keys of another kind, naming the first.
fn only(k: &dyn Fn(&str) -> String, kind: &str, set: &[(&str, bool)]) -> Result<(), KeyError> {
    match set.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err((k(field), format!("is not a setting of kind = \"{kind}\""))),
        None => Ok(()),
    }
}

fn email(k: &dyn Fn(&str) -> String, r: RawNotify) -> Result<Email, KeyError> {
    only(
        k,
        "email",
        &[
            ("url", r.url.is_some()),
            ("format", r.format.is_some()),
            ("topic", r.topic.is_some()),
            ("secret", r.secret.is_some()),
            ("secret_file", r.secret_file.is_some()),
            ("secret_env", r.secret_env.is_some()),
            ("command", r.command.is_some()),
            ("timeout", r.timeout.is_some()),
            ("env", r.env.is_some()),
        ],
    )?;
    let to = match r.to {
        None => return Err((k("to"), "is required: who gets the mail".into())),
        Some(OneOrMany::One(a)) => vec![a],
        Some(OneOrMany::Many(list)) => list,
    };
    if to.is_empty() {
        return Err((k("to"), "must name at least one address".into()));
    }
    for a in &to {
        a.parse::<lettre::message::Mailbox>()
            .map_err(|e| (k("to"), format!("{a:?} is not a mail address: {e}")))?;
    }
    let from = r
        .from
        .unwrap_or_else(|| "microci <microci@localhost>".into());
    from.parse::<lettre::message::Mailbox>()
        .map_err(|e| (k("from"), format!("{from:?} is not a mail address: {e}")))?;
    let relay = r.smtp.unwrap_or_else(|| "localhost:25".into());
    let (host, port) = match relay.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => match p.parse::<u16>() {
            Ok(p) if p > 0 => (h.trim_matches(['[', ']']).to_string(), p),
            _ => return Err((k("smtp"), format!("{relay:?}: the port is not a number"))),
        },
        _ => (relay.clone(), 25),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((k("smtp"), format!("{relay:?} is not host:port")));
    }
    let password = secret(k, "password", r.password, r.password_file, r.password_env)?;
    let auth = match (r.username, password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => {
            return Err((
                k("password_file"),
                "username is set: the password comes from password_file or password_env".into(),
            ));
        }
        (None, Some(_)) => {
            return Err((k("username"), "a password is set: who is it for?".into()));
        }
    };
    let starttls = r.starttls.unwrap_or(false);
    // A password over plain SMTP crosses the network readable: only to this machine.
    if auth.is_some() && !starttls && !is_loopback(&host) {
        return Err((
            k("starttls"),
            format!(
                "a password for {host:?} would cross the network in clear text: set \
                 starttls = true (plain SMTP with a password is for a relay on this machine)"
            ),
        ));
    }
    Ok(Email {
        to,
        from,
        host,
        port,
        starttls,
        auth,
    })
}

/// `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn webhook(k: &dyn Fn(&str) -> String, r: RawNotify) -> Result<Webhook, KeyError> {
    only(
        k,
        "webhook",
        &[
            ("to", r.to.is_some()),
            ("from", r.from.is_some()),
            ("smtp", r.smtp.is_some()),
            ("starttls", r.starttls.is_some()),
            ("username", r.username.is_some()),
            ("password_file", r.password_file.is_some()),
            ("password_env", r.password_env.is_some()),
            ("command", r.command.is_some()),
            ("timeout", r.timeout.is_some()),
            ("env", r.env.is_some()),
        ],
    )?;
    let url = r
        .url
        .ok_or_else(|| (k("url"), "is required: where to POST".to_string()))?;
    super::status::check_url(&k("url"), &url)?;
    let format = r.format.unwrap_or(WebhookFormat::Json);
    let topic = match (format, r.topic) {
        (WebhookFormat::Ntfy, None) => {
            return Err((k("topic"), "format = \"ntfy\" needs the topic".into()));
        }
        (WebhookFormat::Ntfy, Some(t)) => Some(t),
        (_, Some(_)) => {
            return Err((k("topic"), "is only for format = \"ntfy\"".into()));
        }
        (_, None) => None,
    };
    Ok(Webhook {
        url,
        format,
        topic,
        secret: secret(k, "secret", r.secret, r.secret_file, r.secret_env)?,
    })
}

fn command(k: &dyn Fn(&str) -> String, r: RawNotify) -> Result<Command, KeyError> {
    only(
        k,
        "command",
        &[
            ("to", r.to.is_some()),
            ("from", r.from.is_some()),
            ("smtp", r.smtp.is_some()),
            ("starttls", r.starttls.is_some()),
            ("username", r.username.is_some()),
            ("password", r.password.is_some()),
            ("password_file", r.password_file.is_some()),
            ("password_env", r.password_env.is_some()),
            ("url", r.url.is_some()),
            ("format", r.format.is_some()),
            ("topic", r.topic.is_some()),
            ("secret", r.secret.is_some()),
            ("secret_file", r.secret_file.is_some()),
            ("secret_env", r.secret_env.is_some()),
        ],
    )?;
    let argv = r.command.unwrap_or_default();
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err((
            k("command"),
            "is required: the program and its arguments, e.g. [\"/usr/local/bin/notify\", \"--ci\"]"
                .into(),
        ));
    }
    if !argv[0].starts_with('/') {
        return Err((
            k("command"),
            format!("{:?}: give the program's absolute path", argv[0]),
        ));
    }
    let timeout = super::docker::duration(&k("timeout"), r.timeout, Duration::from_secs(30))?;
    let mut env: Vec<(String, String)> = r.env.unwrap_or_default().into_iter().collect();
    env.sort();
    for (name, _) in &env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err((k("env"), format!("{name:?} is not a variable name")));
        }
    }
    Ok(Command { argv, timeout, env })
}

/// A password or signing secret: from `<what>_file` (its content, trimmed) or `<what>_env`; a
/// value written in the config itself is refused.
fn secret(
    k: &dyn Fn(&str) -> String,
    what: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    env: Option<String>,
) -> Result<Option<Secret>, KeyError> {
    if inline.is_some() {
        return Err((
            k(what),
            format!(
                "never write it in the config: put it in a file readable only by microci \
                 ({what}_file) or in the daemon's environment ({what}_env)"
            ),
        ));
    }
    let value = match (file, env) {
        (Some(_), Some(_)) => {
            return Err((
                k(&format!("{what}_env")),
                format!("set {what}_file or {what}_env, not both"),
            ));
        }
        (Some(path), None) => std::fs::read_to_string(&path).map_err(|e| {
            (
                k(&format!("{what}_file")),
                format!("{}: {e}", path.display()),
            )
        })?,
        (None, Some(var)) => std::env::var(&var).map_err(|_| {
            (
                k(&format!("{what}_env")),
                format!("the environment variable {var} is not set"),
            )
        })?,
        (None, None) => return Ok(None),
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err((k(what), "is empty".into()));
    }
    Ok(Some(Secret::new(value)))
}
