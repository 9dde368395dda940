//! Reading a few fields out of a JSON body in one pass, without building a tree.
//!
//! The walk visits only the objects on the wanted paths; every other value is skipped by
//! serde_json's own skipping code, and the walk stops as soon as every wanted field has
//! been seen (the body is already authenticated, so the rest need not be read here).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The longest field value read (a delivery id or an event type); longer ones are skipped.
const MAX_FIELD: usize = 1024;

/// What the walk found.
pub(crate) enum Extracted {
    /// The body is JSON (at least as far as it was read); one slot per path.
    Json(Vec<Option<String>>),
    /// The body is not JSON.
    NotJson,
}

/// The most paths read in one walk (the core asks for one to three).
const MAX_PATHS: usize = 16;

/// Reads the value at each of `paths` (strings, numbers and booleans as text). Paths
/// beyond the sixteenth are not read.
/// A JSON object read into `T`; `None` for anything else, an array included: serde's
/// derived structs also read an array of their fields in order, which no provider sends
/// and no handshake or envelope may be mistaken for.
pub(crate) fn object<'a, T: serde::Deserialize<'a>>(text: &'a [u8]) -> Option<T> {
    if text.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(text).ok()
}

/// Whether `body` is one complete JSON value (whitespace around it allowed), read without
/// building a tree.
pub(crate) fn is_json(body: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::Deserialize::deserialize(&mut de).map(|_: IgnoredAny| ()).is_ok() && de.end().is_ok()
}

/// The top-level field `name` of a JSON object body, if it is a non-empty string, number
/// or boolean (as text), read without building a tree and stopping at the field. `None`
/// for anything else, a body that is not JSON included.
///
/// ```
/// use webhook_core::json::top_level_field;
/// assert_eq!(top_level_field(br#"{"action":"opened","issue":{}}"#, "action").as_deref(), Some("opened"));
/// assert_eq!(top_level_field(br#"{"issue":{"action":"x"}}"#, "action"), None);
/// assert_eq!(top_level_field(b"not json", "action"), None);
/// ```
pub fn top_level_field(body: &[u8], name: &str) -> Option<String> {
    match extract(body, &[&[name]]) {
        Extracted::Json(values) => values.into_iter().flatten().find(|a| !a.is_empty()),
        Extracted::NotJson => None,
    }
}

pub(crate) fn extract(body: &[u8], paths: &[&[&str]]) -> Extracted {
    let paths = &paths[..paths.len().min(MAX_PATHS)];
    let mut out = vec![None; paths.len()];
    let mut remaining = paths.len();
    let all: u16 = if paths.is_empty() { 0 } else { u16::MAX >> (16 - paths.len()) };
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk { paths, live: all, depth: 0, out: &mut out, remaining: &mut remaining };
    let ok = match walk.deserialize(&mut de) {
        Ok(()) => de.end().is_ok(),
        // The walk stops early, with an error, once every field has been found; any other
        // error means the body is not JSON (with no field to find, it never stops early).
        Err(_) => !paths.is_empty() && remaining == 0,
    };
    if ok {
        Extracted::Json(out)
    } else {
        Extracted::NotJson
    }
}

/// The indexes set in `mask`.
fn each(mask: u16) -> impl Iterator<Item = usize> {
    (0..MAX_PATHS).filter(move |i| mask & (1 << i) != 0)
}

