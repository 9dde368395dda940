//! Reading request headers without naming a framework.

use crate::error::VerifyError;

/// The longest header value the core will read. Real signature headers are far shorter
/// (Stripe during a rotation is about 200 bytes); anything longer is refused as malformed.
pub const MAX_HEADER_VALUE: usize = 8 * 1024;

/// Read access to a request's headers.
///
/// The core reads headers only through this trait, so that `http` 1.x's
/// [`HeaderMap`](http::HeaderMap), actix-web's own map (on `http` 0.2) and a plain slice of
/// pairs all plug in without copying. Names are matched ASCII case-insensitively.
///
/// The trait is object-safe: the core holds a `&(dyn Headers + Sync)`.
///
/// ```
/// use webhook_core::Headers;
///
/// let pairs: &[(&str, &str)] = &[("X-GitHub-Event", "push")];
/// let mut seen = Vec::new();
/// pairs.for_each_value("x-github-event", &mut |v| seen.push(v.to_vec()));
/// assert_eq!(seen, vec![b"push".to_vec()]);
/// ```
pub trait Headers {
    /// Calls `f` with every value of the header `name`, in the order received.
    /// Implementations compare names ASCII case-insensitively.
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8]));
}

impl<T: Headers + ?Sized> Headers for &T {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        (**self).for_each_value(name, f)
    }
}

impl Headers for http::HeaderMap {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        for value in self.get_all(name) {
            f(value.as_bytes());
        }
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for [(K, V)] {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        for (k, v) in self {
            if k.as_ref().eq_ignore_ascii_case(name) {
                f(v.as_ref());
            }
        }
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(K, V)> {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        self.as_slice().for_each_value(name, f)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> Headers for [(K, V); N] {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        self.as_slice().for_each_value(name, f)
    }
}

/// The one value of a header that must appear at most once.
///
/// `Ok(None)` when absent. A repeated header, an empty one or one over
/// [`MAX_HEADER_VALUE`] is malformed: a signature or id that arrives twice is ambiguous,
/// and the core refuses to guess which one the sender meant.
pub(crate) fn single<'a>(headers: &'a dyn Headers, name: &str) -> Result<Option<&'a [u8]>, VerifyError> {
    let mut first = None;
    let mut count = 0usize;
    headers.for_each_value(name, &mut |v| {
        count += 1;
        if first.is_none() {
            first = Some(v);
        }
    });
    match (first, count) {
        (None, _) => Ok(None),
        (Some(_), n) if n > 1 => Err(VerifyError::malformed_header(name, "appears more than once")),
        (Some(b""), _) => Err(VerifyError::malformed_header(name, "empty")),
        (Some(v), _) if v.len() > MAX_HEADER_VALUE => {
            Err(VerifyError::malformed_header(name, format_args!("{} bytes, longer than {MAX_HEADER_VALUE}", v.len())))
        }
        (Some(v), _) => Ok(Some(v)),
    }
}

/// Like [`single`], trying each alias in turn (`svix-id`, then `webhook-id`).
/// Returns the value and the index of the alias that carried it.
pub(crate) fn first_of<'a>(headers: &'a dyn Headers, names: &[&str]) -> Result<Option<(&'a [u8], usize)>, VerifyError> {
    for (i, name) in names.iter().enumerate() {
        if let Some(v) = single(headers, name)? {
            return Ok(Some((v, i)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_map_is_case_insensitive_and_keeps_order() {
        let mut map = http::HeaderMap::new();
        map.append("X-Sig", "a".parse().unwrap());
        map.append("x-sig", "b".parse().unwrap());
        let mut seen = Vec::new();
        map.for_each_value("x-sig", &mut |v| seen.push(v));
        assert_eq!(seen, vec![b"a".as_slice(), b"b".as_slice()]);
    }

    #[test]
    fn single_refuses_repeats_empties_and_giants() {
        let repeated = [("X-Sig", "a"), ("x-sig", "b")];
        let err = single(&repeated, "X-Sig").unwrap_err();
        assert_eq!(err.to_string(), "malformed header X-Sig: appears more than once");

        let empty = [("X-Sig", "")];
        assert_eq!(single(&empty, "X-Sig").unwrap_err().to_string(), "malformed header X-Sig: empty");

        let giant = vec![("X-Sig".to_string(), vec![b'a'; MAX_HEADER_VALUE + 1])];
        assert!(single(&giant, "X-Sig").unwrap_err().is_malformed());

        let absent: [(&str, &str); 0] = [];
        assert_eq!(single(&absent, "X-Sig").unwrap(), None);
    }

    #[test]
    fn first_of_tries_aliases_in_order() {
        let h = [("webhook-id", "w"), ("svix-id", "s")];
        assert_eq!(first_of(&h, &["svix-id", "webhook-id"]).unwrap(), Some((b"s".as_slice(), 0)));
        let h = [("webhook-id", "w")];
        assert_eq!(first_of(&h, &["svix-id", "webhook-id"]).unwrap(), Some((b"w".as_slice(), 1)));
    }
}
