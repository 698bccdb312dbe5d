//! Engines of different kinds in one pool: an object-safe mirror of [`Engine`] whose handles are
//! boxed, implemented for every engine. The pool holds `Box<dyn Erased>` members, so a Docker
//! Engine, a Podman socket and a test's fake run side by side without the scheduler knowing.

use crate::runner::{
    ArchiveStream, Engine, EngineError, Found, JobSpec, Mount, OutputStream, Resume, ServiceExit,
    Volume,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// A member's handle to one of its containers.
pub(super) type AnyHandle = Box<dyn Any + Send + Sync>;

/// [`Engine`], object-safe.
pub(super) trait Erased: Send + Sync {
    fn prepare<'a>(&'a self, spec: &'a JobSpec) -> BoxFuture<'a, Result<AnyHandle, EngineError>>;
    fn start<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, Result<OutputStream, EngineError>>;
    fn container_id(&self, h: &AnyHandle) -> String;
    fn adopt(&self, job: i64, container: &str) -> AnyHandle;
    fn resume<'a>(
        &'a self,
        h: &'a AnyHandle,
        from: Resume,
    ) -> BoxFuture<'a, Result<OutputStream, EngineError>>;
    fn containers(&self) -> BoxFuture<'_, Result<Vec<Found>, EngineError>>;
    fn wait<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, Result<i64, EngineError>>;
    fn stop<'a>(
        &'a self,
        h: &'a AnyHandle,
        grace: Duration,
    ) -> BoxFuture<'a, Result<(), EngineError>>;
    fn teardown<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, Result<(), EngineError>>;
    fn scrub<'a>(&'a self, dir: &'a std::path::Path) -> BoxFuture<'a, Result<(), EngineError>>;
    fn start_service<'a>(
        &'a self,
        h: &'a AnyHandle,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), EngineError>>;
    fn service_exit<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, ServiceExit>;
    fn sweep<'a>(&'a self, keep: &'a HashSet<i64>) -> BoxFuture<'a, Result<(), EngineError>>;
    fn archive<'a>(
        &'a self,
        h: &'a AnyHandle,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<ArchiveStream>, EngineError>>;
    fn volumes<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Vec<Volume>, EngineError>>;
    fn create_volume<'a>(
        &'a self,
        job: i64,
        suffix: &'a str,
        labels: HashMap<String, String>,
    ) -> BoxFuture<'a, Result<String, EngineError>>;
    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, EngineError>>;
    fn helper<'a>(
        &'a self,
        script: &'a str,
        mounts: &'a [Mount],
    ) -> BoxFuture<'a, Result<String, EngineError>>;
    fn ping(&self) -> BoxFuture<'_, Result<(), EngineError>>;
    fn version(&self) -> BoxFuture<'_, Result<String, EngineError>>;
    fn has_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, bool>;
    fn prepared_note(&self, h: &AnyHandle) -> Option<String>;
    fn reconfigure(&self, settings: &crate::config::DockerSettings);
}

/// A handle that is not this engine's: the pool pairs each handle with its member, so this
/// would be a bug, reported as an engine error rather than a panic.
fn mismatch() -> EngineError {
    EngineError::Engine("internal error: a container handle reached the wrong engine".into())
}

fn own<E: Engine>(h: &AnyHandle) -> Result<&E::Handle, EngineError> {
    h.downcast_ref::<E::Handle>().ok_or_else(mismatch)
}

impl<E: Engine> Erased for E {
    fn prepare<'a>(&'a self, spec: &'a JobSpec) -> BoxFuture<'a, Result<AnyHandle, EngineError>> {
        async move {
            let h = Engine::prepare(self, spec).await?;
            Ok(Box::new(h) as AnyHandle)
        }
        .boxed()
    }
    fn start<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, Result<OutputStream, EngineError>> {
        async move { Engine::start(self, own::<E>(h)?).await }.boxed()
    }
    fn container_id(&self, h: &AnyHandle) -> String {
        own::<E>(h)
            .map(|h| Engine::container_id(self, h))
            .unwrap_or_default()
    }
    fn adopt(&self, job: i64, container: &str) -> AnyHandle {
        Box::new(Engine::adopt(self, job, container))
    }
    fn resume<'a>(
        &'a self,
        h: &'a AnyHandle,
        from: Resume,
    ) -> BoxFuture<'a, Result<OutputStream, EngineError>> {
        async move { Engine::resume(self, own::<E>(h)?, from).await }.boxed()
    }
    fn containers(&self) -> BoxFuture<'_, Result<Vec<Found>, EngineError>> {
        Engine::containers(self).boxed()
    }
    fn wait<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, Result<i64, EngineError>> {
        async move { Engine::wait(self, own::<E>(h)?).await }.boxed()
    }
    fn stop<'a>(
        &'a self,
        h: &'a AnyHandle,
        grace: Duration,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        async move { Engine::stop(self, own::<E>(h)?, grace).await }.boxed()
    }
    fn teardown<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, Result<(), EngineError>> {
        async move { Engine::teardown(self, own::<E>(h)?).await }.boxed()
    }
    fn scrub<'a>(&'a self, dir: &'a std::path::Path) -> BoxFuture<'a, Result<(), EngineError>> {
        Engine::scrub(self, dir).boxed()
    }
    fn start_service<'a>(
        &'a self,
        h: &'a AnyHandle,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        async move { Engine::start_service(self, own::<E>(h)?, name).await }.boxed()
    }
    fn service_exit<'a>(&'a self, h: &'a AnyHandle) -> BoxFuture<'a, ServiceExit> {
        match own::<E>(h) {
            Ok(h) => Engine::service_exit(self, h).boxed(),
            Err(_) => std::future::pending().boxed(),
        }
    }
    fn sweep<'a>(&'a self, keep: &'a HashSet<i64>) -> BoxFuture<'a, Result<(), EngineError>> {
        Engine::sweep(self, keep).boxed()
    }
    fn archive<'a>(
        &'a self,
        h: &'a AnyHandle,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<ArchiveStream>, EngineError>> {
        async move { Engine::archive(self, own::<E>(h)?, path).await }.boxed()
    }
    fn volumes<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Vec<Volume>, EngineError>> {
        Engine::volumes(self, label).boxed()
    }
    fn create_volume<'a>(
        &'a self,
        job: i64,
        suffix: &'a str,
        labels: HashMap<String, String>,
    ) -> BoxFuture<'a, Result<String, EngineError>> {
        Engine::create_volume(self, job, suffix, labels).boxed()
    }
    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, EngineError>> {
        Engine::remove_volume(self, name).boxed()
    }
    fn helper<'a>(
        &'a self,
        script: &'a str,
        mounts: &'a [Mount],
    ) -> BoxFuture<'a, Result<String, EngineError>> {
        Engine::helper(self, script, mounts).boxed()
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), EngineError>> {
        Engine::ping(self).boxed()
    }
    fn version(&self) -> BoxFuture<'_, Result<String, EngineError>> {
        Engine::version(self).boxed()
    }
    fn has_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, bool> {
        Engine::has_image(self, image).boxed()
    }
    fn prepared_note(&self, h: &AnyHandle) -> Option<String> {
        own::<E>(h)
            .ok()
            .and_then(|h| Engine::prepared_note(self, h))
    }
    fn reconfigure(&self, settings: &crate::config::DockerSettings) {
        Engine::reconfigure(self, settings)
    }
}
