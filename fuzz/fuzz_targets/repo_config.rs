//! `.microci.json` as a pushed commit may contain it: `RepoConfig::parse` never panics, what it
//! accepts is runnable, and what it refuses is explained in one clean line (the message becomes
//! the job's reason, shown in the TUI, the CLI and the web page).

#![no_main]

use libfuzzer_sys::fuzz_target;
use microci_fuzz::assert_no_control;
use microcid::repo_config::{Command, RepoConfig};

const DEFAULT_IMAGE: &str = "img:1";

fuzz_target!(|data: &[u8]| {
    match RepoConfig::parse(data, DEFAULT_IMAGE) {
        Ok(c) => {
            assert!(
                c.image == DEFAULT_IMAGE
                    || (!c.image.is_empty()
                        && c.image.len() <= 255
                        && !c.image.starts_with('-')
                        && c.image.chars().all(|ch| ch.is_ascii_graphic())),
                "image {:?}",
                c.image
            );
            match &c.command {
                Command::Shell(s) => assert!(!s.trim().is_empty(), "blank shell command"),
                Command::Exec(v) => assert!(!v.is_empty(), "empty argv"),
            }
            assert!(!c.command.argv().is_empty(), "empty argv");
            for path in &c.cache {
                assert!(
                    path.starts_with('/') && path.len() > 1 && !path.starts_with("/repo/"),
                    "cache path {path:?}"
                );
                assert_ne!(path, "/repo", "cache path");
            }
            for key in c.env.keys() {
                assert!(
                    !key.is_empty() && !key.contains('=') && !key.contains('\0'),
                    "env key {key:?}"
                );
            }
            for s in &c.services {
                assert!(
                    (1..=63).contains(&s.name.len())
                        && s.name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "service name {:?}",
                    s.name
                );
                assert!(
                    !s.image.is_empty() && !s.image.starts_with('-'),
                    "{:?}",
                    s.image
                );
            }
            for glob in &c.artifacts {
                assert!(
                    !glob.starts_with('/') && !glob.split('/').any(|p| p == ".."),
                    "artifact glob {glob:?} leaves /repo"
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with(".microci.json: "), "{message:?}");
            assert_no_control("refusal message", &message);
        }
    }
});
