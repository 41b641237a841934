//! Tamper evidence: whatever is done to the rows behind the trail's back,
//! `verify` fails and names where.

use crate::open;
use crate::trail_tests;
use autopmo_audit::{ChainError, ChainHead};
use autopmo_test_support::TestDb;
use autopmo_trail::checkpoint;
use autopmo_trail::verify::{self, Range, Report, VerifyError};

async fn an_intact_chain_verifies_with_its_count(db: TestDb) {
    let fx = open(&db).await;
    assert_eq!(fx.verify().await.unwrap(), Report { checked: 0, span: None, checkpoints: 0 }, "an empty chain");
    assert!(checkpoint::take(&fx.trail).await.unwrap().is_none(), "nothing to sign on an empty chain");

    let recorded = fx.record_n(300).await;
    assert_eq!(recorded.iter().map(|r| r.sequence).collect::<Vec<_>>(), (1..=300).collect::<Vec<_>>());
    let signed = checkpoint::take(&fx.trail).await.unwrap().expect("a checkpoint of the head");
    assert_eq!((signed.sequence, signed.hash.as_str()), (300, recorded[299].hash.as_str()));
    assert!(checkpoint::take(&fx.trail).await.unwrap().is_none(), "the head already has a checkpoint");
    fx.record_n(20).await;

    let mut calls = Vec::new();
    let report = verify::verify(&fx.store, &fx.keyring.public_keys(), Range::default(), |done, total| {
        calls.push((done, total));
    })
    .await
    .unwrap();
    assert_eq!(report, Report { checked: 320, span: Some((1, 320)), checkpoints: 1 });
    assert_eq!(calls.last(), Some(&(320, 320)), "progress ends at the total: {calls:?}");
    assert_eq!(fx.sequences().await, (1..=320).collect::<Vec<_>>());
    assert_eq!(fx.head().await.0, 320);
}

async fn a_chain_longer_than_a_page_verifies(db: TestDb) {
    let fx = open(&db).await;
    // One unit of 2,050 events: more than one page (2,000) of verification.
    let mut uow = fx.store.begin().await.unwrap();
    for i in 0..2_050 {
        fx.trail.append(&mut uow, &mut crate::event(&fx.trail, i)).await.unwrap();
    }
    uow.commit().await.unwrap();
    let mut calls = Vec::new();
    let report = verify::verify(&fx.store, &fx.keyring.public_keys(), Range::default(), |done, total| {
        calls.push((done, total));
    })
    .await
    .unwrap();
    assert_eq!(report, Report { checked: 2_050, span: Some((1, 2_050)), checkpoints: 0 });
    assert_eq!(calls, [(2_000, 2_050), (2_050, 2_050)], "one progress call per page");
    // An edit on the second page is still found.
    fx.exec("UPDATE audit_events SET request_id = 'forged' WHERE sequence = 2049").await;
    assert!(
        matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Altered { sequence: 2049, .. }))),
        "{:?}",
        fx.verify().await
    );
}