struct Walk<'p, 'o> {
    paths: &'p [&'p [&'p str]],
    /// The paths that pass through the value being read, as a bit set.
    live: u16,
    depth: usize,
    out: &'o mut [Option<String>],
    remaining: &'o mut usize,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // The paths that end at this depth, and those that go deeper.
        let ends: u16 = each(self.live).filter(|&i| self.paths[i].len() == self.depth + 1).fold(0, |m, i| m | 1 << i);
        while let Some(hits) = map.next_key_seed(KeyMatch { paths: self.paths, live: self.live, depth: self.depth })? {
            if hits == 0 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if hits & ends != 0 {
                let mut value = map.next_value_seed(Scalar)?;
                if value.is_some() {
                    // The first occurrence of a key wins; a value is cloned only when two
                    // paths end at the same field.
                    let free = each(hits & ends).filter(|&i| self.out[i].is_none()).fold(0u16, |m, i| m | 1 << i);
                    let last = each(free).last();
                    for i in each(free) {
                        self.out[i] = if Some(i) == last { value.take() } else { value.clone() };
                        *self.remaining -= 1;
                    }
                }
            } else {
                map.next_value_seed(Walk {
                    paths: self.paths,
                    live: hits,
                    depth: self.depth + 1,
                    out: &mut *self.out,
                    remaining: &mut *self.remaining,
                })?;
            }
            if *self.remaining == 0 {
                return Err(de::Error::custom("all fields found"));
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Matches an object key against the live paths at this depth, without allocating; the
/// value is the set of paths the key continues.
struct KeyMatch<'p> {
    paths: &'p [&'p [&'p str]],
    live: u16,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = u16;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u16, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = u16;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, key: &str) -> Result<u16, E> {
        Ok(each(self.live).filter(|&i| self.paths[i].get(self.depth) == Some(&key)).fold(0, |m, i| m | 1 << i))
    }
}

/// A leaf value as text: strings as they are, numbers and booleans written out; objects,
/// arrays, null and over-long strings give `None`.
struct Scalar;

impl<'de> DeserializeSeed<'de> for Scalar {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scalar {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok((v.len() <= MAX_FIELD).then(|| v.to_owned()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(body: &str, paths: &[&[&str]]) -> Option<Vec<Option<String>>> {
        match extract(body.as_bytes(), paths) {
            Extracted::Json(v) => Some(v),
            Extracted::NotJson => None,
        }
    }

    #[test]
    fn reads_nested_fields_numbers_and_first_duplicate() {
        let body = r#"{"a":{"x":[1,2,{"id":"no"}],"id":"evt_1"},"type":2,"id":"top","id":"second"}"#;
        let got = get(body, &[&["a", "id"], &["type"], &["id"], &["missing"]]).unwrap();
        assert_eq!(got, vec![Some("evt_1".into()), Some("2".into()), Some("top".into()), None]);
    }

    #[test]
    fn escaped_keys_and_values_are_decoded() {
        let got = get(r#"{"ty\u0070e":"a\"b"}"#, &[&["type"]]).unwrap();
        assert_eq!(got, vec![Some("a\"b".into())]);
    }

    #[test]
    fn not_json_is_told_apart() {
        assert!(get("token=abc&x=1", &[&["type"]]).is_none());
        assert!(get(r#"{"type":"a"} trailing"#, &[&["other"]]).is_none());
        assert!(get("", &[&["type"]]).is_none());
        // Arrays and scalars are JSON with nothing to read.
        assert_eq!(get(r#"[{"type":"a"}]"#, &[&["type"]]).unwrap(), vec![None]);
    }

    #[test]
    fn with_nothing_to_find_the_whole_body_must_be_json() {
        assert_eq!(get(r#"{"a":[1,2]}"#, &[]).unwrap(), Vec::<Option<String>>::new());
        assert!(get("not json", &[]).is_none());
        assert!(get(r#"{"a":1} x"#, &[]).is_none());
    }

    #[test]
    fn stops_once_everything_is_found() {
        // The text after the field is not JSON, but the walk never reads it.
        let got = get(r#"{"type":"early", garbage"#, &[&["type"]]).unwrap();
        assert_eq!(got, vec![Some("early".into())]);
    }

    #[test]
    fn objects_and_giant_strings_are_not_values() {
        let giant = "x".repeat(MAX_FIELD + 1);
        let body = format!(r#"{{"id":{{"n":1}},"type":"{giant}"}}"#);
        assert_eq!(get(&body, &[&["id"], &["type"]]).unwrap(), vec![None, None]);
    }
}
