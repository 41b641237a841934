//! Malformed and forged access tokens: every one refused with the same
//! error (so the same 401 body), each for the reason the case is about.

use crate::forge::*;
use autopmo_identity::tokens::{MfaChallengeClaims, OpaquePurpose, OpaqueToken, issue_mfa_challenge};
use aws_lc_rs::hmac::{HMAC_SHA256, HMAC_SHA384, HMAC_SHA512};
use aws_lc_rs::signature::{RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::Duration;

struct Case {
    name: String,
    token: String,
    /// What the log reason must mention: proves the intended check fired.
    reason: &'static str,
}

fn case(name: impl Into<String>, token: String, reason: &'static str) -> Case {
    Case { name: name.into(), token, reason }
}

const ALG: &str = "alg is not RS256";
const TYP: &str = "typ is not the expected one";
const PARTS: &str = "not three parts";
const B64: &str = "not base64url";
const SIG: &str = "bad signature";
const KID: &str = "unknown kid";
const CLAIMS: &str = "claims missing or of the wrong type";

fn ts(t: time::OffsetDateTime) -> Value {
    json!(t.unix_timestamp())
}

fn header_cases() -> Vec<Case> {
    let key = rs256(ours());
    let mut cases = Vec::new();
    for spelling in ["none", "None", "NONE", "nOnE", "NoNe"] {
        let h = header_with(|h| {
            h.insert("alg".into(), json!(spelling));
        });
        cases.push(case(format!("alg {spelling} with a valid RS256 signature"), forge(&h, &claims(), &key), ALG));
    }
    let (h, p, _) = parts(&forge(&json!({"alg": "none", "typ": "at+jwt"}), &claims(), &key));
    cases.push(case("alg none, signature empty", format!("{h}.{p}."), "empty part"));
    cases.push(case("alg missing", forge(&header_with(|h| drop(h.remove("alg"))), &claims(), &key), ALG));
    for (what, alg) in [
        ("an array", json!(["RS256"])),
        ("a number", json!(256)),
        ("null", Value::Null),
        ("in lower case", json!("rs256")),
        ("with a trailing space", json!("RS256 ")),
        ("an object", json!({"name": "RS256"})),
    ] {
        let h = header_with(|h| {
            h.insert("alg".into(), alg);
        });
        cases.push(case(format!("alg {what}"), forge(&h, &claims(), &key), ALG));
    }

    let forms = public_forms();
    for (alg_name, alg) in [("HS256", HMAC_SHA256), ("HS384", HMAC_SHA384), ("HS512", HMAC_SHA512)] {
        for (form, secret) in [("PEM", &forms.pem), ("SPKI DER", &forms.spki_der), ("JWK JSON", &forms.jwk_json)] {
            let h = header_with(|h| {
                h.insert("alg".into(), json!(alg_name));
            });
            let token = forge(&h, &claims(), &Sig::Hmac(alg, secret.clone()));
            cases.push(case(format!("{alg_name} keyed with our public key ({form})"), token, ALG));
        }
    }
    let hs = header_with(|h| {
        h.insert("alg".into(), json!("HS256"));
    });
    let token = forge(&hs, &claims(), &Sig::Hmac(HMAC_SHA256, forms.pkcs1_der.clone()));
    cases.push(case("HS256 keyed with our public key (PKCS#1 DER)", token, ALG));

    for (alg_name, sig) in [
        ("RS384", Sig::Rsa(ours(), &RSA_PKCS1_SHA384)),
        ("RS512", Sig::Rsa(ours(), &RSA_PKCS1_SHA512)),
        ("PS256", Sig::Rsa(ours(), &RSA_PSS_SHA256)),
        ("ES256", Sig::Es256),
    ] {
        let h = header_with(|h| {
            h.insert("alg".into(), json!(alg_name));
        });
        cases.push(case(format!("{alg_name}, really signed that way"), forge(&h, &claims(), &sig), ALG));
    }
    let token = forge_raw(br#"{"alg":"RS256","typ":"at+jwt","kid":"x"}"#, b"{}", &key);
    let (_, p, s) = parts(&token);
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    cases.push(case("header not JSON", format!("{not_json}.{p}.{s}"), "header is not JSON"));
    let array = forge_raw(b"[\"RS256\"]", &serde_json::to_vec(&claims()).unwrap(), &key);
    cases.push(case("header a JSON array", array, "header is not a JSON object"));
    let kid = ours().kid();
    let claims_bytes = serde_json::to_vec(&claims()).unwrap();
    for (name, raw) in [
        ("duplicate alg, none first", format!(r#"{{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"{kid}"}}"#)),
        ("duplicate alg, none last", format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","alg":"none"}}"#)),
        (
            "duplicate alg hidden by an escape",
            format!(r#"{{"alg":"RS256","\u0061lg":"none","typ":"at+jwt","kid":"{kid}"}}"#),
        ),
        ("duplicate kid", format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","kid":"other"}}"#)),
    ] {
        cases.push(case(name, forge_raw(raw.as_bytes(), &claims_bytes, &key), "duplicate key in header"));
    }
    let crit = header_with(|h| {
        h.insert("crit".into(), json!(["exp"]));
        h.insert("exp".into(), json!(0));
    });
    cases.push(case("crit header", forge(&crit, &claims(), &key), "crit header present"));
    let b64 = header_with(|h| {
        h.insert("crit".into(), json!(["b64"]));
        h.insert("b64".into(), json!(false));
    });
    cases.push(case("unencoded payload (b64: false)", forge(&b64, &claims(), &key), "crit header present"));
    cases
}

fn kid_cases() -> Vec<Case> {
    let key = rs256(ours());
    let f = fixture();
    let stranger = &f.stranger;
    let mut cases = vec![
        case("unknown kid", forge(&header_for("not-a-key-of-ours"), &claims(), &key), KID),
        case("kid missing", forge(&header_with(|h| drop(h.remove("kid"))), &claims(), &key), "kid missing"),
        case(
            "kid a number",
            forge(
                &header_with(|h| {
                    h.insert("kid".into(), json!(1));
                }),
                &claims(),
                &key,
            ),
            "kid missing",
        ),
        case("kid empty", forge(&header_for(""), &claims(), &key), "kid missing"),
        case(
            "kid of a retired key whose tokens have all expired",
            forge(&header_for(f.old.kid()), &claims(), &rs256(&f.old)),
            KID,
        ),
    ];
    let mut bring_own_key = |what: &str, member: &str, value: Value| {
        let mut h = header_for(stranger.kid());
        h.as_object_mut().unwrap().insert(member.to_owned(), value);
        cases.push(case(format!("stranger's key, {what}"), forge(&h, &claims(), &rs256(stranger)), KID));
    };
    bring_own_key("embedded as jwk", "jwk", stranger.public_jwk());
    bring_own_key("jku pointing at it", "jku", json!("https://evil.example/jwks.json"));
    bring_own_key("x5u pointing at it", "x5u", json!("https://evil.example/cert.pem"));
    let mut h = header();
    h.as_object_mut().unwrap().insert("jwk".into(), stranger.public_jwk());
    cases.push(case(
        "stranger's key under our kid, with its jwk embedded",
        forge(&h, &claims(), &rs256(stranger)),
        SIG,
    ));
    cases
}

fn typ_cases() -> Vec<Case> {
    let key = rs256(ours());
    let mut cases = vec![case("typ missing", forge(&header_with(|h| drop(h.remove("typ"))), &claims(), &key), TYP)];
    for typ in ["JWT", "jwt", "mfa-challenge+jwt", "rt+jwt", "application/jwt", "at+jwt "] {
        let h = header_with(|h| {
            h.insert("typ".into(), json!(typ));
        });
        cases.push(case(format!("typ {typ:?}"), forge(&h, &claims(), &key), TYP));
    }
    let mfa = MfaChallengeClaims::new(&policy(), "user-1", vec!["pwd".into()], "jti-mfa", now());
    cases.push(case("a real MFA challenge token", issue_mfa_challenge(ours(), &mfa).unwrap(), TYP));
    let mut mfa_as_access = serde_json::to_value(&mfa).unwrap();
    mfa_as_access.as_object_mut().unwrap().insert("aud".into(), json!("autopmo-api"));
    cases.push(case("MFA challenge claims under an access typ", forge(&header(), &mfa_as_access, &key), CLAIMS));
    let refresh = OpaqueToken::from_random(OpaquePurpose::Refresh, [9; 32]);
    cases.push(case("a refresh token", refresh.expose_secret().to_owned(), PARTS));
    cases
}

fn shape_cases() -> Vec<Case> {
    let good = valid();
    let (h, p, s) = parts(&good);
    let flip = |part: &str, from: &str, to: &str| {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
        assert!(text.contains(from));
        URL_SAFE_NO_PAD.encode(text.replacen(from, to, 1))
    };
    let h_flipped = flip(&h, "at+jwt", "AT+jwt");
    let p_flipped = flip(&p, "user-1", "user-2");
    let mut signature = URL_SAFE_NO_PAD.decode(&s).unwrap();
    signature[100] ^= 0x01;
    let s_flipped = URL_SAFE_NO_PAD.encode(signature);
    let last = s.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.find(last).unwrap();
    let noncanonical = alphabet.chars().nth(value | 1).unwrap();
    let refresh = OpaqueToken::from_random(OpaquePurpose::Refresh, [3; 32]);
    vec![
        case("header byte flipped", format!("{h_flipped}.{p}.{s}"), SIG),
        case("payload byte flipped", format!("{h}.{p_flipped}.{s}"), SIG),
        case("signature byte flipped", format!("{h}.{p}.{s_flipped}"), SIG),
        case("signature stripped", format!("{h}.{p}"), PARTS),
        case("signature empty", format!("{h}.{p}."), "empty part"),
        case("one part", h.clone(), PARTS),
        case("four parts", format!("{good}.{s}"), PARTS),
        case("five parts (JWE shape)", format!("{h}.{p}.{p}.{p}.{s}"), PARTS),
        case("empty string", String::new(), PARTS),
        case("only dots", "..".to_owned(), "empty part"),
        case("signature in the standard alphabet", format!("{h}.{p}.+{}", &s[1..]), B64),
        case("slash in the header", format!("/{}.{p}.{s}", &h[1..]), B64),
        case("asterisk in the payload", format!("{h}.*{}.{s}", &p[1..]), B64),
        case("padding on the signature", format!("{good}=="), B64),
        case("padding on the header", format!("{h}=.{p}.{s}"), B64),
        case("leading space", format!(" {good}"), B64),
        case("trailing newline", format!("{good}\n"), B64),
        case("space inside", format!("{h}. {p}.{s}"), B64),
        case(
            "signature with non-zero trailing bits",
            format!("{h}.{p}.{}{noncanonical}", &s[..s.len() - 1]),
            if noncanonical == last { SIG } else { B64 },
        ),
        case("8 KiB + 1", signed_of_length(8 * 1024 + 1), "longer than 8 KiB"),
        case("a refresh token with dots added", format!("{}.a.b", refresh.expose_secret()), B64),
    ]
}

fn claims_cases() -> Vec<Case> {
    let key = rs256(ours());
    let signed = |c: Value| forge(&header(), &c, &key);
    let set = |name: &'static str, value: Value| {
        signed(claims_with(|c| {
            c.insert(name.to_owned(), value);
        }))
    };
    let without = |name: &str| signed(claims_with(|c| drop(c.remove(name))));
    let t = now();
    let ttl = Duration::minutes(15);
    let mut cases = vec![
        case(
            "expired beyond the leeway",
            signed(claims_with(|c| {
                c.insert("exp".into(), ts(t - Duration::seconds(61)));
                c.insert("iat".into(), ts(t - Duration::seconds(61) - ttl));
                c.insert("nbf".into(), ts(t - Duration::seconds(61) - ttl));
                c.insert("auth_time".into(), ts(t - Duration::hours(1)));
            })),
            "expired",
        ),
        case(
            "expired exactly at the leeway",
            signed(claims_with(|c| {
                c.insert("exp".into(), ts(t - Duration::seconds(60)));
                c.insert("iat".into(), ts(t - Duration::seconds(60) - ttl));
                c.insert("auth_time".into(), ts(t - Duration::hours(1)));
            })),
            "expired",
        ),
        case("nbf in the future", set("nbf", ts(t + Duration::seconds(61))), "nbf"),
        case(
            "iat in the future",
            signed(claims_with(|c| {
                c.insert("iat".into(), ts(t + Duration::seconds(61)));
                c.insert("exp".into(), ts(t + Duration::seconds(61) + ttl));
            })),
            "iat",
        ),
        case("lifetime of a day", set("exp", ts(t + Duration::days(1))), "lifetime"),
        case(
            "exp before iat",
            signed(claims_with(|c| {
                c.insert("exp".into(), ts(t - Duration::seconds(30)));
                c.insert("iat".into(), ts(t - Duration::seconds(20)));
            })),
            "lifetime",
        ),
        case("auth_time after iat", set("auth_time", ts(t + Duration::minutes(1))), "auth_time"),
        case("wrong issuer", set("iss", json!("https://evil.example")), "wrong issuer"),
        case("issuer with a trailing slash", set("iss", json!(format!("{ISSUER}/"))), "wrong issuer"),
        case("empty issuer", set("iss", json!("")), "wrong issuer"),
        case("wrong audience", set("aud", json!("autopmo-mfa")), "wrong audience"),
        case("audience array without ours", set("aud", json!(["other", "autopmo-api-x"])), "wrong audience"),
        case("audience empty array", set("aud", json!([])), "wrong audience"),
        case("audience a number", set("aud", json!(1)), CLAIMS),
        case("audience array with a number", set("aud", json!(["autopmo-api", 1])), CLAIMS),
        case("exp as a string", set("exp", json!((t + Duration::minutes(5)).unix_timestamp().to_string())), CLAIMS),
        case("exp as a float", set("exp", json!((t + Duration::minutes(5)).unix_timestamp() as f64 + 0.5)), CLAIMS),
        case("exp beyond year 9999", set("exp", json!(i64::MAX)), CLAIMS),
        case("roles a string", set("roles", json!("system_admin")), CLAIMS),
        case("sub a number", set("sub", json!(1)), CLAIMS),
        case("sub empty", set("sub", json!("")), "sub or jti"),
        case("jti empty", set("jti", json!("")), "sub or jti"),
        case("sub too long", set("sub", json!("u".repeat(257))), "sub or jti"),
        case("sid empty", set("sid", json!("")), "sid"),
        case("sub null", set("sub", Value::Null), CLAIMS),
    ];
    for name in ["sub", "sid", "jti", "exp", "iat", "nbf", "iss", "aud", "roles", "amr", "auth_time"] {
        cases.push(case(format!("{name} missing"), without(name), CLAIMS));
    }
    let dup = serde_json::to_string(&claims()).unwrap().replacen('{', r#"{"sub":"admin","#, 1);
    let header_bytes = serde_json::to_vec(&header()).unwrap();
    cases.push(case(
        "duplicate sub in payload",
        forge_raw(&header_bytes, dup.as_bytes(), &key),
        "duplicate key in payload",
    ));
    cases.push(case("payload not JSON", forge_raw(&header_bytes, b"sub=admin", &key), "payload is not JSON"));
    cases.push(case(
        "payload invalid UTF-8",
        forge_raw(&header_bytes, b"{\"sub\":\"\xff\"}", &key),
        "payload is not JSON",
    ));
    cases.push(case("payload a JSON array", forge_raw(&header_bytes, b"[]", &key), "payload is not a JSON object"));
    cases.push(case(
        "payload a JSON string",
        forge_raw(&header_bytes, b"\"admin\"", &key),
        "payload is not a JSON object",
    ));
    cases
}

fn all_cases() -> Vec<Case> {
    let mut cases = header_cases();
    cases.extend(kid_cases());
    cases.extend(typ_cases());
    cases.extend(shape_cases());
    cases.extend(claims_cases());
    cases
}

#[test]
fn every_malformed_or_forged_token_is_refused_alike() {
    assert!(check(&valid()).is_ok(), "the unbent token must pass, or the cases prove nothing");
    let cases = all_cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");

    let mut failures = Vec::new();
    let mut bodies = std::collections::BTreeSet::new();
    for c in &cases {
        match check(&c.token) {
            Ok(_) => failures.push(format!("{}: accepted", c.name)),
            Err(e) => {
                bodies.insert(e.to_string());
                if !e.reason().contains(c.reason) {
                    failures.push(format!("{}: refused for {:?}, expected {:?}", c.name, e.reason(), c.reason));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(bodies.into_iter().collect::<Vec<_>>(), ["invalid token"], "one error, one message");
    eprintln!("{} malformed or forged tokens refused", cases.len());
}
