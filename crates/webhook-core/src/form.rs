//! The form parameters Mandrill signs, streamed into the MAC: each parameter's decoded
//! name then value, sorted by name then value, exactly as `form_urlencoded::parse` decodes
//! them (`+` is a space, `%XX` a byte, a `%` without two hex digits itself, and the result
//! read as UTF-8 with invalid sequences replaced by U+FFFD), but without decoding the body
//! into a second buffer: names are decoded (they are short), values are decoded piece by
//! piece through a small stack buffer, and checked as UTF-8 as they go.
//! Values are decoded whole only to order two parameters of the same name.

use std::borrow::Cow;

/// Feeds `body`'s form parameters to `sink`: decoded name, decoded value, sorted.
pub(crate) fn feed_sorted(body: &[u8], sink: &mut impl FnMut(&[u8])) {
    let mut pairs: Vec<(Cow<'_, str>, &[u8])> = body
        .split(|&b| b == b'&')
        .filter(|s| !s.is_empty())
        .map(|s| match s.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&s[..eq]), &s[eq + 1..]),
            None => (decode(s), &s[s.len()..]),
        })
        .collect();
    // Stable, and equal to sorting (name, value) pairs: values are compared only for equal
    // names (rare: Mandrill posts one parameter).
    pairs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| decode(a.1).cmp(&decode(b.1))));
    for (name, value) in &pairs {
        sink(name.as_bytes());
        feed_value(value, sink);
    }
}

/// One name or value decoded whole, as `form_urlencoded` does.
fn decode(raw: &[u8]) -> Cow<'_, str> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return String::from_utf8_lossy(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    decode_into(raw, &mut |piece| out.extend_from_slice(piece));
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Percent-decodes `raw` (`+` as a space) into `out`, in pieces of up to 4 KiB decoded
/// in a stack buffer: between two `%`, the bytes are copied with `+` mapped to a space (a
/// loop the compiler vectorises).
fn decode_into(raw: &[u8], out: &mut impl FnMut(&[u8])) {
    let mut buf = [0u8; 4096];
    let mut n = 0;
    let mut i = 0;
    while i < raw.len() {
        // Up to the buffer's room: a window without `%` (`contains` is memchr, word at a
        // time) is mapped whole; otherwise up to its first `%`.
        let window = &raw[i..raw.len().min(i + (buf.len() - n))];
        let plain_end = if window.contains(&b'%') {
            window.iter().position(|&b| b == b'%').map_or(raw.len(), |p| i + p)
        } else {
            i + window.len()
        };
        while i < plain_end {
            let take = (buf.len() - n).min(plain_end - i);
            for (d, &b) in buf[n..n + take].iter_mut().zip(&raw[i..i + take]) {
                *d = if b == b'+' { b' ' } else { b };
            }
            n += take;
            i += take;
            if n == buf.len() {
                out(&buf);
                n = 0;
            }
        }
        if i == raw.len() || raw[i] != b'%' {
            // The end, or the window ended before a `%`.
            continue;
        }
        // A `%`: a byte when two hex digits follow, else itself.
        let byte = match (raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex)) {
            (Some(hi), Some(lo)) => {
                i += 3;
                hi << 4 | lo
            }
            _ => {
                i += 1;
                b'%'
            }
        };
        buf[n] = byte;
        n += 1;
        if n == buf.len() {
            out(&buf);
            n = 0;
        }
    }
    if n > 0 {
        out(&buf[..n]);
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One value decoded and fed as UTF-8, lossily, piece by piece.
fn feed_value(raw: &[u8], sink: &mut impl FnMut(&[u8])) {
    let mut lossy = Lossy { sink, carry: [0; 4], carried: 0 };
    decode_into(raw, &mut |piece| lossy.push(piece));
    lossy.finish();
}

/// What `String::from_utf8_lossy` makes of the concatenation of the pieces pushed, fed to
/// `sink` as it goes: an incomplete sequence at the end of a piece is carried into the next.
struct Lossy<'s, F: FnMut(&[u8])> {
    sink: &'s mut F,
    carry: [u8; 4],
    carried: usize,
}

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

