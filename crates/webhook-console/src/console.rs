//! The console itself: authentication, CSRF, the routing of its few pages, and the queries
//! through the store's API. No framework and no SQL here: a [`ConsoleRequest`] in, a
//! [`ConsoleResponse`] out, every read and write through [`EventStore`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use webhook_pipeline::{AuditFilter, EventId, EventStore, Filter, Status, StoreError};

use crate::auth::{cookie, Auth, Keys, COOKIE, MAX_TOKEN_LEN, MIN_TOKEN_LEN};
use crate::http::{pairs, param, ConsoleRequest, ConsoleResponse, MAX_TARGET};
use crate::pages;

/// The environment variable the receivers read the admin token from.
pub const TOKEN_ENV: &str = "WEBHOOK_ADMIN_TOKEN";

/// Why a [`ConsoleConfig`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The admin token is shorter than [`MIN_TOKEN_LEN`] bytes.
    #[error("the console's admin token must have at least {MIN_TOKEN_LEN} bytes")]
    TokenTooShort,
    /// The admin token is longer than 512 bytes.
    #[error("the console's admin token must have at most 512 bytes")]
    TokenTooLong,
    /// The base path does not start with `/`, ends with `/`, or has characters outside
    /// `[A-Za-z0-9/_-]`.
    #[error("the console's base path must look like /admin (letters, digits, '/', '-', '_'; no trailing '/')")]
    BasePath,
}

/// The console's settings: the admin token (required: there is no console without one),
/// where it is mounted, and its limits.
///
/// ```
/// use webhook_console::ConsoleConfig;
///
/// let config = ConsoleConfig::new("a-long-random-admin-token")?.base_path("/ops/webhooks")?;
/// assert_eq!(config.base(), "/ops/webhooks");
/// assert!(ConsoleConfig::new("short").is_err());
/// # Ok::<(), webhook_console::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ConsoleConfig {
    token: Arc<Keys>,
    base: String,
    page_size: usize,
    max_body: usize,
    session_ttl: Duration,
    secure_cookie: bool,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("token", &"[REDACTED]")
            .field("base", &self.base)
            .field("page_size", &self.page_size)
            .field("max_body", &self.max_body)
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookie", &self.secure_cookie)
            .finish()
    }
}

impl ConsoleConfig {
    /// The console at `/admin` for `token`: pages of 50, forms of at most 16 KiB, sessions
    /// of 12 hours, a cookie without `Secure` (set [`secure_cookie`](Self::secure_cookie)
    /// when the console is served over HTTPS).
    pub fn new(token: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let token = token.as_ref();
        if token.len() < MIN_TOKEN_LEN {
            return Err(ConfigError::TokenTooShort);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(ConfigError::TokenTooLong);
        }
        Ok(Self {
            token: Arc::new(Keys::new(token)),
            base: "/admin".to_owned(),
            page_size: 50,
            max_body: 16 * 1024,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookie: false,
        })
    }

    /// The config for the token in `WEBHOOK_ADMIN_TOKEN`, or `None` when it is unset or
    /// empty: the console is off.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        match std::env::var(TOKEN_ENV) {
            Ok(token) if !token.is_empty() => Self::new(token).map(Some),
            _ => Ok(None),
        }
    }

    /// Mounts the console at `base` (`/admin` by default).
    pub fn base_path(mut self, base: &str) -> Result<Self, ConfigError> {
        let ok = base.starts_with('/')
            && base.len() > 1
            && !base.ends_with('/')
            && base.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b));
        if !ok {
            return Err(ConfigError::BasePath);
        }
        self.base = base.to_owned();
        Ok(self)
    }

    /// Events per page of a listing (1 to 500; 50 by default).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.clamp(1, 500);
        self
    }

    /// How long a login lasts (12 hours by default).
    #[must_use]
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Marks the session cookie `Secure` (sent over HTTPS only).
    #[must_use]
    pub fn secure_cookie(mut self, secure: bool) -> Self {
        self.secure_cookie = secure;
        self
    }

    /// Where the console is mounted.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The largest request body (a form) the glue reads before answering 413.
    pub fn max_body(&self) -> usize {
        self.max_body
    }
}

