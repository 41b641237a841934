//! JSON Lines: one event per line, to a file or to stdout.
//!
//! A file is opened for each batch (so a rotated file is followed), appended
//! to, and fsynced before the batch counts as delivered; a new file is made
//! owner-only (0600) and its directory entry fsynced too. A line torn by a
//! crash was never acknowledged, so its events come again: the torn line is
//! ended with a newline first, so that the next line starts clean.

use super::{Form, Outgoing, SiemError, Sink};
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The process's standard output (flushed after each batch).
    Stdout,
    /// A file, appended to and fsynced after each batch.
    File(PathBuf),
}

/// A JSON Lines sink.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    target: Target,
    form: Form,
}

impl JsonlSink {
    /// Lines of `form` to `target`.
    pub fn new(target: Target, form: Form) -> Self {
        Self { target, form }
    }

    /// Lines appended to the file at `path`.
    pub fn file(path: impl Into<PathBuf>, form: Form) -> Self {
        Self::new(Target::File(path.into()), form)
    }

    /// Lines written to stdout.
    pub fn stdout(form: Form) -> Self {
        Self::new(Target::Stdout, form)
    }

    /// Where the lines go.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

impl Sink for JsonlSink {
    fn form(&self) -> Form {
        self.form
    }

    async fn send(&mut self, events: &[Outgoing]) -> Result<(), SiemError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::with_capacity(events.iter().map(|e| e.json.len() + 1).sum());
        for event in events {
            text.push_str(&event.json);
            text.push('\n');
        }
        match &self.target {
            Target::Stdout => {
                let mut out = tokio::io::stdout();
                out.write_all(text.as_bytes()).await?;
                out.flush().await?;
                Ok(())
            }
            Target::File(path) => append(path, text.as_bytes()).await.map_err(|e| in_file(path, &e)),
        }
    }
}

/// Appends `bytes` to the file at `path` and fsyncs it.
async fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let existed = tokio::fs::try_exists(path).await.unwrap_or(true);
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    if !existed {
        sync_parent(path).await?;
    }
    let len = file.metadata().await?.len();
    if let Some(before_last) = len.checked_sub(1) {
        file.seek(SeekFrom::Start(before_last)).await?;
        let mut last = [0_u8; 1];
        file.read_exact(&mut last).await?;
        if last != *b"\n" {
            tracing::warn!(path = %path.display(), "ending a line torn by an earlier failure; its events follow again");
            file.write_all(b"\n").await?;
        }
    }
    // Append mode: every write lands at the end, wherever the seek left us.
    file.write_all(bytes).await?;
    file.flush().await?;
    file.sync_data().await?;
    Ok(())
}

/// Makes a new file's directory entry durable.
async fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        tokio::fs::File::open(dir).await?.sync_all().await?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn in_file(path: &Path, error: &std::io::Error) -> SiemError {
    SiemError::Io(std::io::Error::new(error.kind(), format!("{}: {error}", path.display())))
}