async fn an_edited_row_is_named(db: TestDb) {
    let fx = open(&db).await;
    let recorded = fx.record_n(5).await;
    fx.exec("UPDATE audit_events SET action = 'delete' WHERE sequence = 3").await;
    match fx.verify().await {
        Err(VerifyError::Chain(ChainError::Altered { sequence, event_id })) => {
            assert_eq!((sequence, event_id), (3, recorded[2].event_id.clone()));
        }
        other => panic!("an edited action must be named as altered record 3, got {other:?}"),
    }
    let message = fx.verify().await.unwrap_err().to_string();
    assert!(message.contains("record 3") && message.contains("altered"), "{message}");

    // Every other column is covered by the hash too.
    let edits = [
        "UPDATE audit_events SET metadata = '{\"budget\":\"1.00 USD\",\"n\":1}' WHERE sequence = 2",
        "UPDATE audit_events SET status = 'failure' WHERE sequence = 2",
        "UPDATE audit_events SET event_type = 'project.updated' WHERE sequence = 2",
        "UPDATE audit_events SET category = 'system' WHERE sequence = 2",
        "UPDATE audit_events SET occurred_at = '2026-12-04T09:00:01.000000Z' WHERE sequence = 2",
        "UPDATE audit_events SET resource_id = 'prj-other' WHERE sequence = 2",
        "UPDATE audit_events SET actor_user_id = 'someone-else' WHERE sequence = 2",
        "UPDATE audit_events SET request_id = 'req-forged' WHERE sequence = 2",
        "UPDATE audit_events SET decision_id = 'dec-forged' WHERE sequence = 2",
        "UPDATE audit_events SET event_id = 'evt_forged' WHERE sequence = 2",
    ];
    let original = &recorded[1];
    for edit in edits {
        fx.exec(edit).await;
        assert!(
            matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Altered { sequence: 2, .. }))),
            "{edit}: {:?}",
            fx.verify().await
        );
        // Put record 2 back exactly as it was before the next edit.
        sqlx::query(
            "UPDATE audit_events SET metadata = $1, status = $2, event_type = $3, category = $4, occurred_at = $5, \
             resource_id = $6, actor_user_id = $7, request_id = $8, decision_id = $9, event_id = $10 WHERE sequence = 2",
        )
        .bind(original.metadata.as_str())
        .bind(original.status.as_str())
        .bind(original.event_type.as_str())
        .bind(original.category.as_str())
        .bind("2026-12-04T09:00:00.000000Z")
        .bind(original.resource.as_ref().and_then(|r| r.id.clone()))
        .bind(original.actor.user_id.clone())
        .bind(original.request_id.clone())
        .bind(original.decision_id.clone())
        .bind(original.event_id.as_str())
        .execute(fx.store.reader())
        .await
        .unwrap();
    }
    // Record 3 is still edited; record 2 is whole again.
    assert!(matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Altered { sequence: 3, .. }))));
}

async fn an_edit_with_its_hash_recomputed_breaks_the_next_link(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(5).await;
    let mut forged = fx.records().await[2].clone();
    forged.action = "delete".to_owned();
    forged.hash = autopmo_audit::chain::hash(&forged);
    sqlx::query("UPDATE audit_events SET action = $1, hash = $2 WHERE sequence = 3")
        .bind(forged.action.as_str())
        .bind(forged.hash.as_str())
        .execute(fx.store.reader())
        .await
        .unwrap();
    assert!(
        matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Broken { sequence: 4, expected_after: 3, .. }))),
        "{:?}",
        fx.verify().await
    );
}

async fn a_deleted_middle_row_breaks_the_chain_at_the_next(db: TestDb) {
    let fx = open(&db).await;
    let recorded = fx.record_n(5).await;
    fx.exec("DELETE FROM audit_events WHERE sequence = 3").await;
    match fx.verify().await {
        Err(VerifyError::Chain(ChainError::Broken { sequence, event_id, expected_after })) => {
            assert_eq!((sequence, expected_after), (4, 2));
            assert_eq!(event_id, recorded[3].event_id);
        }
        other => panic!("a deleted record 3 must be named as a break before record 4, got {other:?}"),
    }
}

async fn reordered_rows_are_detected(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(5).await;
    // Swap the places of records 2 and 3.
    fx.exec("UPDATE audit_events SET sequence = -1 WHERE sequence = 2").await;
    fx.exec("UPDATE audit_events SET sequence = 2 WHERE sequence = 3").await;
    fx.exec("UPDATE audit_events SET sequence = 3 WHERE sequence = -1").await;
    assert!(
        matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Broken { sequence: 2, expected_after: 1, .. }))),
        "{:?}",
        fx.verify().await
    );
}

async fn a_cut_off_tail_is_truncation_against_the_checkpoint(db: TestDb) {
    let fx = open(&db).await;
    let recorded = fx.record_n(6).await;
    let signed = checkpoint::take(&fx.trail).await.unwrap().unwrap();
    assert_eq!(signed.sequence, 6);
    assert_eq!(fx.verify().await.unwrap().checkpoints, 1);
    // Cut records 5 and 6 and make the head agree with what is left.
    fx.exec("DELETE FROM audit_events WHERE sequence >= 5").await;
    sqlx::query("UPDATE audit_head SET sequence = 4, hash = $1 WHERE id = 1")
        .bind(recorded[3].hash.as_str())
        .execute(fx.store.reader())
        .await
        .unwrap();
    match fx.verify().await {
        Err(VerifyError::Chain(ChainError::Truncated { last, checkpoint })) => assert_eq!((last, checkpoint), (4, 6)),
        other => panic!("a cut tail must be named as truncated at 4 against checkpoint 6, got {other:?}"),
    }
    // Cutting everything is truncation too.
    fx.exec("DELETE FROM audit_events").await;
    fx.exec("UPDATE audit_head SET sequence = 0 WHERE id = 1").await;
    assert!(
        matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Truncated { last: 0, checkpoint: 6 }))),
        "{:?}",
        fx.verify().await
    );
}

