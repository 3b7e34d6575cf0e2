//! Command-line parsing (no external parser: four flags).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};

pub const USAGE: &str = "usage: mock-provider [--listen ADDR] [--no-record] [--record-limit N] [--fixtures DIR]\n\
  --listen ADDR       address to listen on (default 127.0.0.1:18080; port 0 picks a free one)\n\
  --no-record         do not keep received requests (GET /__mock/requests returns [])\n\
  --record-limit N    keep the last N requests (default 500)\n\
  --fixtures DIR      directory of recorded responses served by `x-mock-replay: NAME`";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub listen: SocketAddr,
    pub record: bool,
    pub record_limit: usize,
    /// `--fixtures DIR`: where `x-mock-replay` looks up its files.
    pub fixtures: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 18080)),
            record: true,
            record_limit: 500,
            fixtures: None,
        }
    }
}

impl Args {
    /// Parses the arguments after the program name. `Ok(None)` means help was asked for.
    pub fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Self>> {
        let mut out = Self::default();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg, None),
            };
            let mut value = |name: &str| -> anyhow::Result<String> {
                match inline.clone().or_else(|| args.next()) {
                    Some(v) => Ok(v),
                    None => bail!("{name} needs a value\n{USAGE}"),
                }
            };
            match flag.as_str() {
                "--listen" => {
                    let v = value("--listen")?;
                    out.listen = v.parse().with_context(|| format!("bad --listen {v:?}"))?;
                }
                "--record-limit" => {
                    let v = value("--record-limit")?;
                    out.record_limit = v.parse().with_context(|| format!("bad --record-limit {v:?}"))?;
                }
                "--fixtures" => {
                    let v = value("--fixtures")?;
                    if v.is_empty() {
                        bail!("--fixtures needs a directory\n{USAGE}");
                    }
                    out.fixtures = Some(PathBuf::from(v));
                }
                "--no-record" => out.record = false,
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Option<Args>> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        assert_eq!(parse(&[]).unwrap(), Some(Args::default()));
        let a = parse(&["--listen", "127.0.0.1:0", "--no-record", "--record-limit=7"])
            .unwrap()
            .unwrap();
        assert_eq!(a.listen.port(), 0);
        assert!(!a.record);
        assert_eq!(a.record_limit, 7);
        assert_eq!(a.fixtures, None);
        let a = parse(&["--fixtures", "/tmp/fx"]).unwrap().unwrap();
        assert_eq!(a.fixtures, Some(PathBuf::from("/tmp/fx")));
        let a = parse(&["--fixtures=rel/dir"]).unwrap().unwrap();
        assert_eq!(a.fixtures, Some(PathBuf::from("rel/dir")));
        assert!(parse(&["--fixtures"]).is_err());
        assert!(parse(&["--fixtures="]).is_err());
        assert_eq!(parse(&["--help"]).unwrap(), None);
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--listen"]).is_err());
        assert!(parse(&["--listen", "nope"]).is_err());
    }
}
