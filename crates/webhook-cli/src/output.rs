//! Failures and their exit codes, and the small pieces of output every command shares:
//! writing to standard output, bodies as text or base64, times, tables.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use base64::Engine as _;

/// Why a command stopped, which decides its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad arguments (unknown provider, bad secret, bad id, ...): exit code 2, as clap uses
    /// for its own usage errors.
    Usage(String),
    /// The operation failed (a file or store cannot be read, a receiver cannot be reached,
    /// an event does not exist): exit code 1.
    Runtime(String),
}

impl Failure {
    /// A usage error (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// An operational failure (exit code 1).
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Self::Runtime(message.into())
    }

    /// The one-line message, without the `error: ` prefix.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Usage(m) | Self::Runtime(m) => m,
        }
    }

    /// The process exit code.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Runtime(_) => ExitCode::from(1),
        }
    }
}

/// Writes `bytes` to standard output. A closed pipe (`webhook ... | head`) ends the output
/// quietly instead of panicking.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::runtime(format!("cannot write to standard output: {e}"))),
    }
}

/// Writes `value` as pretty JSON and a newline to standard output.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Failure::runtime(format!("JSON output: {e}")))?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// A body for JSON output: `(encoding, text)`, the body itself when it is UTF-8, its
/// base64 otherwise.
pub(crate) fn body_json(body: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(body) {
        Ok(text) => ("utf-8", text.to_owned()),
        Err(_) => ("base64", base64::engine::general_purpose::STANDARD.encode(body)),
    }
}

/// `text` safe to show on a terminal: control characters other than newline, carriage
/// return and tab are escaped (`\u{1b}`), so stored data cannot drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` for one table cell or one line: every control character escaped, and cut to
/// `max` characters with an ellipsis.
pub(crate) fn cell(text: &str, max: usize) -> String {
    let escaped: String =
        text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect();
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// RFC 3339 in UTC to the second: `2023-11-14T22:13:20Z`.
pub(crate) fn time_seconds(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// RFC 3339 in UTC to the millisecond, as JSON output gives times.
pub(crate) fn time_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Renders rows under a header with columns padded to their widest cell; the last column
/// is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(c);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `postgres://user:password@host/db` with the password replaced by `***`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb\nc\td"), "a\\u{1b}[2Jb\nc\td");
        assert_eq!(cell("x\ny", 10), "x\\ny");
        assert_eq!(cell("abcdefghij", 5), "abcd…");
        assert_eq!(cell("abcde", 5), "abcde");
    }

    #[test]
    fn bodies_are_text_or_base64() {
        assert_eq!(body_json(b"{\"a\":1}"), ("utf-8", "{\"a\":1}".to_owned()));
        assert_eq!(body_json(&[0xff, 0x00]), ("base64", "/wA=".to_owned()));
    }

    #[test]
    fn tables_align_and_passwords_are_hidden() {
        let t = table(
            &["ID", "NAME", "NOTE"],
            &[vec!["1".into(), "a".into(), "".into()], vec!["22".into(), "bbb".into(), "x".into()]],
        );
        assert_eq!(t, "ID  NAME  NOTE\n1   a\n22  bbb   x\n");
        assert_eq!(redact_url("postgres://app:hunter2@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("sqlite://a@b.db"), "sqlite://a@b.db");
    }
}
