//! RFC 5424 syslog over TCP (RFC 6587 octet counting), optionally TLS
//! (rustls with the aws-lc-rs provider).
//!
//! Each message is
//! `<PRI>1 TIMESTAMP HOSTNAME autopmo - EVENT_TYPE [autopmo@32473 seq="…" event_id="…" status="…" category="…"] JSON`
//! framed as `LEN SP SYSLOG-MSG`. The JSON is kept to US-ASCII (other
//! characters as `\uXXXX` escapes), so the message needs no BOM.
//!
//! Syslog over TCP has no acknowledgement of its own, and bytes a sender
//! has written may still be lost in the network or the receiver's socket.
//! So each batch goes over a connection of its own: every frame is written,
//! the sending side is closed (TLS `close_notify`, then TCP FIN), and the
//! batch counts as delivered only when the receiver, having read to the end
//! of the stream, closes its side in turn. A reset, a timeout or a refused
//! connection fails the batch, which is then sent again.

use super::{Form, Outgoing, SiemError, Sink};
use autopmo_audit::{Category, Outcome};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::UtcOffset;
use time::format_description::FormatItem;
use time::macros::format_description;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The structured-data id of AutoPMO's parameters (a private enterprise
/// number style id, RFC 5424 §7.2.2).
pub const SD_ID: &str = "autopmo@32473";
/// The APP-NAME field.
pub const APP_NAME: &str = "autopmo";
/// Facility `auth` (4): the default for authentication and authorization events.
pub const FACILITY_AUTH: u8 = 4;
/// Facility `local0` (16): the default for every other event.
pub const FACILITY_LOCAL0: u8 = 16;

const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA certificates to trust for the receiver (instead
    /// of the Mozilla roots built in).
    pub ca_file: Option<PathBuf>,
}

/// How to reach and address a syslog receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    /// `host:port` of the receiver.
    pub address: String,
    /// TLS, or plain TCP when `None`.
    pub tls: Option<TlsOptions>,
    /// One facility (0–23) for every event; `None` for `auth` on
    /// authentication and authorization events and `local0` on the rest.
    pub facility: Option<u8>,
    /// The HOSTNAME field (see [`system_hostname`]).
    pub hostname: String,
    /// Personal data opened or sealed.
    pub form: Form,
    /// Limit on connecting (and the TLS handshake).
    pub connect_timeout: Duration,
    /// Limit on sending a batch and seeing the receiver close.
    pub ack_timeout: Duration,
}

impl SyslogOptions {
    /// Plain TCP to `address`, default facilities, this machine's hostname,
    /// personal data opened, 10 s to connect and 30 s per batch.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            tls: None,
            facility: None,
            hostname: system_hostname(),
            form: Form::Opened,
            connect_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(30),
        }
    }
}

/// A syslog sink.
#[derive(Clone)]
pub struct SyslogSink {
    options: SyslogOptions,
    hostname: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink").field("options", &self.options).finish_non_exhaustive()
    }
}

impl SyslogSink {
    /// A sink with `options`; reads the CA file now, so a bad one is
    /// reported at start-up.
    pub fn new(options: SyslogOptions) -> Result<Self, SiemError> {
        if let Some(f) = options.facility.filter(|f| *f > 23) {
            return Err(SiemError::Invalid(format!("syslog facility {f} is out of range (0-23)")));
        }
        let tls = match &options.tls {
            Some(tls) => Some((TlsConnector::from(client_config(tls)?), server_name(&options.address)?)),
            None => None,
        };
        let hostname = printable(&options.hostname, 255);
        Ok(Self { options, hostname, tls })
    }

