//! The console's own request and response: what a framework's glue hands it and gets back.
//! Plain data (a method, a path, a query, a few headers, a body), so the console names no
//! framework and any server can drive it.

use bytes::Bytes;

/// The longest path and query the console reads; longer ones are answered 414.
pub(crate) const MAX_TARGET: usize = 4096;

/// The longest `Cookie` or `Authorization` header the console reads; longer ones are ignored.
const MAX_HEADER: usize = 8192;

/// A request to the console, built by a framework's glue.
///
/// ```
/// use webhook_console::ConsoleRequest;
///
/// let req = ConsoleRequest::new("GET", "/admin/deliveries", Some("provider=github"))
///     .header("authorization", b"Bearer 0123456789abcdef");
/// assert_eq!(req.method(), "GET");
/// ```
#[derive(Clone, Default)]
pub struct ConsoleRequest {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    cookie: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

impl std::fmt::Debug for ConsoleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization header and the cookie are credentials: never printed.
        f.debug_struct("ConsoleRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl ConsoleRequest {
    /// A request for `method` and `path`, with the raw query string (without `?`), if any.
    pub fn new(method: &str, path: &str, query: Option<&str>) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            ..Self::default()
        }
    }

    /// Adds a header. Only the ones the console reads are kept (`Authorization`, `Cookie`,
    /// `Content-Type`); a value that is not UTF-8 or is too long is left out.
    #[must_use]
    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        let Ok(text) = std::str::from_utf8(value) else { return self };
        if text.len() > MAX_HEADER {
            return self;
        }
        let slot = if name.eq_ignore_ascii_case("authorization") {
            &mut self.authorization
        } else if name.eq_ignore_ascii_case("cookie") {
            // Several Cookie headers are one list.
            if let Some(prev) = &mut self.cookie {
                if prev.len() + text.len() + 2 <= MAX_HEADER {
                    prev.push_str("; ");
                    prev.push_str(text);
                }
                return self;
            }
            &mut self.cookie
        } else if name.eq_ignore_ascii_case("content-type") {
            &mut self.content_type
        } else {
            return self;
        };
        *slot = Some(text.to_owned());
        self
    }

    /// Sets the body (a form, for the state-changing requests). The glue reads it within
    /// [`ConsoleConfig::max_body`](crate::ConsoleConfig::max_body).
    #[must_use]
    pub fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// The method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn query(&self) -> &str {
        self.query.as_deref().unwrap_or("")
    }

    pub(crate) fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    pub(crate) fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    pub(crate) fn is_form(&self) -> bool {
        self.content_type
            .as_deref()
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    }

    pub(crate) fn body_bytes(&self) -> &[u8] {
        &self.body
    }
}

/// The console's answer: a status, headers and a body, for the glue to turn into its
/// framework's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers, in order (`Set-Cookie` may appear once per cookie).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Bytes,
}

impl ConsoleResponse {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// An HTML page with the console's security headers.
    pub(crate) fn html(status: u16, body: String) -> Self {
        let mut headers = security_headers();
        headers.push(("content-type", "text/html; charset=utf-8".to_owned()));
        Self { status, headers, body: Bytes::from(body) }
    }

    /// A `303 See Other` to `location`.
    pub(crate) fn redirect(location: String) -> Self {
        let mut headers = security_headers();
        headers.push(("location", location));
        Self { status: 303, headers, body: Bytes::new() }
    }

    /// A short plain-text answer.
    pub(crate) fn plain(status: u16, text: &'static str) -> Self {
        let mut headers = security_headers();
        headers.push(("content-type", "text/plain; charset=utf-8".to_owned()));
        Self { status, headers, body: Bytes::from_static(text.as_bytes()) }
    }

    #[must_use]
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// What every answer carries: nothing loads from elsewhere, nothing runs but the page's own
/// CSS, nothing is cached, nothing frames the console.
fn security_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
                .to_owned(),
        ),
        ("x-content-type-options", "nosniff".to_owned()),
        ("x-frame-options", "DENY".to_owned()),
        ("referrer-policy", "no-referrer".to_owned()),
        ("cache-control", "no-store".to_owned()),
    ]
}

/// The pairs of a query string or form body, decoded; at most 32 of them.
pub(crate) fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).take(32).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The first non-empty value of `name` among `pairs`, trimmed.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim())
}
