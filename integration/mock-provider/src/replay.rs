//! Fixture replay: `x-mock-replay: NAME` answers with the exact bytes of `--fixtures DIR/NAME`.

use std::io;
use std::path::Path;

use bytes::Bytes;

/// What a fixture file holds, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.sse`: an event stream, sent with chunked transfer (no `content-length`).
    Sse,
    /// `.json`: a whole JSON body, sent with `content-length`.
    Json,
}

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Sse => "text/event-stream",
            Self::Json => "application/json",
        }
    }
}

/// Checks a fixture name: a plain file name in the fixtures directory (no `/`, `\` or `..`)
/// ending in `.sse` or `.json`.
pub fn kind(name: &str) -> Result<Kind, String> {
    if name.is_empty() {
        return Err("x-mock-replay must name a fixture file".to_owned());
    }
    if name.contains(['/', '\\']) || name.contains("..") {
        return Err(format!(
            "x-mock-replay: {name:?} must be a plain file name (no '/', '\\' or '..')"
        ));
    }
    if name.ends_with(".sse") {
        Ok(Kind::Sse)
    } else if name.ends_with(".json") {
        Ok(Kind::Json)
    } else {
        Err(format!("x-mock-replay: {name:?} must end in .sse or .json"))
    }
}

/// Why a fixture could not be read.
#[derive(Debug)]
pub enum LoadError {
    /// No such file (or not a regular file).
    NotFound,
    Io(io::Error),
}

/// Reads `dir/name` (a name already checked by [`kind`]) off the async threads.
pub async fn load(dir: &Path, name: &str) -> Result<Bytes, LoadError> {
    let path = dir.join(name);
    let read = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, LoadError> {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(LoadError::NotFound),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadError::NotFound),
            Err(e) => return Err(LoadError::Io(e)),
        }
        std::fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LoadError::NotFound,
            _ => LoadError::Io(e),
        })
    });
    match read.await {
        Ok(r) => r.map(Bytes::from),
        Err(e) => Err(LoadError::Io(io::Error::other(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(kind("chat.sse"), Ok(Kind::Sse));
        assert_eq!(kind("anthropic-messages.v2.json"), Ok(Kind::Json));
        for bad in [
            "",
            "../chat.sse",
            "a/b.sse",
            "a\\b.json",
            "x..json",
            "..",
            "/etc/passwd.json",
            "chat.txt",
            "chat",
            "chat.sse.bak",
        ] {
            assert!(kind(bad).is_err(), "{bad}");
        }
        assert_eq!(Kind::Sse.content_type(), "text/event-stream");
        assert_eq!(Kind::Json.content_type(), "application/json");
    }
}