    /// Frames `events` and delivers them over a connection of their own.
    async fn send_batch(&self, events: &[Outgoing]) -> Result<(), SiemError> {
        let mut payload = Vec::new();
        for event in events {
            payload.extend_from_slice(&frame(&message(event, self.options.facility, &self.hostname)));
        }
        let connect = self.options.connect_timeout;
        let tcp = tokio::time::timeout(connect, TcpStream::connect(self.options.address.as_str()))
            .await
            .map_err(|_| SiemError::Timeout("connecting to the syslog receiver"))??;
        // Frames are written at once; Nagle would only delay the last one.
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => deliver(tcp, &payload, self.options.ack_timeout).await,
            Some((connector, name)) => {
                let stream = tokio::time::timeout(connect, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| SiemError::Timeout("the TLS handshake with the syslog receiver"))??;
                deliver(stream, &payload, self.options.ack_timeout).await
            }
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &SyslogOptions {
        &self.options
    }
}

impl Sink for SyslogSink {
    fn form(&self) -> Form {
        self.options.form
    }

    async fn send(&mut self, events: &[Outgoing]) -> Result<(), SiemError> {
        if events.is_empty() {
            return Ok(());
        }
        self.send_batch(events).await.map_err(|e| match e {
            SiemError::Io(io) => {
                SiemError::Io(std::io::Error::new(io.kind(), format!("syslog receiver {}: {io}", self.options.address)))
            }
            other => other,
        })
    }
}

/// Writes `payload`, closes the sending side and waits for the receiver to
/// close its side: proof that it read every byte.
async fn deliver<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    payload: &[u8],
    ack_timeout: Duration,
) -> Result<(), SiemError> {
    let mut scratch = [0_u8; 1024];
    // A receiver whose end is already closed must not pass for one that read
    // the batch: look (without waiting) before writing.
    match tokio::time::timeout(Duration::ZERO, stream.read(&mut scratch)).await {
        Ok(Ok(0)) => {
            return Err(SiemError::Io(std::io::Error::new(
                ErrorKind::ConnectionAborted,
                "the syslog receiver closed the connection before the batch was sent",
            )));
        }
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(_)) | Err(_) => {}
    }
    let exchange = async {
        stream.write_all(payload).await?;
        stream.flush().await?;
        stream.shutdown().await?;
        loop {
            match stream.read(&mut scratch).await {
                Ok(0) => return Ok(()),
                Ok(_) => {} // receivers say nothing; ignore it if one does
                // TLS: the receiver closed the TCP connection without a
                // close_notify. It still closed only after reading our end.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    };
    tokio::time::timeout(ack_timeout, exchange)
        .await
        .map_err(|_| SiemError::Timeout("waiting for the syslog receiver to read the batch and close the connection"))?
        .map_err(SiemError::from)
}

/// The client configuration: TLS 1.2 or 1.3 with the aws-lc-rs provider,
/// trusting the CA file's certificates, or the Mozilla roots.
fn client_config(tls: &TlsOptions) -> Result<Arc<ClientConfig>, SiemError> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| SiemError::Tls(format!("CA file {}: {e}", path.display()));
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(bad(&"no usable CERTIFICATE block"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SiemError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the receiver's certificate must carry: the host of `address`
/// (a DNS name or an IP address).
fn server_name(address: &str) -> Result<ServerName<'static>, SiemError> {
    let host = address.rsplit_once(':').map_or(address, |(host, _port)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| SiemError::Tls(format!("{host:?} cannot be checked against a certificate: {e}")))
}

/// The syslog severity of an event: `warning` (4) when it was denied or
/// failed, `notice` (5) for a security alert (`security.*`, `alert.*`),
/// `info` (6) otherwise.
pub fn severity(status: Outcome, event_type: &str) -> u8 {
    match status {
        Outcome::Denied | Outcome::Failure => 4,
        Outcome::Success if event_type.starts_with("security.") || event_type.starts_with("alert.") => 5,
        Outcome::Success => 6,
    }
}

/// The facility of an event: the configured one, else `auth` for
/// authentication and authorization events and `local0` for the rest.
pub fn facility(configured: Option<u8>, category: Category) -> u8 {
    configured.unwrap_or(match category {
        Category::Authentication | Category::Authorization => FACILITY_AUTH,
        _ => FACILITY_LOCAL0,
    })
}

/// The RFC 5424 message of `event` (without framing).
pub fn message(event: &Outgoing, configured_facility: Option<u8>, hostname: &str) -> String {
    let pri = u16::from(facility(configured_facility, event.category)) * 8
        + u16::from(severity(event.status, &event.event_type));
    let timestamp = event.timestamp.to_offset(UtcOffset::UTC).format(TIMESTAMP).unwrap_or_else(|_| "-".to_owned());
    format!(
        "<{pri}>1 {timestamp} {host} {APP_NAME} - {msgid} [{SD_ID} seq=\"{seq}\" event_id=\"{id}\" status=\"{status}\" \
         category=\"{category}\"] {json}",
        host = printable(hostname, 255),
        msgid = printable(&event.event_type, 32),
        seq = event.sequence,
        id = sd_escape(&event.event_id),
        status = event.status.as_str(),
        category = event.category.as_str(),
        json = ascii_json(&event.json),
    )
}

/// RFC 6587 §3.4.1 octet counting: `LEN SP SYSLOG-MSG`.
pub fn frame(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
pub fn sd_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII without spaces, at most `max`
/// characters, `-` (the NILVALUE) when nothing is left.
fn printable(value: &str, max: usize) -> String {
    let out: String = value.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).take(max).collect();
    if out.is_empty() { "-".to_owned() } else { out }
}

/// JSON text with every non-ASCII character as a `\uXXXX` escape (they can
/// only occur inside strings, where the escape means the same).
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0_u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// This machine's name, for the HOSTNAME field (`-` when unknown).
pub fn system_hostname() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let name = from_kernel
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    printable(name.trim(), 255)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn event(status: Outcome, category: Category, json: &str) -> Outgoing {
        Outgoing {
            sequence: 7,
            event_id: "evt_0192".to_owned(),
            event_type: "project.created".to_owned(),
            category,
            status,
            timestamp: datetime!(2026-12-04 10:00:00.5 +01:00),
            json: json.to_owned(),
        }
    }

    #[test]
    fn message_has_every_field_in_place() {
        let e = event(Outcome::Success, Category::DataAccess, r#"{"a":"é"}"#);
        assert_eq!(
            message(&e, None, "pmo host"),
            "<134>1 2026-12-04T09:00:00.500000Z pmo_host autopmo - project.created [autopmo@32473 seq=\"7\" \
             event_id=\"evt_0192\" status=\"success\" category=\"data_access\"] {\"a\":\"\\u00e9\"}"
        );
        let denied = event(Outcome::Denied, Category::Authentication, "{}");
        assert!(message(&denied, None, "h").starts_with("<36>1 "));
        assert!(message(&denied, Some(13), "h").starts_with("<108>1 "));
    }

    #[test]
    fn framing_counts_octets() {
        assert_eq!(frame("<14>1 é"), "8 <14>1 é".as_bytes());
    }

    #[test]
    fn sd_values_are_escaped() {
        assert_eq!(sd_escape(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }

    #[test]
    fn astral_characters_become_surrogate_pairs() {
        let json = ascii_json(r#"{"e":"😀"}"#);
        assert_eq!(json, r#"{"e":"\ud83d\ude00"}"#);
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["e"], "😀");
    }

    #[test]
    fn severities() {
        assert_eq!(severity(Outcome::Failure, "x"), 4);
        assert_eq!(severity(Outcome::Success, "security.alert"), 5);
        assert_eq!(severity(Outcome::Success, "project.created"), 6);
    }

    #[test]
    fn server_names_from_addresses() {
        assert!(matches!(server_name("127.0.0.1:6514"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("[::1]:6514"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("siem.example.org:6514"), Ok(ServerName::DnsName(_))));
    }
}