async fn a_cut_off_tail_and_checkpoint_is_a_head_mismatch(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(6).await;
    checkpoint::take(&fx.trail).await.unwrap().unwrap();
    fx.exec("DELETE FROM audit_events WHERE sequence >= 5").await;
    fx.exec("DELETE FROM audit_checkpoints").await;
    match fx.verify().await {
        Err(VerifyError::HeadMismatch { head, last }) => assert_eq!((head, last), (6, 4)),
        other => panic!("a head beyond the last record must be named, got {other:?}"),
    }
}

async fn deleting_every_row_with_the_head_left_is_a_head_mismatch(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(5).await;
    fx.exec("DELETE FROM audit_events").await;
    assert_eq!(fx.head().await.0, 5, "the head still says five records were written");
    match fx.verify().await {
        Err(VerifyError::HeadMismatch { head, last }) => assert_eq!((head, last), (5, 0)),
        other => panic!("an emptied table under a head at 5 must not verify, got {other:?}"),
    }
}

async fn forged_checkpoints_are_refused(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(4).await;
    let at_4 = checkpoint::take(&fx.trail).await.unwrap().unwrap();
    fx.record_n(1).await;
    let at_5 = checkpoint::take(&fx.trail).await.unwrap().unwrap();
    assert_eq!((at_4.sequence, at_5.sequence), (4, 5));
    let recorded = fx.records().await;
    assert_eq!(fx.verify().await.unwrap(), Report { checked: 5, span: Some((1, 5)), checkpoints: 2 });

    // The hash it vouches for, edited.
    sqlx::query("UPDATE audit_checkpoints SET hash = $1 WHERE sequence = 4")
        .bind(recorded[2].hash.as_str())
        .execute(fx.store.reader())
        .await
        .unwrap();
    assert!(matches!(fx.verify().await, Err(VerifyError::ForgedCheckpoint { sequence: 4 })), "{:?}", fx.verify().await);
    let restore = async |sequence: i64, hash: &str, signature: &str, key_id: &str| {
        sqlx::query("UPDATE audit_checkpoints SET hash = $1, signature = $2, key_id = $3 WHERE sequence = $4")
            .bind(hash)
            .bind(signature)
            .bind(key_id)
            .bind(sequence)
            .execute(fx.store.reader())
            .await
            .unwrap();
    };
    restore(4, &at_4.hash, &at_4.signature, &at_4.key_id).await;
    fx.verify().await.unwrap();

    // A genuine signature, but of another checkpoint.
    restore(4, &at_4.hash, &at_5.signature, &at_4.key_id).await;
    assert!(matches!(fx.verify().await, Err(VerifyError::ForgedCheckpoint { sequence: 4 })));
    // A signature with a flipped character.
    let mut flipped = at_4.signature.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    restore(4, &at_4.hash, &String::from_utf8(flipped).unwrap(), &at_4.key_id).await;
    assert!(matches!(fx.verify().await, Err(VerifyError::ForgedCheckpoint { sequence: 4 })));
    // Signed by a key that is not the server's.
    let stranger = autopmo_crypto::Keyring::generate().unwrap();
    let message = checkpoint::message(4, &at_4.hash, at_4.created_at);
    let signature = stranger.sign(&message).unwrap();
    restore(4, &at_4.hash, &signature.value, &signature.key_id).await;
    assert!(matches!(fx.verify().await, Err(VerifyError::ForgedCheckpoint { sequence: 4 })));
    // The time it was signed, edited.
    restore(4, &at_4.hash, &at_4.signature, &at_4.key_id).await;
    fx.exec("UPDATE audit_checkpoints SET created_at = '2030-01-01T00:00:00.000000Z' WHERE sequence = 4").await;
    assert!(matches!(fx.verify().await, Err(VerifyError::ForgedCheckpoint { sequence: 4 })));
}

