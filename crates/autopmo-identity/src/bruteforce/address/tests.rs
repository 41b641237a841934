//! Per-address throttling, with the default numbers (20 per 15 min, a 45 s
//! cost per failure, blocks of 1 min doubling up to 1 h, remembered 24 h).

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;

const START: OffsetDateTime = datetime!(2026-12-01 08:00 UTC);

fn at(seconds: i64) -> OffsetDateTime {
    START + Duration::seconds(seconds)
}

/// Fails from the address at `now` until it is blocked; returns the state, how
/// many failures it took and the block.
fn burst(
    mut state: AddressThrottle,
    policy: &AddressPolicy,
    now: OffsetDateTime,
) -> (AddressThrottle, u32, AddressOutcome) {
    let mut failures = 0;
    loop {
        assert_eq!(state.check(now), AddressStatus::Allowed);
        let (next, outcome) = state.on_failure(policy, now);
        failures += 1;
        state = next;
        if outcome != AddressOutcome::NoNewBlock {
            return (state, failures, outcome);
        }
        assert!(failures < 1000, "never blocked");
    }
}

#[test]
fn escalating_blocks_for_an_attacker_who_bursts() {
    // Each row: failures the burst got before the block, the block in minutes,
    // and which block of the escalation it is. After a block, the budget has
    // only partly refilled, so the next bursts are short until the blocks
    // outlast the 15-minute window.
    let expected: [(u32, i64, u32); 9] =
        [(20, 1, 1), (1, 2, 2), (3, 4, 3), (5, 8, 4), (11, 16, 5), (20, 32, 6), (20, 60, 7), (20, 60, 8), (20, 60, 9)];
    let policy = AddressPolicy::default();
    let mut state = AddressThrottle::default();
    let mut now = START;
    for (i, &(failures, minutes, level)) in expected.iter().enumerate() {
        let (next, got, outcome) = burst(state, &policy, now);
        let until = now + Duration::minutes(minutes);
        assert_eq!((got, outcome), (failures, AddressOutcome::Blocked { until, consecutive_blocks: level }), "row {i}");
        state = next;
        // Refused, and not counted, until the block ends.
        let before = state.clone();
        assert_eq!(state.check(until - Duration::MILLISECOND), AddressStatus::Blocked { until });
        assert_eq!(state, before);
        now = until;
    }
}

#[test]
fn escalation_is_forgotten_after_a_quiet_day() {
    let policy = AddressPolicy::default();
    let (state, _, first) = burst(AddressThrottle::default(), &policy, START);
    assert_eq!(first, AddressOutcome::Blocked { until: at(60), consecutive_blocks: 1 });
    // A block starting less than 24 h after the previous one ended escalates…
    let now = at(60) + Duration::DAY - Duration::SECOND;
    let (state, failures, second) = burst(state, &policy, now);
    assert_eq!(
        (failures, second),
        (20, AddressOutcome::Blocked { until: now + Duration::minutes(2), consecutive_blocks: 2 })
    );
    // …one 24 h or more after it does not.
    let now = now + Duration::minutes(2) + Duration::DAY;
    let (_, _, third) = burst(state, &policy, now);
    assert_eq!(third, AddressOutcome::Blocked { until: now + Duration::minutes(1), consecutive_blocks: 1 });
}

#[test]
fn the_budget_refills_continuously() {
    let policy = AddressPolicy::default();
    // One failure every 45 s is exactly the refill rate: never blocked.
    let mut state = AddressThrottle::default();
    for i in 0..2000 {
        let (next, outcome) = state.on_failure(&policy, at(i * 45));
        assert_eq!(outcome, AddressOutcome::NoNewBlock, "failure {i}");
        state = next;
    }
    assert_eq!(state.recent_failures(&policy, at(1999 * 45)), 1);
    // One every 44 s leaves a second of debt per failure: 44 + k s after the
    // k-th, over the 855 s (19 × 45 s) of room at the 812th.
    let mut state = AddressThrottle::default();
    let mut blocked_at = None;
    for i in 0..2000 {
        let (next, outcome) = state.on_failure(&policy, at(i * 44));
        state = next;
        if outcome != AddressOutcome::NoNewBlock {
            blocked_at = Some(i + 1);
            break;
        }
    }
    assert_eq!(blocked_at, Some(812));
    // Half the budget back after half the window.
    let (state, _, _) = burst(AddressThrottle::default(), &policy, START);
    assert_eq!(state.recent_failures(&policy, START), 20);
    assert_eq!(state.recent_failures(&policy, at(450)), 10);
    assert_eq!(state.recent_failures(&policy, at(900)), 0);
}

