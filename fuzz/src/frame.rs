//! Input framing: a few fixed bytes (selectors, a clock), then text lines, then raw bytes.
//!
//! Simple on purpose: libFuzzer's mutators and its dictionary work well on line-based text,
//! a seed is easy to write by hand, and a crash file can be read with `xxd`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads the fuzz input front to back. Reading past the end yields zeros and empty slices,
/// so every input, even an empty one, is a valid frame.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// One byte (0 at the end).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | u16::from(self.byte()) << 8
    }

    /// A little-endian u64 (missing bytes are zeros).
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, i| acc | u64::from(self.byte()) << (8 * i))
    }

    /// The bytes up to the next `\n` (which is consumed), or to the end.
    pub fn line(&mut self) -> &'a [u8] {
        match self.data.iter().position(|&b| b == b'\n') {
            Some(at) => {
                let (line, rest) = self.data.split_at(at);
                self.data = &rest[1..];
                line
            }
            None => std::mem::take(&mut self.data),
        }
    }

    /// `Name: value` lines up to an empty line (consumed) or the end. A line without a
    /// colon is a header with an empty value. One space after the colon is dropped.
    pub fn headers(&mut self) -> Vec<(&'a [u8], &'a [u8])> {
        let mut out = Vec::new();
        while !self.data.is_empty() {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            out.push(split_header(line));
        }
        out
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// `Name: value` → (`Name`, `value`).
pub fn split_header(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b':') {
        Some(at) => {
            let value = &line[at + 1..];
            (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
        }
        None => (line, &[]),
    }
}

/// Clock values are kept below 2^40 s (year 36 812): far beyond any real timestamp, and
/// far from `SystemTime`'s own overflow, which is the harness's concern, not the core's.
pub const CLOCK_MASK: u64 = (1 << 40) - 1;

/// A `SystemTime` from fuzz bytes: whole seconds under [`CLOCK_MASK`].
pub fn clock(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs & CLOCK_MASK)
}

/// A text line as `&str`, if it is UTF-8.
pub fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// The delivery framing used by `verify_any` (and its seeds):
///
/// ```text
/// [config: u8] [variant: u8] [now: u64 LE, seconds]
/// <url>\n                      (an empty line: no URL)
/// Name: value\n ... \n         (headers, ended by an empty line)
/// <body bytes>
/// ```
#[derive(Debug)]
pub struct Delivery<'a> {
    /// Index into [`crate::configs::all`] (taken modulo its length).
    pub config: u8,
    /// Verifier variant (see [`crate::configs::Config::verifier`]).
    pub variant: u8,
    /// The verifier's clock.
    pub now: SystemTime,
    /// The URL the request was posted to.
    pub url: Option<&'a str>,
    /// The request headers.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> Delivery<'a> {
    /// Reads a delivery frame; never fails.
    pub fn parse(data: &'a [u8]) -> Self {
        let mut c = Cursor::new(data);
        let config = c.byte();
        let variant = c.byte();
        let now = clock(c.u64());
        let url = c.line();
        let url = if url.is_empty() { None } else { text(url) };
        let headers = c.headers();
        Self { config, variant, now, url, headers, body: c.rest() }
    }

    /// Writes a delivery frame (for seeds).
    pub fn encode(
        config: u8,
        variant: u8,
        now_secs: u64,
        url: Option<&str>,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Vec<u8> {
        let mut out = vec![config, variant];
        out.extend_from_slice(&now_secs.to_le_bytes());
        out.extend_from_slice(url.unwrap_or("").as_bytes());
        out.push(b'\n');
        for (k, v) in headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }
}
