//! Telling the other servers on the same PostgreSQL database that a unit of
//! work has committed, so that their session caches (`crate::session_cache`)
//! drop what they read before it.
//!
//! Every shared transaction that carries units of work sends
//! `NOTIFY autopmo_units` in the same round trip as its `COMMIT`;
//! PostgreSQL delivers it when, and only if, the transaction commits. Each
//! store listens on a connection of its own and makes its cache stale on
//! every notification but its own (its own commits already did, before
//! their callers heard of them). While that connection is down, a
//! notification may be missed, so the cache is made stale whenever it is
//! lost and again once it is back; in between, the cache's bound (at most a
//! second) is what a change made elsewhere waits for, as it is on SQLite.

use crate::session_cache::SessionCache;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The channel.
pub(crate) const CHANNEL: &str = "autopmo_units";

/// How long to wait before connecting again after the listening connection
/// failed.
const RETRY: Duration = Duration::from_secs(1);

/// The statements that end a shared transaction carrying units of work,
/// sent as one round trip: the notification (payload: this store's id, so
/// that it can ignore its own), then `COMMIT`.
pub(crate) fn commit_statement(store_id: &str) -> String {
    format!("SELECT pg_notify('{CHANNEL}', '{store_id}'); COMMIT")
}

/// Listens for other stores' commits until the task is aborted; `ready`
/// hears when the first connection listens.
pub(crate) fn spawn_listener(
    url: String,
    store_id: String,
    cache: Arc<SessionCache>,
    ready: oneshot::Sender<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ready = Some(ready);
        loop {
            if let Err(e) = listen(&url, &store_id, &cache, &mut ready).await {
                tracing::warn!(error = %redact(&e), "cannot listen for other servers' commits");
            }
            cache.invalidate();
            tokio::time::sleep(RETRY).await;
        }
    })
}

/// Listens until connecting fails.
async fn listen(
    url: &str,
    store_id: &str,
    cache: &SessionCache,
    ready: &mut Option<oneshot::Sender<()>>,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Whatever was committed while nobody listened.
    cache.invalidate();
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    loop {
        match listener.try_recv().await? {
            Some(notification) if notification.payload() == store_id => {}
            Some(_) => cache.invalidate(),
            None => {
                // The connection was lost and is back (listening again):
                // what was sent in between is lost.
                tracing::warn!("the connection listening for other servers' commits was lost and made again");
                cache.invalidate();
            }
        }
    }
}

/// Driver errors can echo the URL; never let a password through.
fn redact(error: &sqlx::Error) -> String {
    crate::db::redact_error(error)
}
