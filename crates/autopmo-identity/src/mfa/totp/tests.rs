//! RFC 6238's test vectors, then the checks around them: skew, replay,
//! malformed codes, and the enrolment URI and QR code.

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

use super::*;

/// RFC 6238 Appendix B's seeds: "12345678901234567890" repeated to the HMAC's length.
fn rfc_seed(algorithm: Algorithm) -> Vec<u8> {
    b"1234567890".iter().copied().cycle().take(algorithm.secret_len()).collect()
}

fn rfc_policy(algorithm: Algorithm) -> TotpPolicy {
    TotpPolicy { algorithm, digits: 8, period: 30, skew: 1 }
}

/// RFC 6238 Appendix B: time, then the SHA1, SHA256 and SHA512 codes.
const RFC6238_VECTORS: [(i64, [&str; 3]); 6] = [
    (59, ["94287082", "46119246", "90693936"]),
    (1_111_111_109, ["07081804", "68084774", "25091201"]),
    (1_111_111_111, ["14050471", "67062674", "99943326"]),
    (1_234_567_890, ["89005924", "91819424", "93441116"]),
    (2_000_000_000, ["69279037", "90698825", "38618901"]),
    (20_000_000_000, ["65353130", "77737706", "47863826"]),
];

const ALGORITHMS: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

#[test]
fn rfc6238_appendix_b_vectors() {
    for (time, codes) in RFC6238_VECTORS {
        for (algorithm, expected) in ALGORITHMS.into_iter().zip(codes) {
            let policy = rfc_policy(algorithm);
            let secret = rfc_seed(algorithm);
            assert_eq!(code_at(&secret, &policy, time), expected, "{algorithm} at {time}");
            assert_eq!(verify(&secret, &policy, expected, time, None), Some(step_of(&policy, time)));
        }
    }
}

#[test]
fn rfc_seeds_have_the_rfc_lengths() {
    assert_eq!(rfc_seed(Algorithm::Sha1), b"12345678901234567890");
    assert_eq!(rfc_seed(Algorithm::Sha256), b"12345678901234567890123456789012");
    assert_eq!(rfc_seed(Algorithm::Sha512), b"1234567890123456789012345678901234567890123456789012345678901234");
}

#[test]
fn default_policy_is_the_guides() {
    let policy = TotpPolicy::default();
    assert_eq!(policy, TotpPolicy { algorithm: Algorithm::Sha256, digits: 6, period: 30, skew: 1 });
    assert_eq!(policy.validate(), Ok(()));
}

#[test]
fn six_digit_codes_under_the_default_policy() {
    // Six digits are the last six of the eight: the same value modulo 10⁶.
    let policy = TotpPolicy::default();
    let secret = rfc_seed(Algorithm::Sha256);
    for (time, [_, sha256, _]) in RFC6238_VECTORS {
        let code = code_at(&secret, &policy, time);
        assert_eq!(code.len(), 6);
        assert_eq!(code, sha256[2..], "at {time}");
    }
    // Zero-padded: 07081804 under SHA1 keeps its leading zero at 8 digits,
    // and 6-digit codes with a leading zero keep theirs.
    let sha1 = TotpPolicy { algorithm: Algorithm::Sha1, ..TotpPolicy::default() };
    assert_eq!(code_at(&rfc_seed(Algorithm::Sha1), &sha1, 1_111_111_109), "081804");
    let secret = [7u8; 32];
    let padded = (0..2_000).map(|step| code_at(&secret, &policy, step * 30)).find(|code| code.starts_with('0'));
    assert_eq!(padded.map(|code| code.len()), Some(6));
}

#[test]
fn steps_round_down() {
    let policy = TotpPolicy::default();
    assert_eq!(step_of(&policy, 0), 0);
    assert_eq!(step_of(&policy, 29), 0);
    assert_eq!(step_of(&policy, 30), 1);
    assert_eq!(step_of(&policy, 59), 1);
    assert_eq!(step_of(&policy, -1), -1);
    assert_eq!(step_of(&policy, 1_111_111_111), 37_037_037);
    assert_eq!(step_of(&TotpPolicy { period: 60, ..policy }, 1_111_111_111), 18_518_518);
}

