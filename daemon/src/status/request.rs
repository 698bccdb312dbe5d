//! One commit status as each forge's API wants it: the URL, the authorization header and the JSON
//! body. Pure: the outbox sends what this builds.

use crate::config::{Reporter, StatusApi};
use crate::store::Report;

/// An HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST` here.
    pub url: String,
    /// The authorization header's name and value.
    pub auth: (&'static str, String),
    /// The JSON body.
    pub body: serde_json::Value,
}

/// The request reporting `report` through `to`, with `target_url` (the job's page) when known.
pub fn build(to: &Reporter, report: &Report, target_url: Option<&str>) -> Request {
    let token = to.token.expose();
    let sha = &report.commit;
    let (owner_repo, state) = (&report.repo, report.state.as_str());
    let description = report.description.as_str();
    match to.api {
        // The same API, but for the authorization header. Neither has a word for running or
        // canceled.
        StatusApi::Gitea | StatusApi::Github => Request {
            url: format!("{}/repos/{owner_repo}/statuses/{sha}", to.api_url),
            auth: (
                "authorization",
                match to.api {
                    StatusApi::Gitea => format!("token {token}"),
                    _ => format!("Bearer {token}"),
                },
            ),
            body: with_target(
                serde_json::json!({
                    "state": match state {
                        "running" => "pending",
                        "canceled" => "error",
                        s => s,
                    },
                    "description": description,
                    "context": to.context,
                }),
                "target_url",
                target_url,
            ),
        },
        StatusApi::Gitlab => Request {
            url: format!(
                "{}/projects/{}/statuses/{sha}",
                to.api_url,
                url::form_urlencoded::byte_serialize(owner_repo.as_bytes()).collect::<String>()
            ),
            auth: ("private-token", token.to_string()),
            body: with_target(
                serde_json::json!({
                    "state": match state {
                        "failure" | "error" => "failed",
                        s => s,
                    },
                    "description": description,
                    "name": to.context,
                }),
                "target_url",
                target_url,
            ),
        },
        StatusApi::Bitbucket => Request {
            url: format!(
                "{}/repositories/{owner_repo}/commit/{sha}/statuses/build",
                to.api_url
            ),
            auth: ("authorization", format!("Bearer {token}")),
            body: with_target(
                serde_json::json!({
                    "state": match state {
                        "pending" | "running" => "INPROGRESS",
                        "success" => "SUCCESSFUL",
                        "canceled" => "STOPPED",
                        _ => "FAILED",
                    },
                    "description": description,
                    "key": to.context,
                }),
                "url",
                target_url,
            ),
        },
    }
}

fn with_target(mut body: serde_json::Value, key: &str, url: Option<&str>) -> serde_json::Value {
    if let Some(url) = url {
        body[key] = serde_json::Value::String(url.to_string());
    }
    body
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn report(state: &str) -> Report {
        Report {
            id: 1,
            job_id: 7,
            state: state.into(),
            description: "queued".into(),
            created_ms: 0,
            attempts: 0,
            repo: "group/sub/app".into(),
            commit: "a".repeat(40),
            forge: String::new(),
        }
    }

    fn to(api: StatusApi) -> Reporter {
        Reporter {
            api,
            api_url: "http://127.0.0.1:9/api".into(),
            token: Secret::new("t0k".into()),
            context: "microci".into(),
        }
    }

    #[test]
    fn each_forge_gets_its_own_words() {
        let sha = "a".repeat(40);
        let target = Some("https://ci.example.com/jobs/7");
        let r = build(&to(StatusApi::Gitea), &report("running"), target);
        assert_eq!(
            r.url,
            format!("http://127.0.0.1:9/api/repos/group/sub/app/statuses/{sha}")
        );
        assert_eq!(r.auth, ("authorization", "token t0k".to_string()));
        assert_eq!(r.body["state"], "pending");
        assert_eq!(r.body["target_url"], "https://ci.example.com/jobs/7");
        assert_eq!(r.body["context"], "microci");
        let r = build(&to(StatusApi::Github), &report("canceled"), None);
        assert_eq!(r.body["state"], "error");
        assert_eq!(r.auth.1, "Bearer t0k");
        assert!(r.body.get("target_url").is_none());
        let r = build(&to(StatusApi::Gitlab), &report("failure"), target);
        assert_eq!(
            r.url,
            format!("http://127.0.0.1:9/api/projects/group%2Fsub%2Fapp/statuses/{sha}")
        );
        assert_eq!(r.auth, ("private-token", "t0k".to_string()));
        assert_eq!(
            (r.body["state"].as_str(), r.body["name"].as_str()),
            (Some("failed"), Some("microci"))
        );
        let r = build(&to(StatusApi::Gitlab), &report("canceled"), target);
        assert_eq!(r.body["state"], "canceled");
        let r = build(&to(StatusApi::Bitbucket), &report("running"), target);
        assert_eq!(
            r.url,
            format!(
                "http://127.0.0.1:9/api/repositories/group/sub/app/commit/{sha}/statuses/build"
            )
        );
        assert_eq!(r.body["state"], "INPROGRESS");
        assert_eq!(r.body["key"], "microci");
        assert_eq!(r.body["url"], "https://ci.example.com/jobs/7");
        assert_eq!(
            build(&to(StatusApi::Bitbucket), &report("canceled"), target).body["state"],
            "STOPPED"
        );
        assert_eq!(
            build(&to(StatusApi::Bitbucket), &report("error"), target).body["state"],
            "FAILED"
        );
    }
}
