//! One operation at a time per cached repository. The lock is held by the job's async task, not by
//! the blocking thread doing the work, so a cancelled clone hands the repository to the next job at
//! once instead of when libgit2 gives up.

use super::{GitCache, GitError};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

impl GitCache {
    /// Sets libgit2 up the first time the process needs it (see [`GitCache::configured`]).
    fn ready(&self) -> Result<(), GitError> {
        static DONE: OnceLock<Result<(), String>> = OnceLock::new();
        let Some(setup) = &self.setup else {
            return Ok(());
        };
        DONE.get_or_init(|| super::init(&setup.0, setup.1).map_err(|e| e.to_string()))
            .clone()
            .map_err(|detail| GitError::Other {
                url_redacted: String::new(),
                detail,
            })
    }

    fn lock_for(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let dir = self.cache_dir(repo);
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(dir).or_default().clone()
    }

    /// Runs the blocking git operation `op` on `repo`'s cache while holding that cache's lock.
    /// When `cancel` fires — while waiting for the lock or during the work — this returns
    /// [`GitError::Canceled`] at once and releases the lock; `op` sees the same token (pass it to
    /// the operation) and stops at its next callback.
    pub async fn locked<T, F>(
        &self,
        repo: &str,
        cancel: &CancellationToken,
        op: F,
    ) -> Result<T, GitError>
    where
        T: Send + 'static,
        F: FnOnce(&GitCache, &CancellationToken) -> Result<T, GitError> + Send + 'static,
    {
        self.ready()?;
        let lock = self.lock_for(repo);
        let _held = tokio::select! {
            held = lock.lock_owned() => held,
            () = cancel.cancelled() => return Err(GitError::Canceled),
        };
        let (cache, token) = (self.clone(), cancel.clone());
        let work = tokio::task::spawn_blocking(move || op(&cache, &token));
        tokio::select! {
            done = work => done.map_err(|e| GitError::Other {
                url_redacted: String::new(),
                detail: format!("the git task failed: {e}"),
            })?,
            () = cancel.cancelled() => Err(GitError::Canceled),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_cancelled_operation_releases_the_lock_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = GitCache::new(dir.path().to_path_buf());
        let first = CancellationToken::new();
        let stuck = {
            let (cache, first) = (cache.clone(), first.clone());
            tokio::spawn(async move {
                cache
                    .locked("a/b", &first, |_, token| {
                        // A libgit2 call that only notices cancellation late.
                        while !token.is_cancelled() {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        std::thread::sleep(Duration::from_millis(500));
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.cancel();
        assert!(matches!(stuck.await.unwrap(), Err(GitError::Canceled)));
        let started = std::time::Instant::now();
        let next = cache
            .locked("a/b", &CancellationToken::new(), |_, _| Ok(7))
            .await
            .unwrap();
        assert_eq!(next, 7);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }
}