#[test]
fn a_success_forgives_nothing() {
    let policy = AddressPolicy::default();
    let (state, _, _) = burst(AddressThrottle::default(), &policy, START);
    let state = state.on_success();
    assert_eq!(state.check(at(30)), AddressStatus::Blocked { until: at(60) });
    let (_, failures, outcome) = burst(state, &policy, at(60));
    assert_eq!((failures, outcome), (1, AddressOutcome::Blocked { until: at(180), consecutive_blocks: 2 }));
}

#[test]
fn policy_validation_and_config_names() {
    let base = AddressPolicy::default();
    assert_eq!(base.validate(), Ok(()));
    let cases: [(AddressPolicy, AddressPolicyError); 5] = [
        (AddressPolicy { max_failures: 0, ..base.clone() }, AddressPolicyError::MaxFailuresZero),
        (
            AddressPolicy { window: Duration::ZERO, ..base.clone() },
            AddressPolicyError::NotPositive { field: "window_seconds" },
        ),
        (
            AddressPolicy { first_block: Duration::ZERO, ..base.clone() },
            AddressPolicyError::NotPositive { field: "first_block_seconds" },
        ),
        (AddressPolicy { max_block: Duration::seconds(59), ..base.clone() }, AddressPolicyError::MaxBlockBelowFirst),
        (
            AddressPolicy { escalation_memory: Duration::seconds(-1), ..base.clone() },
            AddressPolicyError::NegativeMemory,
        ),
    ];
    for (policy, error) in cases {
        assert_eq!(policy.validate(), Err(error));
    }
    let json = serde_json::to_value(&base).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"max_failures": 20, "window_seconds": 900, "first_block_seconds": 60,
            "max_block_seconds": 3600, "escalation_memory_seconds": 86400})
    );
    let partial: AddressPolicy = serde_json::from_str(r#"{"max_failures": 10}"#).unwrap();
    assert_eq!(partial, AddressPolicy { max_failures: 10, ..base });
    assert!(serde_json::from_str::<AddressPolicy>(r#"{"max_failure": 10}"#).is_err());
}

#[test]
fn state_round_trips_through_json() {
    let policy = AddressPolicy::default();
    let (state, _, _) = burst(AddressThrottle::default(), &policy, START);
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(
        json,
        r#"{"budget_full_at":"2026-12-01T08:15:00Z","blocked_until":"2026-12-01T08:01:00Z","consecutive_blocks":1}"#
    );
    assert_eq!(serde_json::from_str::<AddressThrottle>(&json).unwrap(), state);
}

/// xorshift64*, fixed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The most failures in any interval of length `span` (sorted times).
fn most_within(times: &[OffsetDateTime], span: Duration) -> usize {
    let mut most = 0;
    let mut first = 0;
    for (last, &t) in times.iter().enumerate() {
        while times[first] <= t - span {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

#[test]
fn no_attacker_beats_the_documented_bound() {
    // max_failures + ⌊L / 45 s⌋ in any interval of length L.
    let policy = AddressPolicy::default();
    let bound = |span: Duration| 20 + usize::try_from(span.whole_seconds() / 45).unwrap();
    assert_eq!(bound(Duration::minutes(15)), 40);
    assert_eq!(bound(Duration::DAY), 1940);
    let mut rng = Rng(0x5EED_2026_1204_0002);
    let mut best_quarter = 0;
    for _ in 0..600 {
        let mut state = AddressThrottle::default();
        let mut now = START;
        let end = START + Duration::days(2);
        let mut failures = Vec::new();
        // Each attacker has its own habit: mostly bursty, or mostly paced.
        let paced_ms = 40_000 + rng.below(10_000);
        while now < end {
            if state.check(now) == AddressStatus::Allowed {
                let (next, _) = state.on_failure(&policy, now);
                state = next;
                failures.push(now);
            }
            let pause_ms = match rng.below(100) {
                0..=39 => rng.below(500),
                40..=69 => paced_ms,
                70..=94 => {
                    let until = state.blocked_until.unwrap_or(now).max(now);
                    u64::try_from((until - now).whole_milliseconds()).unwrap() + rng.below(2000)
                }
                _ => rng.below(1_800_000),
            };
            now += Duration::milliseconds(i64::try_from(pause_ms).unwrap());
        }
        for span in [Duration::minutes(15), Duration::hours(1), Duration::DAY] {
            let most = most_within(&failures, span);
            assert!(most <= bound(span), "{most} failures within {span}");
        }
        best_quarter = best_quarter.max(most_within(&failures, Duration::minutes(15)));
    }
    assert!(best_quarter >= 35, "best random attacker: {best_quarter} in 15 min");
}
