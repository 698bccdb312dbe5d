//! The overlays: cancel confirmation, new run, filter prompts, help.

use super::{ch, connected, key, screen};
use crate::ui::model::{Command, Overlay, Tag};
use crate::ui::update::{Msg, update};
use crossterm::event::KeyCode;
use microci_proto::{JobStatus, Reply, Request};

#[test]
fn cancel_asks_first() {
    let mut m = connected();
    m.jobs[0].status = JobStatus::Started;
    assert!(update(&mut m, ch('c')).is_empty());
    assert!(
        matches!(m.overlay, Overlay::ConfirmCancel { job: 5, .. }),
        "{:?}",
        m.overlay
    );
    assert_eq!(screen(&m).0[22].trim_end(), "Cancel job 5? y/n");
    assert!(update(&mut m, ch('n')).is_empty());
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(m.message.as_deref(), Some("not cancelled"));
    update(&mut m, ch('c'));
    assert_eq!(
        update(&mut m, ch('y')),
        [Command::Send(Tag::Action, Request::Cancel { job: 5 })]
    );
    // Finished jobs are not offered for cancel.
    update(&mut m, ch('j'));
    update(&mut m, ch('c'));
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(m.message.as_deref(), Some("job 4 is already SUCCEED"));
    assert_eq!(
        update(&mut m, ch('r')),
        [Command::Send(Tag::Action, Request::Retry { job: 4 })]
    );
}

#[test]
fn new_run_picks_repo_then_ref() {
    let mut m = connected();
    assert_eq!(
        update(&mut m, ch('n')),
        [Command::Send(Tag::Repos, Request::ListRepos)]
    );
    let repos = ["alice/app", "bob/lib"].map(|n| microci_proto::RepoInfo {
        name: n.into(),
        default_branch: "main".into(),
        clone_url: String::new(),
    });
    update(
        &mut m,
        Msg::Reply(
            Tag::Repos,
            Reply::Repos {
                repos: repos.to_vec(),
            },
        ),
    );
    update(&mut m, ch('j'));
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(screen(&m).0[22].trim_end(), "run bob/lib at ref: main");
    for _ in 0..4 {
        update(&mut m, key(KeyCode::Backspace));
    }
    for c in "dev".chars() {
        update(&mut m, ch(c));
    }
    assert!(update(&mut m, key(KeyCode::Enter)).is_empty());
    assert_eq!(
        screen(&m).0[22].trim_end(),
        "parameters (KEY=VALUE …, empty: none):"
    );
    // Not KEY=VALUE: said, and the text stays to mend.
    for c in "TARGET".chars() {
        update(&mut m, ch(c));
    }
    assert!(update(&mut m, key(KeyCode::Enter)).is_empty());
    assert_eq!(m.message.as_deref(), Some("\"TARGET\" is not KEY=VALUE"));
    assert_eq!(
        screen(&m).0[22].trim_end(),
        "parameters (KEY=VALUE …, empty: none): TARGET"
    );
    for c in "=prod 'NOTE=two words'".chars() {
        update(&mut m, ch(c));
    }
    let cmds = update(&mut m, key(KeyCode::Enter));
    let env = [("NOTE", "two words"), ("TARGET", "prod")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    assert_eq!(
        cmds,
        [Command::Send(
            Tag::Action,
            Request::Run {
                repo: "bob/lib".into(),
                git_ref: Some("dev".into()),
                env,
            }
        )]
    );
    // Empty: no parameters.
    update(&mut m, ch('n'));
    update(
        &mut m,
        Msg::Reply(
            Tag::Repos,
            Reply::Repos {
                repos: repos.to_vec(),
            },
        ),
    );
    update(&mut m, key(KeyCode::Enter));
    update(&mut m, key(KeyCode::Enter));
    let cmds = update(&mut m, key(KeyCode::Enter));
    assert_eq!(
        cmds,
        [Command::Send(
            Tag::Action,
            Request::Run {
                repo: "alice/app".into(),
                git_ref: Some("main".into()),
                env: Default::default(),
            }
        )]
    );
}

#[test]
fn search_and_repository_prompts_set_the_filter() {
    let mut m = connected();
    assert!(update(&mut m, ch('/')).is_empty());
    for c in " fix ".chars() {
        assert!(update(&mut m, ch(c)).is_empty());
    }
    assert_eq!(screen(&m).0[22].trim_end(), "search:  fix");
    let cmds = update(&mut m, key(KeyCode::Enter));
    let [Command::Send(_, Request::ListJobs(q))] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(q.search.as_deref(), Some("fix"));
    assert_eq!(m.filter.search.as_deref(), Some("fix"));
    assert_eq!(m.overlay, Overlay::None);
    // `R` starts from the current filter; Esc leaves it as it was.
    update(&mut m, ch('R'));
    update(&mut m, ch('x'));
    assert!(update(&mut m, key(KeyCode::Esc)).is_empty());
    assert_eq!(m.filter.repo, None);
    update(&mut m, ch('R'));
    for c in "bob/lib".chars() {
        update(&mut m, ch(c));
    }
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(m.filter.repo.as_deref(), Some("bob/lib"));
    update(&mut m, ch('R'));
    assert_eq!(
        screen(&m).0[22].trim_end(),
        "repository (empty: all): bob/lib"
    );
    // Emptied, it clears the filter again.
    for _ in 0..7 {
        update(&mut m, key(KeyCode::Backspace));
    }
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(m.filter.repo, None);
    assert_eq!(m.filter.search.as_deref(), Some("fix"));
}

#[test]
fn help_lists_keys() {
    let mut m = connected();
    update(&mut m, ch('?'));
    let (rows, _) = screen(&m);
    let all = rows.concat();
    for k in ["Enter", "cancel", "retry", "new run", "follow", "filter"] {
        assert!(all.contains(k), "{k} missing from help");
    }
    update(&mut m, ch('x'));
    assert_eq!(m.overlay, Overlay::None);
}

#[test]
fn a_lists_the_jobs_artifacts_and_says_how_to_download_one() {
    let mut m = connected();
    assert_eq!(
        update(&mut m, ch('a')),
        [Command::Send(
            Tag::Artifacts,
            Request::ListArtifacts { job: 5 }
        )]
    );
    assert!(screen(&m).0.concat().contains("loading…"));
    let kept = ["target/debian/app.deb", "evil\x1b[2J.txt"].map(|n| microci_proto::Artifact {
        name: n.into(),
        size: 1234,
        sha256: "ab".repeat(32),
    });
    update(
        &mut m,
        Msg::Reply(
            Tag::Artifacts,
            Reply::Artifacts {
                job: 5,
                artifacts: kept.to_vec(),
            },
        ),
    );
    let all = screen(&m).0.concat();
    assert!(all.contains("Artifacts of job 5"), "{all}");
    assert!(all.contains("target/debian/app.deb  1234 bytes"), "{all}");
    // A job's file name is made inert before it is drawn.
    assert!(!all.contains('\x1b'), "{all}");
    update(&mut m, ch('j'));
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(
        m.message.as_deref(),
        Some(r#"download: microci-tui artifacts 5 --get "evil\u{1b}[2J.txt""#)
    );
    // None kept: said on the message line, no empty box.
    update(&mut m, ch('a'));
    update(
        &mut m,
        Msg::Reply(
            Tag::Artifacts,
            Reply::Artifacts {
                job: 5,
                artifacts: Vec::new(),
            },
        ),
    );
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(m.message.as_deref(), Some("job 5 kept no artifacts"));
}