#[test]
fn skew_accepts_the_neighbouring_steps_only() {
    let policy = TotpPolicy::default();
    let secret = rfc_seed(Algorithm::Sha256);
    let now = 1_111_111_111;
    let step = step_of(&policy, now);
    let at_step = |offset: i64| code_at(&secret, &policy, (step + offset) * 30);
    assert_eq!(verify(&secret, &policy, &at_step(0), now, None), Some(step));
    assert_eq!(verify(&secret, &policy, &at_step(-1), now, None), Some(step - 1));
    assert_eq!(verify(&secret, &policy, &at_step(1), now, None), Some(step + 1));
    assert_eq!(verify(&secret, &policy, &at_step(-2), now, None), None);
    assert_eq!(verify(&secret, &policy, &at_step(2), now, None), None);

    let strict = TotpPolicy { skew: 0, ..policy };
    assert_eq!(verify(&secret, &strict, &at_step(0), now, None), Some(step));
    assert_eq!(verify(&secret, &strict, &at_step(-1), now, None), None);
    assert_eq!(verify(&secret, &strict, &at_step(1), now, None), None);

    let lenient = TotpPolicy { skew: 2, ..policy };
    assert_eq!(verify(&secret, &lenient, &at_step(-2), now, None), Some(step - 2));
    assert_eq!(verify(&secret, &lenient, &at_step(2), now, None), Some(step + 2));
    assert_eq!(verify(&secret, &lenient, &at_step(3), now, None), None);
}

#[test]
fn a_code_is_accepted_at_every_second_of_its_step() {
    let policy = TotpPolicy { skew: 0, ..TotpPolicy::default() };
    let secret = rfc_seed(Algorithm::Sha256);
    let code = code_at(&secret, &policy, 1_111_111_110);
    for now in 1_111_111_110..1_111_111_140 {
        assert_eq!(verify(&secret, &policy, &code, now, None), Some(37_037_037), "at {now}");
    }
    assert_eq!(verify(&secret, &policy, &code, 1_111_111_140, None), None);
    assert_eq!(verify(&secret, &policy, &code, 1_111_111_109, None), None);
}

#[test]
fn replay_of_the_same_or_an_earlier_step_is_refused() {
    let policy = TotpPolicy::default();
    let secret = rfc_seed(Algorithm::Sha256);
    let now = 1_111_111_111;
    let step = step_of(&policy, now);
    let code = code_at(&secret, &policy, now);
    let previous = code_at(&secret, &policy, now - 30);
    let next = code_at(&secret, &policy, now + 30);

    let last = verify(&secret, &policy, &code, now, None);
    assert_eq!(last, Some(step));
    // The same code again, in the same step or the next one.
    assert_eq!(verify(&secret, &policy, &code, now, last), None);
    assert_eq!(verify(&secret, &policy, &code, now + 30, last), None);
    // An earlier code, still within the skew.
    assert_eq!(verify(&secret, &policy, &previous, now, last), None);
    // The next step's code is later, so it is accepted, and then it blocks this step's.
    let last = verify(&secret, &policy, &next, now, last);
    assert_eq!(last, Some(step + 1));
    assert_eq!(verify(&secret, &policy, &code, now, last), None);
    // A last step further back does not block the current code.
    assert_eq!(verify(&secret, &policy, &code, now, Some(step - 1)), Some(step));
}

#[test]
fn malformed_codes_are_refused() {
    let policy = TotpPolicy::default();
    let secret = rfc_seed(Algorithm::Sha256);
    let now = 59;
    let code = code_at(&secret, &policy, now);
    assert_eq!(code, "119246");
    assert_eq!(verify(&secret, &policy, &code, now, None), Some(1));
    for bad in [
        "",
        "11924",
        "1192460",
        "46119246",
        "11924a",
        "119 246",
        " 119246",
        "119246 ",
        "119-246",
        "+19246",
        "-19246",
        "１１９２４６",
        "119246\0",
    ] {
        assert_eq!(verify(&secret, &policy, bad, now, None), None, "{bad:?}");
    }
    // The wrong secret or the wrong algorithm.
    assert_eq!(verify(&[0u8; 32], &policy, &code, now, None), None);
    let sha1 = TotpPolicy { algorithm: Algorithm::Sha1, ..policy };
    assert_eq!(verify(&secret, &sha1, &code, now, None), None);
}