async fn a_rewritten_chain_is_caught_by_its_signed_checkpoint(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(6).await;
    let signed = checkpoint::take(&fx.trail).await.unwrap().unwrap();
    assert_eq!(signed.sequence, 6);
    // Edit record 2 and recompute every link after it, as someone without
    // the signing key but with write access to the database could.
    let mut records = fx.records().await;
    records[1].action = "delete".to_owned();
    let mut head = ChainHead { sequence: 1, hash: records[0].hash.clone() };
    for r in &mut records[1..] {
        head.append(r);
        sqlx::query("UPDATE audit_events SET action = $1, prev_hash = $2, hash = $3 WHERE sequence = $4")
            .bind(r.action.as_str())
            .bind(r.prev_hash.as_str())
            .bind(r.hash.as_str())
            .bind(r.sequence)
            .execute(fx.store.reader())
            .await
            .unwrap();
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(head.hash.as_str())
        .execute(fx.store.reader())
        .await
        .unwrap();
    assert!(
        matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::CheckpointMismatch { sequence: 6 }))),
        "{:?}",
        fx.verify().await
    );
}

async fn a_range_verifies_a_slice(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(10).await;
    let slice = fx.verify_range(Range { from: Some(3), to: Some(7) }).await.unwrap();
    assert_eq!(slice, Report { checked: 5, span: Some((3, 7)), checkpoints: 0 });
    let tail = fx.verify_range(Range { from: Some(8), to: None }).await.unwrap();
    assert_eq!(tail, Report { checked: 3, span: Some((8, 10)), checkpoints: 0 });
    let head = fx.verify_range(Range { from: None, to: Some(2) }).await.unwrap();
    assert_eq!(head, Report { checked: 2, span: Some((1, 2)), checkpoints: 0 });

    // An edit outside the slice is not its business; inside, it is named.
    fx.exec("UPDATE audit_events SET action = 'delete' WHERE sequence = 9").await;
    assert_eq!(fx.verify_range(Range { from: Some(3), to: Some(7) }).await.unwrap().checked, 5);
    assert!(matches!(
        fx.verify_range(Range { from: Some(8), to: Some(10) }).await,
        Err(VerifyError::Chain(ChainError::Altered { sequence: 9, .. }))
    ));
    assert!(matches!(fx.verify().await, Err(VerifyError::Chain(ChainError::Altered { sequence: 9, .. }))));
    // A record missing inside the slice is named too.
    fx.exec("DELETE FROM audit_events WHERE sequence = 5").await;
    assert!(
        matches!(
            fx.verify_range(Range { from: Some(3), to: Some(7) }).await,
            Err(VerifyError::Chain(ChainError::Broken { sequence: 6, expected_after: 4, .. }))
        ),
        "{:?}",
        fx.verify_range(Range { from: Some(3), to: Some(7) }).await
    );
}

async fn deleting_the_oldest_rows_is_detected(db: TestDb) {
    let fx = open(&db).await;
    fx.record_n(3).await;
    let signed = checkpoint::take(&fx.trail).await.unwrap().unwrap();
    assert_eq!(signed.sequence, 3);
    fx.record_n(5).await;
    // Nothing was archived: records 1 to 3 are simply gone, and with them
    // the record the signed checkpoint vouches for.
    fx.exec("DELETE FROM audit_events WHERE sequence <= 3").await;
    match fx.verify().await {
        Err(VerifyError::Chain(ChainError::Broken { sequence, expected_after, .. })) => {
            assert_eq!((sequence, expected_after), (4, 0), "named as a break before the first record left");
        }
        other => panic!("the first three records were deleted without an archive, yet: {other:?}"),
    }
}

trail_tests!(
    an_intact_chain_verifies_with_its_count,
    a_chain_longer_than_a_page_verifies,
    an_edited_row_is_named,
    an_edit_with_its_hash_recomputed_breaks_the_next_link,
    a_deleted_middle_row_breaks_the_chain_at_the_next,
    reordered_rows_are_detected,
    a_cut_off_tail_is_truncation_against_the_checkpoint,
    a_cut_off_tail_and_checkpoint_is_a_head_mismatch,
    forged_checkpoints_are_refused,
    a_rewritten_chain_is_caught_by_its_signed_checkpoint,
    a_range_verifies_a_slice,
    deleting_every_row_with_the_head_left_is_a_head_mismatch,
    deleting_the_oldest_rows_is_detected,
);
