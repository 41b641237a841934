//! A minimal HTTP/1.1 client for the runner's own few requests (logins
//! before a load, readiness checks): one request per connection. The load
//! itself is wrk's.

use anyhow::{Context, anyhow};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response: status and body text.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body (de-chunked).
    pub body: String,
}

impl Response {
    /// A string field of a JSON body.
    pub fn json_str(&self, key: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        value.get(key)?.as_str().map(str::to_owned)
    }
}

/// Sends one request and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<Response> {
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head.push_str(body);
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<Vec<u8>, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| anyhow!("{method} {path}: no answer within 30 s"))?
        .with_context(|| format!("{method} {path}"))?;
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(text: &str) -> anyhow::Result<Response> {
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed HTTP status line"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok(Response { status, body })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16) else { break };
        if size == 0 {
            break;
        }
        let Some(chunk) = tail.get(..size) else { break };
        out.push_str(chunk);
        rest = tail.get(size..).unwrap_or("").trim_start_matches("\r\n");
    }
    out
}

/// Waits until `GET path` answers 200, or fails after `timeout`.
pub async fn wait_ready(addr: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(r) = request(addr, "GET", path, None, None).await
            && r.status == 200
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(anyhow!("http://{addr}{path} did not answer 200 within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