#[test]
fn an_invalid_policy_accepts_nothing_and_never_panics() {
    let secret = rfc_seed(Algorithm::Sha256);
    for policy in [
        TotpPolicy { digits: 5, ..TotpPolicy::default() },
        TotpPolicy { digits: 9, ..TotpPolicy::default() },
        TotpPolicy { period: 0, ..TotpPolicy::default() },
        TotpPolicy { period: 10, ..TotpPolicy::default() },
        TotpPolicy { period: 121, ..TotpPolicy::default() },
        TotpPolicy { skew: 3, ..TotpPolicy::default() },
    ] {
        assert!(policy.validate().is_err(), "{policy:?}");
        let code = code_at(&secret, &policy, 1_111_111_111);
        assert_eq!(verify(&secret, &policy, &code, 1_111_111_111, None), None, "{policy:?}");
    }
    let huge = TotpPolicy { digits: u32::MAX, period: 0, skew: u32::MAX, ..TotpPolicy::default() };
    assert_eq!(code_at(&secret, &huge, i64::MAX).len(), 10);
    assert_eq!(code_at(&secret, &TotpPolicy::default(), i64::MIN).len(), 6);
    assert_eq!(verify(&secret, &TotpPolicy::default(), "000000", i64::MAX, Some(i64::MAX)), None);
}

#[test]
fn validation_names_the_field() {
    let base = TotpPolicy::default();
    assert!(TotpPolicy { digits: 8, period: 15, skew: 0, ..base }.validate().is_ok());
    assert!(TotpPolicy { digits: 6, period: 120, skew: 2, ..base }.validate().is_ok());
    assert!(TotpPolicy { digits: 10, ..base }.validate().is_err_and(|e| e.contains("digits")));
    assert!(TotpPolicy { period: 5, ..base }.validate().is_err_and(|e| e.contains("period")));
    assert!(TotpPolicy { skew: 5, ..base }.validate().is_err_and(|e| e.contains("skew")));
}

#[test]
fn algorithm_names() {
    for algorithm in ALGORITHMS {
        assert_eq!(Algorithm::parse(algorithm.as_str()), Some(algorithm));
        assert_eq!(Algorithm::parse(&algorithm.as_str().to_lowercase()), Some(algorithm));
        assert_eq!(algorithm.to_string(), algorithm.as_str());
    }
    assert_eq!(Algorithm::parse("HmacSHA256"), Some(Algorithm::Sha256));
    assert_eq!(Algorithm::parse("hmacsha1"), Some(Algorithm::Sha1));
    assert_eq!(Algorithm::parse("Sha512"), Some(Algorithm::Sha512));
    for unknown in ["", "SHA-256", "SHA384", "MD5", "hmac", " SHA1"] {
        assert_eq!(Algorithm::parse(unknown), None, "{unknown:?}");
    }
}

