//! Relying party settings: what is refused, as a `Config` error.

use autopmo_webauthn::{WebAuthn, WebAuthnConfig, WebAuthnError};

use crate::config;

fn config_error(settings: &WebAuthnConfig) -> String {
    match WebAuthn::new(settings) {
        Err(WebAuthnError::Config(why)) => why,
        other => panic!("{settings:?}: expected a Config error, got {other:?}"),
    }
}

#[test]
fn the_rp_id_must_be_the_origin_host_or_a_parent_domain() {
    for (rp_id, origin) in [
        ("example.com", "https://pmo.example.org"),
        ("ample.org", "https://pmo.example.org"), // a suffix of the text, not a parent domain
        ("other.example.org", "https://pmo.example.org"),
        ("sub.pmo.example.org", "https://pmo.example.org"),
        ("pmo.example.org:443", "https://pmo.example.org"),
        ("", "https://pmo.example.org"),
    ] {
        let why = config_error(&config(rp_id, origin));
        assert!(why.contains("rp_id"), "{rp_id}: {why}");
    }
    for (rp_id, origin) in
        [("example.org", "https://pmo.example.org"), ("pmo.example.org", "https://pmo.example.org:8443")]
    {
        WebAuthn::new(&config(rp_id, origin)).unwrap();
    }
}

#[test]
fn the_origin_must_be_https_except_on_localhost() {
    for origin in [
        "http://pmo.example.org",
        "http://localhost.example.org",
        "ftp://pmo.example.org",
        "pmo.example.org",
        "not a url",
        "https://127.0.0.1",
        "https://[::1]:8443",
        "https://pmo.example.org/login",
        "https://pmo.example.org/?next=x",
        "https://user:pw@pmo.example.org",
    ] {
        let rp_id = if origin.contains("example.org") { "pmo.example.org" } else { "localhost" };
        let why = config_error(&config(rp_id, origin));
        assert!(why.contains("rp_origin"), "{origin}: {why}");
    }
    WebAuthn::new(&config("localhost", "http://localhost:8080")).unwrap();
    WebAuthn::new(&config("localhost", "https://localhost")).unwrap();
    WebAuthn::new(&config("pmo.example.org", "https://pmo.example.org/")).unwrap();
}

#[test]
fn the_rp_name_must_not_be_empty() {
    let mut settings = config("localhost", "https://localhost");
    settings.rp_name = "  ".to_owned();
    assert!(config_error(&settings).contains("rp_name"));
}

#[test]
fn config_errors_are_safe_to_show() {
    let shown = WebAuthn::new(&config("example.com", "https://pmo.example.org")).unwrap_err().to_string();
    assert_eq!(shown, "invalid WebAuthn settings: rp_id: must be the origin's host or a parent domain of it");
}
