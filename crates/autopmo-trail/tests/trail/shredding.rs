//! Crypto-shredding: personal data in events is sealed under the person's
//! own key; destroying the key erases the data everywhere it was written,
//! while the chain, which hashed the ciphertext, still verifies.

use crate::{Fixture, event, open, trail_tests};
use autopmo_audit::{Actor, AuditRecord};
use autopmo_domain::UserId;
use autopmo_test_support::TestDb;
use autopmo_trail::view::ERASED;
use autopmo_trail::{ActorInfo, AuditTrail, EventView};
use sqlx::Row;

struct Person {
    id: UserId,
    subject: String,
    username: &'static str,
    ip: &'static str,
    agent: &'static str,
}

impl Person {
    fn new(username: &'static str, ip: &'static str, agent: &'static str) -> Self {
        let id = UserId::new();
        Self { id, subject: format!("user:{id}"), username, ip, agent }
    }

    fn info(&self) -> ActorInfo {
        ActorInfo {
            user_id: Some(self.id),
            username: Some(self.username.to_owned()),
            ip_address: Some(self.ip.to_owned()),
            user_agent: Some(self.agent.to_owned()),
        }
    }
}

fn by(actor: &Actor, trail: &AuditTrail, n: usize) -> AuditRecord {
    let mut record = event(trail, n);
    record.actor = actor.clone();
    record
}

async fn views(fx: &Fixture, trail: &AuditTrail) -> Vec<EventView> {
    let mut out = Vec::new();
    for record in fx.records().await {
        out.push(EventView::open(record, trail.sealer()).await.unwrap());
    }
    out
}

/// Every text column of every row of `audit_events`, joined.
async fn stored_text(fx: &Fixture) -> String {
    let rows = sqlx::query(
        "SELECT event_id, occurred_at, event_type, category, actor_user_id, actor_subject, actor_username, actor_ip, \
         actor_user_agent, resource_type, resource_id, resource_name, action, status, metadata, request_id, \
         session_id, decision_id, prev_hash, hash FROM audit_events",
    )
    .fetch_all(fx.store.reader())
    .await
    .unwrap();
    let mut text = String::new();
    for row in &rows {
        for i in 0..20 {
            text.push_str(&row.try_get::<Option<String>, _>(i).unwrap().unwrap_or_default());
            text.push('\u{1f}');
        }
    }
    text
}

async fn erasing_a_person_shreds_their_data_and_the_chain_still_verifies(db: TestDb) {
    let fx = open(&db).await;
    let xavier = Person::new("xavier.erased", "203.0.113.77", "XavierBrowser/9.1 (gone soon)");
    let yvonne = Person::new("yvonne.kept", "198.51.100.23", "YvonneAgent/2.0 (stays)");
    let ax = fx.trail.actor(&xavier.info()).await.unwrap();
    let ay = fx.trail.actor(&yvonne.info()).await.unwrap();
    assert_eq!(ax.subject.as_deref(), Some(xavier.subject.as_str()));
    assert_eq!(ax.user_id, Some(xavier.id.to_string()), "the user id is kept in clear");
    for (i, actor) in [&ax, &ay, &ax, &ay, &ax].into_iter().enumerate() {
        fx.trail.record(by(actor, &fx.trail, i)).await.unwrap();
    }

    // Stored sealed, never in clear.
    let stored = stored_text(&fx).await;
    for person in [&xavier, &yvonne] {
        for clear in [person.username, person.ip, person.agent] {
            assert!(!stored.contains(clear), "{clear:?} is stored in clear");
        }
    }
    // Opened for a reader.
    for v in views(&fx, &fx.trail).await {
        let person = if v.actor.user_id == Some(xavier.id.to_string()) { &xavier } else { &yvonne };
        assert_eq!(v.actor.username.as_deref(), Some(person.username));
        assert_eq!(v.actor.ip_address.as_deref(), Some(person.ip));
        assert_eq!(v.actor.user_agent.as_deref(), Some(person.agent));
    }

    assert!(fx.trail.sealer().erase(&xavier.subject).await.unwrap(), "a key was destroyed");
    assert!(!fx.trail.sealer().erase(&xavier.subject).await.unwrap(), "erasing twice destroys nothing more");

    // The chain hashed ciphertext: it is untouched.
    assert_eq!(fx.verify().await.unwrap().checked, 5);
    // Xavier's data is gone for this trail and for a fresh one (no cache).
    for trail in [fx.trail.clone(), fx.another_trail()] {
        let seen = views(&fx, &trail).await;
        assert_eq!(seen.len(), 5);
        for v in &seen {
            if v.actor.user_id == Some(xavier.id.to_string()) {
                assert_eq!(v.actor.username.as_deref(), Some(ERASED));
                assert_eq!(v.actor.ip_address.as_deref(), Some(ERASED));
                assert_eq!(v.actor.user_agent.as_deref(), Some(ERASED));
                assert_eq!(v.event_type, "project.created", "the rest of the event stays readable");
            } else {
                assert_eq!(v.actor.username.as_deref(), Some(yvonne.username), "other people are untouched");
                assert_eq!(v.actor.ip_address.as_deref(), Some(yvonne.ip));
                assert_eq!(v.actor.user_agent.as_deref(), Some(yvonne.agent));
            }
        }
        // No new data is sealed for an erased person, and the key is not made again.
        assert!(trail.sealer().key(&xavier.subject).await.is_err(), "the key of an erased person is refused");
        assert!(trail.actor(&xavier.info()).await.is_err(), "new personal data of an erased person is refused");
        assert!(trail.sealer().key(&yvonne.subject).await.is_ok());
    }
    // What is left in the database: the wrapped key is gone, the time of erasure kept.
    let row = sqlx::query("SELECT wrapped_key, destroyed_at FROM subject_keys WHERE subject = $1")
        .bind(xavier.subject.as_str())
        .fetch_one(fx.store.reader())
        .await
        .unwrap();
    assert_eq!(row.try_get::<Option<String>, _>(0).unwrap(), None);
    assert!(row.try_get::<Option<String>, _>(1).unwrap().is_some());
    assert_eq!(stored_text(&fx).await, stored, "erasure does not touch the events themselves");
}

async fn an_erasure_is_seen_by_every_replica(db: TestDb) {
    let fx = open(&db).await;
    let xavier = Person::new("xavier.erased", "203.0.113.77", "XavierBrowser/9.1");
    // A second replica served Xavier before the erasure: it holds his key.
    let replica = fx.another_trail();
    let actor = replica.actor(&xavier.info()).await.unwrap();
    replica.record(by(&actor, &replica, 0)).await.unwrap();

    assert!(fx.trail.sealer().erase(&xavier.subject).await.unwrap());

    // Within a short bound (a minute here), the other replica knows too.
    fx.clock.advance(time::Duration::minutes(1));
    assert!(replica.sealer().key(&xavier.subject).await.is_err(), "the replica still seals new data for Xavier");
    assert!(replica.actor(&xavier.info()).await.is_err());
    let record = fx.records().await.remove(0);
    let seen = EventView::open(record, replica.sealer()).await.unwrap();
    assert_eq!(seen.actor.username.as_deref(), Some(ERASED), "the replica still opens Xavier's data");
    assert_eq!(seen.actor.ip_address.as_deref(), Some(ERASED));
}

trail_tests!(erasing_a_person_shreds_their_data_and_the_chain_still_verifies, an_erasure_is_seen_by_every_replica,);