#[test]
fn policy_serde() {
    let policy = TotpPolicy { algorithm: Algorithm::Sha512, digits: 8, period: 60, skew: 0 };
    let json = serde_json::to_value(policy).unwrap();
    assert_eq!(json, serde_json::json!({"algorithm": "SHA512", "digits": 8, "period": 60, "skew": 0}));
    assert_eq!(serde_json::from_value::<TotpPolicy>(json).unwrap(), policy);
    let partial: TotpPolicy = serde_json::from_str(r#"{"algorithm": "sha1"}"#).unwrap();
    assert_eq!(partial, TotpPolicy { algorithm: Algorithm::Sha1, ..TotpPolicy::default() });
    let error = serde_json::from_str::<TotpPolicy>(r#"{"algorithm": "MD5"}"#).unwrap_err();
    assert!(error.to_string().contains("MD5"), "{error}");
    assert!(serde_json::from_str::<TotpPolicy>(r#"{"digitz": 6}"#).is_err());
}

#[test]
fn secrets_are_the_hmac_length_and_random() {
    for (algorithm, len) in [(Algorithm::Sha1, 20), (Algorithm::Sha256, 32), (Algorithm::Sha512, 64)] {
        let policy = TotpPolicy { algorithm, ..TotpPolicy::default() };
        let first = generate_secret(&policy).unwrap();
        let second = generate_secret(&policy).unwrap();
        assert_eq!(first.len(), len);
        assert_eq!(algorithm.secret_len(), len);
        assert!(first.len() * 8 >= 160);
        assert_ne!(first, second);
    }
}

#[test]
fn base32_rfc4648_vectors() {
    // RFC 4648 §10, without the padding.
    for (input, expected) in [
        ("", ""),
        ("f", "MY"),
        ("fo", "MZXQ"),
        ("foo", "MZXW6"),
        ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ] {
        assert_eq!(base32(input.as_bytes()), expected, "{input:?}");
    }
    assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(base32(&[0xff; 5]), "77777777");
    assert_eq!(base32(&[0; 32]).len(), 52);
}

fn parse_uri(uri: &str) -> (String, String, HashMap<String, String>) {
    let parsed = url::Url::parse(uri).unwrap();
    assert_eq!(parsed.scheme(), "otpauth");
    assert_eq!(parsed.host_str(), Some("totp"));
    let label = parsed.path().strip_prefix('/').unwrap();
    let (issuer, account) = label.split_once(':').unwrap_or(("", label));
    let decode = |s: &str| percent_decode_str(s).decode_utf8().unwrap().into_owned();
    let parameters = parsed.query_pairs().into_owned().collect::<HashMap<_, _>>();
    assert_eq!(parameters.len(), parsed.query_pairs().count(), "no parameter twice");
    (decode(issuer), decode(account), parameters)
}

#[test]
fn otpauth_uri_fields_parse_back() {
    let secret = rfc_seed(Algorithm::Sha256);
    let policy = TotpPolicy::default();
    let uri = otpauth_uri(&secret, &policy, "AutoPMO", "alice@example.org");
    assert_eq!(
        uri,
        "otpauth://totp/AutoPMO:alice%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA\
         &issuer=AutoPMO&algorithm=SHA256&digits=6&period=30"
    );
    let (issuer, account, parameters) = parse_uri(&uri);
    assert_eq!(issuer, "AutoPMO");
    assert_eq!(account, "alice@example.org");
    assert_eq!(parameters["secret"], base32(&secret));
    assert_eq!(parameters["issuer"], "AutoPMO");
    assert_eq!(parameters["algorithm"], "SHA256");
    assert_eq!(parameters["digits"], "6");
    assert_eq!(parameters["period"], "30");
    assert_eq!(parameters.len(), 5);

    let policy = TotpPolicy { algorithm: Algorithm::Sha1, digits: 8, period: 60, skew: 0 };
    let (_, _, parameters) = parse_uri(&otpauth_uri(&secret, &policy, "AutoPMO", "alice"));
    assert_eq!(parameters["algorithm"], "SHA1");
    assert_eq!(parameters["digits"], "8");
    assert_eq!(parameters["period"], "60");
}

#[test]
fn otpauth_uri_encodes_awkward_names() {
    let secret = [0u8; 20];
    let policy = TotpPolicy::default();
    let issuer = "ACME: Zürich & Co/PMO?#%+";
    let account = "bob:smith@exämple.org&secret=AAAA";
    let uri = otpauth_uri(&secret, &policy, issuer, account);
    assert!(uri.is_ascii());
    assert!(uri.starts_with("otpauth://totp/ACME%3A%20Z%C3%BCrich%20%26%20Co%2FPMO%3F%23%25%2B:bob%3Asmith"), "{uri}");
    assert_eq!(uri.matches(':').count(), 2, "the scheme's and the label's");
    let (parsed_issuer, parsed_account, parameters) = parse_uri(&uri);
    assert_eq!(parsed_issuer, issuer);
    assert_eq!(parsed_account, account);
    assert_eq!(parameters["issuer"], issuer);
    assert_eq!(parameters["secret"], base32(&secret));
}

#[test]
fn otpauth_uri_without_issuer() {
    let uri = otpauth_uri(&[1u8; 20], &TotpPolicy::default(), "", "alice");
    assert!(uri.starts_with("otpauth://totp/alice?secret="), "{uri}");
    let (issuer, account, parameters) = parse_uri(&uri);
    assert_eq!((issuer.as_str(), account.as_str()), ("", "alice"));
    assert!(!parameters.contains_key("issuer"));
}

#[test]
fn qr_code_is_an_svg() {
    let policy = TotpPolicy { algorithm: Algorithm::Sha512, ..TotpPolicy::default() };
    let uri = otpauth_uri(&[0xa5; 64], &policy, "AutoPMO", "a.rather.long.account.name@example.org");
    let svg = qr_svg(&uri).unwrap();
    assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{}", &svg[..40]);
    assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("<path") || svg.contains("<rect"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.len() < 100_000, "{} bytes", svg.len());
    // Different content, different picture.
    assert_ne!(svg, qr_svg(&otpauth_uri(&[0x5a; 64], &policy, "AutoPMO", "a")).unwrap());
}

#[test]
fn qr_code_refuses_what_does_not_fit() {
    let error = qr_svg(&"x".repeat(5_000)).unwrap_err();
    assert!(matches!(error, MfaError::QrCode(_)), "{error}");
}