/// The console: cheap to clone, shared by every request.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use webhook_console::{Console, ConsoleConfig, ConsoleRequest};
/// use webhook_pipeline::MemoryStore;
///
/// let console = Console::new(Arc::new(MemoryStore::new()), ConsoleConfig::new("a-long-random-admin-token").unwrap());
/// let anonymous = console.handle(ConsoleRequest::new("GET", "/admin/deliveries", None)).await;
/// assert_eq!(anonymous.status, 401);
/// let admin = ConsoleRequest::new("GET", "/admin/deliveries", None)
///     .header("authorization", b"Bearer a-long-random-admin-token");
/// assert_eq!(console.handle(admin).await.status, 200);
/// # });
/// ```
#[derive(Clone)]
pub struct Console {
    store: Arc<dyn EventStore>,
    config: ConsoleConfig,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A page's route, relative to the base path.
enum Route {
    Overview,
    Deliveries,
    Delivery(EventId),
    Replay(EventId),
    Dead,
    ReplayDead,
    Login,
    Logout,
}

fn route(method: &str, rest: &str) -> Option<Route> {
    let get = method == "GET" || method == "HEAD";
    let post = method == "POST";
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        [""] if get => Route::Overview,
        ["deliveries"] if get => Route::Deliveries,
        ["deliveries", id] if get => Route::Delivery(id.parse().ok()?),
        ["deliveries", id, "replay"] if post => Route::Replay(id.parse().ok()?),
        ["dead"] if get => Route::Dead,
        ["dead", "replay"] if post => Route::ReplayDead,
        ["login"] if get || post => Route::Login,
        ["logout"] if post => Route::Logout,
        _ => return None,
    })
}

/// What a page needs to link and post back.
pub(crate) struct Ctx<'a> {
    pub(crate) base: &'a str,
    pub(crate) csrf: String,
    pub(crate) now: SystemTime,
}

impl Console {
    /// The console over `store` (the pipeline's [`EventStore`], with its audit log).
    pub fn new(store: Arc<dyn EventStore>, config: ConsoleConfig) -> Self {
        Self { store, config }
    }

    /// Its settings.
    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// Answers `req` now.
    pub async fn handle(&self, req: ConsoleRequest) -> ConsoleResponse {
        self.handle_at(req, SystemTime::now()).await
    }

    /// Answers `req` as at `now` (sessions expire, the overview covers the hour before it).
    pub async fn handle_at(&self, req: ConsoleRequest, now: SystemTime) -> ConsoleResponse {
        if req.path().len() + req.query().len() > MAX_TARGET {
            return ConsoleResponse::plain(414, "URI too long\n");
        }
        if req.body_bytes().len() > self.config.max_body {
            return ConsoleResponse::plain(413, "request body too large\n");
        }
        let base = self.config.base.as_str();
        let Some(rest) = req.path().strip_prefix(base).filter(|r| r.is_empty() || r.starts_with('/')) else {
            return ConsoleResponse::plain(404, "not found\n");
        };
        let Some(route) = route(req.method(), rest) else {
            return self.not_found_or_unauthorized(&req, now);
        };
        let auth = self.authenticate(&req, now);
        if let Route::Login = route {
            return self.login(&req, auth.as_ref(), now);
        }
        let Some(auth) = auth else {
            return self.unauthorized(None);
        };
        let ctx = Ctx { base, csrf: self.config.token.csrf(auth.session()), now };
        if req.method() == "POST" {
            let form = if req.is_form() { pairs(req.body_bytes()) } else { Vec::new() };
            let csrf_ok = param(&form, "csrf").is_some_and(|t| self.config.token.is_csrf(auth.session(), t));
            if !csrf_ok {
                tracing::warn!(path = %req.path(), "console: a state-changing request without its CSRF token");
                return ConsoleResponse::plain(403, "missing or wrong CSRF token\n");
            }
            return match route {
                Route::Replay(id) => self.replay_one(&ctx, id).await,
                Route::ReplayDead => self.replay_dead(&ctx, &form).await,
                Route::Logout => self.logout(),
                _ => ConsoleResponse::plain(405, "method not allowed\n"),
            };
        }
        let query = pairs(req.query().as_bytes());
        let result = match route {
            Route::Overview => self.overview(&ctx, &query).await,
            Route::Deliveries => self.deliveries(&ctx, &query, false).await,
            Route::Dead => self.deliveries(&ctx, &query, true).await,
            Route::Delivery(id) => self.delivery(&ctx, id, &query).await,
            _ => Ok(ConsoleResponse::plain(405, "method not allowed\n")),
        };
        result.unwrap_or_else(|e| store_failure(&e))
    }

