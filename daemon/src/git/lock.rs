//! One operation at a time per cached repository. The lock travels with the blocking thread doing
//! the work: a cancelled clone returns to its job at once, but the next job gets the repository only
//! when libgit2 has stopped writing to it (at its next callback), never while a half-written cache
//! is still being filled.

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
    /// [`GitError::Canceled`] at once; `op` sees the same token (pass it to the operation) and
    /// stops at its next callback, and only then is the lock released.
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
        let held = tokio::select! {
            held = lock.lock_owned() => held,
            () = cancel.cancelled() => return Err(GitError::Canceled),
        };
        let (cache, token) = (self.clone(), cancel.clone());
        let work = tokio::task::spawn_blocking(move || {
            let _held = held;
            op(&cache, &token)
        });
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
    async fn a_cancelled_operation_returns_at_once_and_the_next_waits_for_its_thread() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let cache = GitCache::new(dir.path().to_path_buf());
        let first = CancellationToken::new();
        let finished = Arc::new(AtomicBool::new(false));
        let stuck = {
            let (cache, first, finished) = (cache.clone(), first.clone(), finished.clone());
            tokio::spawn(async move {
                cache
                    .locked("a/b", &first, move |_, token| {
                        // A libgit2 call that only notices cancellation late.
                        while !token.is_cancelled() {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        std::thread::sleep(Duration::from_millis(300));
                        finished.store(true, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        first.cancel();
        assert!(matches!(stuck.await.unwrap(), Err(GitError::Canceled)));
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        assert!(!finished.load(Ordering::SeqCst));
        let seen = cache
            .locked("a/b", &CancellationToken::new(), move |_, _| {
                Ok(finished.load(Ordering::SeqCst))
            })
            .await
            .unwrap();
        assert!(
            seen,
            "the next operation ran while the cancelled one was still writing"
        );
    }
}
