//! Where a request really comes from, and Keycloak's `sslRequired`
//! (guide §2.1: `"external"`): plain HTTP is accepted only from loopback and
//! private addresses; a request from a public address must have arrived over
//! HTTPS — which, until AutoPMO terminates TLS itself, only a trusted reverse
//! proxy can vouch for (`X-Forwarded-Proto: https`). `X-Forwarded-For` and
//! `X-Forwarded-Proto` are believed only from a trusted proxy.

use crate::problem::ApiError;
use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Keycloak's `sslRequired` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslRequired {
    /// HTTPS for public addresses; plain HTTP from loopback and private ones.
    #[default]
    External,
    /// HTTPS for every request.
    All,
    /// Plain HTTP accepted from anywhere (`danger_`: never in production).
    DangerNone,
}

/// A network, `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
        let network: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() { max } else { prefix.parse().map_err(|_| format!("{s:?}: bad prefix"))? };
        if prefix > max {
            return Err(format!("{s:?}: prefix longer than {max}"));
        }
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> u128 {
            match ip {
                IpAddr::V4(v4) => u128::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
            _ => ip,
        };
        let width = if ip.is_ipv4() { 32 } else { 128 };
        if self.prefix == 0 {
            return true;
        }
        let shift = width - u32::from(self.prefix);
        bits(ip) >> shift == bits(self.network) >> shift
    }
}

/// Loopback, private (RFC 1918, RFC 4193), link-local or CGNAT: an address
/// that is not on the public internet.
pub fn is_internal(ip: IpAddr) -> bool {
    const INTERNAL: &[&str] = &[
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ];
    INTERNAL.iter().filter_map(|c| c.parse::<Cidr>().ok()).any(|c| c.contains(ip))
}

/// The transport rules in force.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// `sslRequired`.
    pub ssl_required: SslRequired,
    /// Proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
}

/// The client as the server sees it after believing trusted proxies.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// The client's address.
    pub address: IpAddr,
    /// Whether the request reached the edge over HTTPS.
    pub https: bool,
    /// Whether `sslRequired` lets it through.
    pub allowed: bool,
}

impl Transport {
    fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientInfo {
        let trusted = self.trusted_proxies.iter().any(|c| c.contains(peer));
        if !trusted {
            return self.decide(peer, false);
        }
        // The right-most address a trusted proxy appended is the client.
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<IpAddr>().ok());
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        self.decide(forwarded.unwrap_or(peer), https)
    }

    fn decide(&self, address: IpAddr, https: bool) -> ClientInfo {
        let allowed = match self.ssl_required {
            SslRequired::DangerNone => true,
            SslRequired::All => https,
            SslRequired::External => https || is_internal(address),
        };
        ClientInfo { address, https, allowed }
    }
}

/// Works out the client (believing trusted proxies) and leaves a
/// [`ClientInfo`] for the audit trail and for [`enforce`].
pub async fn identify(transport: std::sync::Arc<Transport>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = transport.client(peer, req.headers());
        req.extensions_mut().insert(client);
    }
    next.run(req).await
}

/// Refuses (after the audit trail has seen the request) plain HTTP where
/// `sslRequired` forbids it.
pub async fn enforce(req: Request, next: Next) -> Response {
    if req.extensions().get::<ClientInfo>().is_some_and(|c| !c.allowed) {
        return ApiError::HttpsRequired.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_addresses() {
        for internal in ["127.0.0.1", "10.1.2.3", "172.31.255.255", "192.168.1.1", "::1", "fd00::1", "::ffff:10.0.0.1"]
        {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "203.0.113.9", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn believes_only_trusted_proxies() {
        let t = Transport { ssl_required: SslRequired::External, trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()] };
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.7".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        // From an untrusted peer the headers are ignored.
        let c = t.client(ip("203.0.113.1"), &h);
        assert_eq!(c.address, ip("203.0.113.1"));
        assert!(!c.allowed, "a public address over plain HTTP");
        // From the proxy: the client is public but arrived over HTTPS.
        let c = t.client(ip("10.0.0.5"), &h);
        assert_eq!(c.address, ip("198.51.100.7"));
        assert!(c.allowed);
        h.insert("x-forwarded-proto", "http".parse().unwrap());
        assert!(!t.client(ip("10.0.0.5"), &h).allowed);
        assert!(t.client(ip("127.0.0.1"), &HeaderMap::new()).allowed, "loopback over plain HTTP");
        let all = Transport { ssl_required: SslRequired::All, ..t };
        assert!(!all.client(ip("127.0.0.1"), &HeaderMap::new()).allowed);
    }
}