    fn authenticate(&self, req: &ConsoleRequest, now: SystemTime) -> Option<Auth> {
        let keys = &self.config.token;
        if let Some(value) = req.authorization() {
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") && keys.is_token(token.trim().as_bytes()) {
                return Some(Auth::Bearer);
            }
        }
        let session = cookie(req.cookie()?, COOKIE)?;
        keys.is_session(session, now).then(|| Auth::Session(session.to_owned()))
    }

    /// An unknown route: 401 to whoever is not signed in (nothing of the console shows
    /// without the token), 404 otherwise.
    fn not_found_or_unauthorized(&self, req: &ConsoleRequest, now: SystemTime) -> ConsoleResponse {
        match self.authenticate(req, now) {
            Some(_) => ConsoleResponse::plain(404, "not found\n"),
            None => self.unauthorized(None),
        }
    }

    fn unauthorized(&self, error: Option<&str>) -> ConsoleResponse {
        ConsoleResponse::html(401, pages::login(&self.config.base, error))
            .with_header("www-authenticate", "Bearer realm=\"webhook console\"".to_owned())
    }

    fn login(&self, req: &ConsoleRequest, auth: Option<&Auth>, now: SystemTime) -> ConsoleResponse {
        let home = format!("{}/", self.config.base);
        if req.method() != "POST" {
            return match auth {
                Some(_) => ConsoleResponse::redirect(home),
                None => self.unauthorized(None),
            };
        }
        let form = if req.is_form() { pairs(req.body_bytes()) } else { Vec::new() };
        let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str()).unwrap_or("");
        if !self.config.token.is_token(token.as_bytes()) {
            tracing::warn!("console: a login with a wrong token");
            return self.unauthorized(Some("That token is not the admin token."));
        }
        let session = self.config.token.new_session(now, self.config.session_ttl);
        ConsoleResponse::redirect(home).with_header("set-cookie", self.cookie(&session, self.config.session_ttl))
    }

    fn logout(&self) -> ConsoleResponse {
        ConsoleResponse::redirect(format!("{}/login", self.config.base))
            .with_header("set-cookie", self.cookie("", Duration::ZERO))
    }

    fn cookie(&self, value: &str, ttl: Duration) -> String {
        let secure = if self.config.secure_cookie { "; Secure" } else { "" };
        format!(
            "{COOKIE}={value}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            self.config.base,
            ttl.as_secs()
        )
    }

    async fn overview(&self, ctx: &Ctx<'_>, _query: &[(String, String)]) -> Result<ConsoleResponse, StoreError> {
        let since = ctx.now - Duration::from_secs(3600);
        let counts = match self.store.audit_counts(since, Duration::from_secs(60)).await {
            Ok(c) => Some(c),
            Err(e) if e.is_misconfigured() => None,
            Err(e) => return Err(e),
        };
        let depth = self.store.depth().await?;
        let stored = match self.store.status_counts().await {
            Ok(c) => Some(c),
            Err(e) if e.is_misconfigured() => None,
            Err(e) => return Err(e),
        };
        Ok(ConsoleResponse::html(200, pages::overview(ctx, counts.as_deref(), depth, stored.as_ref())))
    }

    async fn deliveries(
        &self,
        ctx: &Ctx<'_>,
        query: &[(String, String)],
        dead: bool,
    ) -> Result<ConsoleResponse, StoreError> {
        let mut form = pages::ListForm::read(query);
        if dead {
            form.status = Some(Status::Dead);
        }
        if form.error.is_some() {
            return Ok(ConsoleResponse::html(400, pages::deliveries(ctx, &pages::Listing::empty(&form, dead))));
        }
        let mut filter = form.filter();
        filter.before = form.before;
        let mut events = self.store.list(&filter, self.config.page_size + 1).await?;
        let mut next = None;
        if events.len() > self.config.page_size {
            events.truncate(self.config.page_size);
            next = events.last().map(|e| e.id);
        }
        let replayed = param(query, "replayed").and_then(|n| n.parse::<u64>().ok());
        let listing = pages::Listing { form: &form, events: &events, next, dead, replayed };
        Ok(ConsoleResponse::html(200, pages::deliveries(ctx, &listing)))
    }

    async fn delivery(
        &self,
        ctx: &Ctx<'_>,
        id: EventId,
        query: &[(String, String)],
    ) -> Result<ConsoleResponse, StoreError> {
        let Some(event) = self.store.get(id).await? else {
            return Ok(ConsoleResponse::html(404, pages::missing(ctx, id)));
        };
        let filter = AuditFilter::default().provider(&event.provider).delivery_id(&event.delivery_id);
        let audit = match self.store.audit(&filter, 100).await {
            Ok(a) => Some(a),
            Err(e) if e.is_misconfigured() => None,
            Err(e) => return Err(e),
        };
        let attempts = match self.store.attempts(id).await {
            Ok(a) => Some(a),
            Err(e) if e.is_misconfigured() => None,
            Err(e) => return Err(e),
        };
        let replayed = param(query, "replayed").and_then(|n| n.parse::<u64>().ok());
        let shown = pages::Shown { event: &event, audit: audit.as_deref(), attempts: attempts.as_deref(), replayed };
        Ok(ConsoleResponse::html(200, pages::delivery(ctx, &shown)))
    }

    async fn replay_one(&self, ctx: &Ctx<'_>, id: EventId) -> ConsoleResponse {
        match self.store.replay(&Filter::id(id), ctx.now).await {
            Ok(n) => {
                tracing::info!(event = id, replayed = n, "console: replayed one event");
                ConsoleResponse::redirect(format!("{}/deliveries/{id}?replayed={n}", ctx.base))
            }
            Err(e) => store_failure(&e),
        }
    }

    async fn replay_dead(&self, ctx: &Ctx<'_>, form: &[(String, String)]) -> ConsoleResponse {
        let list = pages::ListForm::read(form);
        if list.error.is_some() {
            return ConsoleResponse::html(400, pages::deliveries(ctx, &pages::Listing::empty(&list, true)));
        }
        let filter = Filter { status: Some(Status::Dead), ..list.filter() };
        match self.store.replay(&filter, ctx.now).await {
            Ok(n) => {
                tracing::info!(replayed = n, ?filter, "console: replayed dead letters");
                ConsoleResponse::redirect(format!("{}/dead?replayed={n}", ctx.base))
            }
            Err(e) => store_failure(&e),
        }
    }
}

fn store_failure(e: &StoreError) -> ConsoleResponse {
    tracing::error!(error = %e, "console: the event store failed");
    ConsoleResponse::plain(503, "the event store is unavailable; try again\n")
}
