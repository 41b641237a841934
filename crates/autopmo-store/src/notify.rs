//! Telling the other servers on the same PostgreSQL database that a unit of
//! work has committed, so that their caches of recent reads (`crate::recent`)
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

use crate::recent::RecentReads;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The channel.
pub(crate) const CHANNEL: &str = "autopmo_units";

/// How long to wait before connecting again after the listening connection
/// failed: doubled after each failure in a row, up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(30);

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
    cache: Arc<RecentReads>,
    ready: oneshot::Sender<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ready = Some(ready);
        let mut wait = RETRY;
        loop {
            let mut listened = false;
            if let Err(e) = listen(&url, &store_id, &cache, &mut || {
                listened = true;
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
            })
            .await
            {
                tracing::warn!(
                    error = %crate::db::redact_error(&e),
                    retry_in_secs = wait.as_secs(),
                    "cannot listen for other servers' commits; reads kept here are used for the cache's bound"
                );
            }
            cache.invalidate();
            if listened {
                wait = RETRY;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    })
}

/// Listens until connecting fails; `listening` is called once the
/// connection listens.
async fn listen(
    url: &str,
    store_id: &str,
    cache: &RecentReads,
    listening: &mut (dyn FnMut() + Send),
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Whatever was committed while nobody listened.
    cache.invalidate();
    listening();
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
