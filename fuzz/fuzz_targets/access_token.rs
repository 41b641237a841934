//! Token claims (`autopmo_identity::tokens`): validly signed access and
//! MFA-challenge tokens with fuzzed claims through `verify_access` and
//! `verify_mfa_challenge`, and the opaque refresh / password-reset / invite
//! tokens through `OpaqueToken::parse`.
//!
//! Properties beyond "never panics": an accepted token satisfies every rule
//! of RFC 8725 §3.8–3.11 as the module documents them (issuer, audience,
//! `exp`/`nbf`/`iat` with the policy's leeway, a lifetime within the
//! policy's, non-empty bounded ids, `auth_time` not after `iat`); one
//! purpose's token is never accepted as the other's; an opaque token parses
//! only as its own purpose, with its prefix and 43 base64url characters.
#![no_main]

use arbitrary::Arbitrary;
use autopmo_fuzz::{header, ours, sign_parts};
use autopmo_identity::tokens::{
    ACCESS_AUDIENCE, ACCESS_TYP, MFA_CHALLENGE_AUDIENCE, MFA_CHALLENGE_TYP, OpaquePurpose, OpaqueToken, TokenPolicy,
    verify_access, verify_mfa_challenge,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

const ISSUER: &str = "https://pmo.example.org";
/// A fixed "now" (2027-01-15T08:00:00Z), so that inputs replay.
const NOW: i64 = 1_800_000_000;

#[derive(Arbitrary, Debug)]
enum Text {
    Issuer,
    AccessAudience,
    MfaAudience,
    Uuid,
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum Field<T> {
    Missing,
    Value(T),
    Null,
    Number(f64),
    Wrong(bool),
}

#[derive(Arbitrary, Debug)]
enum Audience {
    One(Text),
    Many(Vec<Text>),
}

/// Seconds from [`NOW`] (small offsets find the edges), or any instant.
#[derive(Arbitrary, Debug)]
enum Instant {
    Offset(i16),
    Any(i64),
    Float(f64),
}

#[derive(Arbitrary, Debug)]
struct Claims {
    iss: Field<Text>,
    aud: Field<Audience>,
    sub: Field<Text>,
    sid: Field<Text>,
    jti: Field<Text>,
    roles: Field<Vec<Text>>,
    amr: Field<Vec<Text>>,
    iat: Field<Instant>,
    nbf: Field<Instant>,
    exp: Field<Instant>,
    auth_time: Field<Instant>,
    extra: Vec<(String, Text)>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    claims: Claims,
    /// Sign as an MFA challenge (`typ`) rather than an access token.
    as_challenge: bool,
    /// Verify as an MFA challenge rather than an access token.
    verify_challenge: bool,
    leeway_secs: u8,
    ttl_minutes: u8,
    opaque: String,
}

fn text(t: &Text) -> String {
    match t {
        Text::Issuer => ISSUER.into(),
        Text::AccessAudience => ACCESS_AUDIENCE.into(),
        Text::MfaAudience => MFA_CHALLENGE_AUDIENCE.into(),
        Text::Uuid => "01a2439a-d328-7402-bab3-7ef8de77db9b".into(),
        Text::Any(s) => s.clone(),
    }
}

fn instant(i: &Instant) -> Value {
    match i {
        Instant::Offset(o) => Value::from(NOW + i64::from(*o)),
        Instant::Any(n) => Value::from(*n),
        Instant::Float(f) => Value::from(*f),
    }
}

fn field<T>(m: &mut Map<String, Value>, name: &str, f: &Field<T>, value: impl Fn(&T) -> Value) {
    let v = match f {
        Field::Missing => return,
        Field::Value(t) => value(t),
        Field::Null => Value::Null,
        Field::Number(n) => Value::from(*n),
        Field::Wrong(b) => Value::Bool(*b),
    };
    m.insert(name.to_owned(), v);
}

fn payload(c: &Claims) -> Value {
    let mut m = Map::new();
    for (k, v) in &c.extra {
        m.insert(k.clone(), Value::String(text(v)));
    }
    let strings = |v: &Vec<Text>| Value::Array(v.iter().map(|t| Value::String(text(t))).collect());
    field(&mut m, "iss", &c.iss, |t| Value::String(text(t)));
    field(&mut m, "aud", &c.aud, |a| match a {
        Audience::One(t) => Value::String(text(t)),
        Audience::Many(ts) => strings(ts),
    });
    field(&mut m, "sub", &c.sub, |t| Value::String(text(t)));
    field(&mut m, "sid", &c.sid, |t| Value::String(text(t)));
    field(&mut m, "jti", &c.jti, |t| Value::String(text(t)));
    field(&mut m, "roles", &c.roles, strings);
    field(&mut m, "amr", &c.amr, strings);
    field(&mut m, "iat", &c.iat, instant);
    field(&mut m, "nbf", &c.nbf, instant);
    field(&mut m, "exp", &c.exp, instant);
    field(&mut m, "auth_time", &c.auth_time, instant);
    Value::Object(m)
}

fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256
}

/// The rules every accepted token must satisfy.
fn check_times(iat: OffsetDateTime, nbf: OffsetDateTime, exp: OffsetDateTime, policy: &TokenPolicy, ttl: Duration) {
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("a valid instant");
    let leeway = policy.leeway();
    assert!(exp > now - leeway, "accepted an expired token: exp {exp}");
    assert!(nbf <= now + leeway, "accepted a token before its nbf {nbf}");
    assert!(iat <= now + leeway, "accepted a token issued in the future: iat {iat}");
    let lifetime = exp - iat;
    assert!(lifetime > Duration::ZERO && lifetime <= ttl, "accepted a lifetime of {lifetime}");
}

fuzz_target!(|input: Input| {
    let policy = TokenPolicy::new(ISSUER)
        .with_leeway(Duration::seconds(i64::from(input.leeway_secs)))
        .with_access_ttl(Duration::minutes(i64::from(input.ttl_minutes)));
    let typ = if input.as_challenge { MFA_CHALLENGE_TYP } else { ACCESS_TYP };
    let body = serde_json::to_vec(&payload(&input.claims)).expect("JSON");
    let token = sign_parts(&header(typ), &body);
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("a valid instant");

    if input.verify_challenge {
        if let Ok(c) = verify_mfa_challenge(&token, &ours, &policy, now) {
            assert!(input.as_challenge, "an access token was accepted as an MFA challenge");
            assert_eq!(c.iss, ISSUER);
            assert_eq!(c.aud, MFA_CHALLENGE_AUDIENCE);
            assert!(usable_id(&c.sub) && usable_id(&c.jti));
            check_times(c.iat, c.nbf, c.exp, &policy, Duration::minutes(5));
        }
    } else if let Ok(c) = verify_access(&token, &ours, &policy, now) {
        assert!(!input.as_challenge, "an MFA challenge was accepted as an access token");
        assert_eq!(c.iss, ISSUER);
        assert_eq!(c.aud, ACCESS_AUDIENCE);
        assert!(usable_id(&c.sub) && usable_id(&c.jti) && usable_id(&c.sid));
        check_times(c.iat, c.nbf, c.exp, &policy, policy.access_ttl());
        assert!(c.auth_time <= c.iat + policy.leeway(), "auth_time {} after iat {}", c.auth_time, c.iat);
        // The audience claim really named this purpose.
        let aud = &payload(&input.claims)["aud"];
        let named = |v: &Value| v.as_str() == Some(ACCESS_AUDIENCE);
        assert!(named(aud) || aud.as_array().is_some_and(|a| a.iter().any(named)), "wrong audience {aud}");
    }

    // Opaque tokens: each parses only as its own purpose.
    let purposes = [OpaquePurpose::Refresh, OpaquePurpose::PasswordReset, OpaquePurpose::Invite];
    let parsed: Vec<_> = purposes.iter().filter_map(|p| OpaqueToken::parse(*p, &input.opaque)).collect();
    assert!(parsed.len() <= 1, "one token parsed as {} purposes", parsed.len());
    if let Some(t) = parsed.first() {
        assert_eq!(t.expose_secret(), input.opaque);
        let rest = input.opaque.strip_prefix(t.purpose().prefix()).expect("its own prefix");
        assert_eq!(rest.len(), 43);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
});