impl<F: FnMut(&[u8])> Lossy<'_, F> {
    fn push(&mut self, mut bytes: &[u8]) {
        if self.carried > 0 {
            // The carried bytes are the start of a sequence: complete it (or find it
            // invalid) with the first bytes of this piece.
            let take = (4 - self.carried).min(bytes.len());
            let mut joined = [0u8; 4];
            joined[..self.carried].copy_from_slice(&self.carry[..self.carried]);
            joined[self.carried..self.carried + take].copy_from_slice(&bytes[..take]);
            let joined = &joined[..self.carried + take];
            let end = match std::str::from_utf8(joined) {
                // Valid as far as it goes: the first character is whole.
                Ok(s) => s.chars().next().map_or(joined.len(), char::len_utf8),
                Err(e) if e.valid_up_to() > 0 => e.valid_up_to().min(utf8_width(joined[0])),
                Err(e) => match e.error_len() {
                    Some(bad) => {
                        (self.sink)(REPLACEMENT);
                        bytes = &bytes[bad - self.carried..];
                        self.carried = 0;
                        return self.push(bytes);
                    }
                    // Still incomplete: this piece was too short to tell.
                    None => {
                        self.carry[..joined.len()].copy_from_slice(joined);
                        self.carried = joined.len();
                        return;
                    }
                },
            };
            (self.sink)(&joined[..end]);
            bytes = &bytes[end - self.carried..];
            self.carried = 0;
        }
        // The usual case, valid UTF-8 (perhaps up to a sequence cut at the end): checked
        // fast, fed whole.
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(_) => (bytes.len(), 0),
            Err(e) if e.error_len().is_none() => (e.valid_up_to(), bytes.len() - e.valid_up_to()),
            Err(_) => (0, usize::MAX),
        };
        if rest != usize::MAX {
            if valid > 0 {
                (self.sink)(&bytes[..valid]);
            }
            self.carry[..rest].copy_from_slice(&bytes[valid..]);
            self.carried = rest;
            return;
        }
        let mut chunks = bytes.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            if !chunk.valid().is_empty() {
                (self.sink)(chunk.valid().as_bytes());
            }
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            let incomplete = std::str::from_utf8(invalid).err().is_some_and(|e| e.error_len().is_none());
            if chunks.peek().is_none() && incomplete {
                self.carry[..invalid.len()].copy_from_slice(invalid);
                self.carried = invalid.len();
            } else {
                (self.sink)(REPLACEMENT);
            }
        }
    }

    fn finish(self) {
        if self.carried > 0 {
            (self.sink)(REPLACEMENT);
        }
    }
}

/// The length of the sequence a lead byte starts.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xFF => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the engine signed before: `form_urlencoded::parse`, sorted, concatenated.
    fn reference(body: &[u8]) -> Vec<u8> {
        let mut pairs: Vec<_> = form_urlencoded::parse(body).collect();
        pairs.sort();
        pairs.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()].concat()).collect()
    }

    fn streamed(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        feed_sorted(body, &mut |p| out.extend_from_slice(p));
        out
    }

    #[test]
    fn known_forms() {
        for body in [
            &b""[..],
            b"&&",
            b"a",
            b"a=",
            b"=b",
            b"z=&x=%7B%22e%22%3A1%7D&a=1b",
            b"a=1+b&a=1%20a&a=1b",
            b"x=%zz%4&y=%",
            b"v=%E2%82%AC%E2%82",
            b"v=%E2%82%41",
            b"v=%F0%9F%98%80+%ff%FE",
            b"n%C3%A9=%C3",
            "v=\u{20AC}€x".as_bytes(),
            b"v=\xE2\x82",
            b"v=\xC0\xAF=",
        ] {
            assert_eq!(streamed(body), reference(body), "{}", String::from_utf8_lossy(body));
        }
        // Long values cross the buffer and the direct runs.
        let long = format!("mandrill_events={}%E2%82%AC{}", "%22a".repeat(700), "plain+".repeat(400));
        assert_eq!(streamed(long.as_bytes()), reference(long.as_bytes()));
        let split = format!("v={}%E2%82%AC", "x".repeat(4095));
        assert_eq!(streamed(split.as_bytes()), reference(split.as_bytes()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn equals_form_urlencoded(parts in proptest::collection::vec(
            prop_oneof![
                Just(b"%".to_vec()), Just(b"+".to_vec()), Just(b"&".to_vec()), Just(b"=".to_vec()),
                Just(b"%E2".to_vec()), Just(b"%82".to_vec()), Just(b"%AC".to_vec()), Just(b"%F0%9F".to_vec()),
                Just(b"%C3".to_vec()), Just(b"%ff".to_vec()), Just(b"%4".to_vec()), Just(b"a".repeat(70)),
                Just(vec![0xE2]), Just(vec![0x82]), Just(vec![0xC0]),
                proptest::collection::vec(any::<u8>(), 0..8),
            ],
            0..40,
        )) {
            let body = parts.concat();
            prop_assert_eq!(streamed(&body), reference(&body));
        }

        /// The same across the 4 KiB buffer's edge: a value whose first bytes fill the
        /// buffer up to a few bytes short, then sequences cut anywhere.
        #[test]
        fn equals_form_urlencoded_across_the_buffer(
            fill in 4088usize..4097,
            tail in proptest::collection::vec(
                prop_oneof![Just(b"%E2".to_vec()), Just(b"%82".to_vec()), Just(b"%AC".to_vec()),
                    Just(b"%F0%9F%98%80".to_vec()), Just(b"+".to_vec()), Just(vec![0xE2, 0x82]), Just(vec![0xC0])],
                0..8,
            ),
        ) {
            let body = [b"v=".to_vec(), b"x".repeat(fill), tail.concat()].concat();
            prop_assert_eq!(streamed(&body), reference(&body));
        }
    }
}
