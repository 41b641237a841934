//! A syslog receiver for the tests: accepts TCP (or TLS) connections, reads
//! RFC 6587 octet-counted frames, parses each RFC 5424 message strictly,
//! and closes its side once the sender has closed its own (as rsyslog and
//! syslog-ng do). It can be made to crash after a number of messages: it
//! stops listening and drops its connections without reading further.

use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// One received message, taken apart.
#[derive(Debug, Clone)]
pub struct Frame {
    pub pri: u16,
    pub version: String,
    pub timestamp: String,
    pub hostname: String,
    pub app: String,
    pub procid: String,
    pub msgid: String,
    pub sd_id: String,
    pub params: Vec<(String, String)>,
    pub json: serde_json::Value,
    pub raw: String,
}

impl Frame {
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap()
    }

    pub fn seq(&self) -> i64 {
        self.param("seq").parse().unwrap()
    }
}

/// Parses `<PRI>VERSION TIMESTAMP HOSTNAME APP PROCID MSGID [SD-ID k="v"…] MSG`.
pub fn parse(raw: &str) -> Frame {
    let rest = raw.strip_prefix('<').unwrap_or_else(|| panic!("no PRI in {raw:?}"));
    let (pri, rest) = rest.split_once('>').unwrap();
    let mut header = rest.splitn(7, ' ');
    let mut field = || header.next().unwrap_or_else(|| panic!("short header in {raw:?}")).to_owned();
    let (version, timestamp, hostname, app, procid, msgid) = (field(), field(), field(), field(), field(), field());
    let rest = field();
    let sd = rest.strip_prefix('[').unwrap_or_else(|| panic!("no structured data in {raw:?}"));
    let (sd_id, mut sd) = sd.split_once(' ').unwrap();
    let mut params = Vec::new();
    loop {
        let (name, after) = sd.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().unwrap_or_else(|| panic!("unterminated SD-PARAM in {raw:?}")) {
                (_, '\\') => {
                    let (_, escaped) = chars.next().unwrap();
                    assert!(matches!(escaped, '"' | '\\' | ']'), "bad escape in {raw:?}");
                    value.push(escaped);
                }
                (i, '"') => break i,
                (_, ']') => panic!("unescaped ] in an SD-PARAM of {raw:?}"),
                (_, c) => value.push(c),
            }
        };
        params.push((name.to_owned(), value));
        let after_value = &after[end + 1..];
        if let Some(msg) = after_value.strip_prefix("] ") {
            let json = serde_json::from_str(msg).unwrap_or_else(|e| panic!("MSG is not JSON ({e}): {msg:?}"));
            return Frame {
                pri: pri.parse().unwrap(),
                version,
                timestamp,
                hostname,
                app,
                procid,
                msgid,
                sd_id: sd_id.to_owned(),
                params,
                json,
                raw: raw.to_owned(),
            };
        }
        sd = after_value.strip_prefix(' ').unwrap_or_else(|| panic!("SD-PARAMs not separated in {raw:?}"));
    }
}

/// Reads one `LEN SP MSG` frame; `None` at a clean end of stream.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Option<String>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut len: usize = 0;
    let mut digits = 0;
    loop {
        let mut byte = [0_u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return if digits == 0 { Ok(None) } else { Err(bad("end of stream inside MSG-LEN")) };
        }
        match byte[0] {
            b'0' if digits == 0 => return Err(bad("MSG-LEN starts with 0")),
            d @ b'0'..=b'9' if digits < 9 => {
                len = len * 10 + usize::from(d - b'0');
                digits += 1;
            }
            b' ' if digits > 0 => break,
            _ => return Err(bad("not an octet-counted frame")),
        }
    }
    let mut msg = vec![0_u8; len];
    stream.read_exact(&mut msg).await?;
    String::from_utf8(msg).map(Some).map_err(|_| bad("MSG is not UTF-8"))
}

#[derive(Default)]
struct Shared {
    frames: Mutex<Vec<Frame>>,
    errors: Mutex<Vec<String>>,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Listens on `addr` (port 0 for any), over TLS when `tls` is given;
    /// crashes after `crash_after` messages when given.
    pub async fn start(addr: SocketAddr, tls: Option<Arc<ServerConfig>>, crash_after: Option<usize>) -> Self {
        // The port of a crashed receiver may take a moment to be free again.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    eprintln!("bind {addr}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on {addr}: {e}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let (stop, mut stopped) = watch::channel(false);
        let acceptor = tls.map(TlsAcceptor::from);
        let (s, tx) = (Arc::clone(&shared), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return, // the listener closes: connections are refused
                    accepted = listener.accept() => accepted.unwrap(),
                };
                let (s, tx, acceptor) = (Arc::clone(&s), tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(tcp, s, tx, crash_after).await,
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => serve(stream, s, tx, crash_after).await,
                            Err(e) => s.errors.lock().unwrap().push(format!("TLS accept: {e}")),
                        },
                    }
                });
            }
        });
        Self { addr, shared, stop, task }
    }

    /// Every message received so far.
    pub fn frames(&self) -> Vec<Frame> {
        self.shared.frames.lock().unwrap().clone()
    }

    /// The sequences received so far, in arrival order.
    pub fn sequences(&self) -> Vec<i64> {
        self.frames().iter().map(Frame::seq).collect()
    }

    /// Framing or TLS errors seen.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap().clone()
    }

    /// Whether it has crashed (or been stopped).
    pub fn is_down(&self) -> bool {
        *self.stop.borrow()
    }

    /// Stops listening and drops every connection.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    crash_after: Option<usize>,
) {
    let mut stopped = stop.subscribe();
    loop {
        let frame = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return, // crashed: dropped unread
            frame = read_frame(&mut stream) => frame,
        };
        match frame {
            Ok(Some(raw)) => {
                let count = {
                    let mut frames = shared.frames.lock().unwrap();
                    frames.push(parse(&raw));
                    frames.len()
                };
                if crash_after.is_some_and(|n| count >= n) {
                    let _ = stop.send(true);
                    return; // the rest of the batch is never read: the sender sees a reset
                }
            }
            Ok(None) => {
                // The sender has closed its side: everything was read. Close ours.
                let _ = stream.shutdown().await;
                return;
            }
            Err(e) => {
                shared.errors.lock().unwrap().push(e.to_string());
                return;
            }
        }
    }
}

/// A CA made for one test, and a server certificate it issued for
/// `127.0.0.1` and `localhost`.
pub struct TestPki {
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

pub fn pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "AutoPMO test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .unwrap();
    TestPki { ca_pem: ca.pem(), server: Arc::new(server) }
}
