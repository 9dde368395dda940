//! Routing stored events to handlers by provider and event type.
//!
//! A [`EventRouter`] maps `(provider, pattern)` pairs to [`Handler`]s. Workers hand it each
//! leased [`Event`]; [`EventRouter::dispatch`] runs the best handler and says what became of
//! it, or [`EventRouter::route`] only finds the handler.
//!
//! # Patterns
//!
//! For an event of type `t`, the candidate names are `t` and, when the JSON body has a
//! top-level `action` field (GitHub sends `issues` with `"action": "opened"`), `t.action`
//! too. A pattern is one of:
//!
//! | pattern            | matches                                                        |
//! |--------------------|----------------------------------------------------------------|
//! | `issues.opened`    | a candidate equal to it: GitHub's `issues` + `opened`, or a type spelled so |
//! | `issues`           | a candidate equal to it                                        |
//! | `payment_intent.*` | any candidate that starts with `payment_intent.`: Stripe's `payment_intent.succeeded`, GitHub's `payment_intent` + any action; never bare `payment_intent` |
//! | `*`                | every event of the provider, typed or not ([`EventRouter::on_any`]) |
//!
//! and [`EventRouter::catch_all`] takes what no provider route does. The most specific match
//! wins, whatever the order of registration:
//!
//! 1. an exact `t.action`,
//! 2. an exact `t`,
//! 3. the longest matching prefix wildcard,
//! 4. the provider's `*`,
//! 5. the catch-all.
//!
//! An event with no type matches only `*` and the catch-all. Provider names compare
//! ASCII case-insensitively; event types and actions exactly. An event nothing matches
//! is *unknown*, and the router's [`UnknownEvents`] policy says what to do with it
//! (by default: ignore it, so it is marked done and counted, never retried forever).
//!
//! The body is read for `action` only when some pattern of the event's provider could
//! match `t.action` and not `t` (a Stripe router never reads it), and then without
//! building a tree: the read stops at the field.
//!
//! # Handlers
//!
//! A [`Handler`] is async and gets the whole stored [`Event`]: raw body, delivery id,
//! headers, attempt count. Any `Fn(Event) -> impl Future<Output = Result<(), HandlerError>>`
//! closure is a handler ([`handler_fn`] helps type inference); [`typed`] parses the body
//! into a `T: Deserialize` first, and a body that does not parse is a
//! [permanent](HandlerError::is_permanent) error, dead-lettered without retries.
//! A handler that returns `Ok(Effects)` instead of `Ok(())` hands its writes to the store as
//! SQL, which the store runs in the transaction that marks the event done: exactly once,
//! even across a crash (see [`effects`](super::effects)). There is one [`Handler`] trait and
//! one call; its output always reaches the store, so effects cannot be dropped by a
//! handler wired the wrong way.
//!
//! # Example
//!
//! ```
//! use std::time::SystemTime;
//!
//! use serde::Deserialize;
//! use webhook_pipeline::router::{handler_fn, typed, Dispatch, HandlerError, EventRouter, UnknownEvents};
//! use webhook_pipeline::{Event, Status};
//! use webhook_core::{providers, Bytes};
//!
//! #[derive(Deserialize)]
//! struct IssueEvent {
//!     issue: Issue,
//! }
//!
//! #[derive(Deserialize)]
//! struct Issue {
//!     number: u64,
//!     title: String,
//! }
//!
//! let router = EventRouter::new()
//!     // GitHub: `X-GitHub-Event: issues` and `"action": "opened"`, parsed into a type.
//!     .on(providers::GITHUB, "issues.opened", typed(|payload: IssueEvent, event: Event| async move {
//!         if payload.issue.title.is_empty() {
//!             return Err(HandlerError::permanent(format!(
//!                 "issue #{} in delivery {} has no title",
//!                 payload.issue.number, event.delivery_id
//!             )));
//!         }
//!         Ok(())
//!     }))
//!     // Stripe: every `payment_intent.` event, raw.
//!     .on(providers::STRIPE, "payment_intent.*", |event: Event| async move {
//!         let object: serde_json::Value = event.json().map_err(HandlerError::permanent)?;
//!         let _amount = object["data"]["object"]["amount"].as_u64();
//!         Ok(())
//!     })
//!     // Whatever else arrives, from any provider.
//!     .catch_all(handler_fn(|_event| async move { Ok(()) }))
//!     .unknown(UnknownEvents::DeadLetter);
//!
//! # fn event(provider: &str, event_type: &str, body: &'static str) -> Event {
//! #     Event {
//! #         id: 1,
//! #         provider: provider.to_owned(),
//! #         delivery_id: "d-1".to_owned(),
//! #         event_type: Some(event_type.to_owned()),
//! #         headers: Vec::new(),
//! #         body: Bytes::from_static(body.as_bytes()),
//! #         received_at: SystemTime::UNIX_EPOCH,
//! #         status: Status::Processing,
//! #         attempts: 1,
//! #         last_error: None,
//! #         next_attempt_at: SystemTime::UNIX_EPOCH,
//! #     }
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let opened = event("github", "issues", r#"{"action":"opened","issue":{"number":7,"title":"Bug"}}"#);
//! assert!(matches!(router.dispatch(&opened).await, Dispatch::Handled(_)));
//!
//! // Not an issue payload: permanent, so the worker dead-letters it at once.
//! let garbled = event("github", "issues", r#"{"action":"opened","issue":null}"#);
//! assert!(matches!(router.dispatch(&garbled).await, Dispatch::Failed(e) if e.is_permanent()));
//!
//! let paid = event("stripe", "payment_intent.succeeded", r#"{"data":{"object":{"amount":500}}}"#);
//! assert!(matches!(router.dispatch(&paid).await, Dispatch::Handled(_)));
//!
//! // The catch-all takes the rest, so nothing here is unknown.
//! let ping = event("github", "ping", "{}");
//! assert!(matches!(router.dispatch(&ping).await, Dispatch::Handled(_)));
//! # });
//! ```

use std::any::type_name;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use webhook_core::Provider;

use super::effects::Effects;
use super::event::Event;

/// Handles one stored event.
///
/// Return `Ok(())` when the event is handled (the worker marks it done), a
/// [retryable](HandlerError::retry) error to have it tried again after a backoff, or a
/// [permanent](HandlerError::permanent) error to dead-letter it at once. A handler that
/// panics counts as a retryable failure. An event may be handled more than once (a lease
/// can expire mid-handler, a dead letter can be replayed): make handlers idempotent,
/// keyed by [`Event::delivery_id`].
///
/// Closures `Fn(Event) -> impl Future<Output = Result<(), HandlerError>>` (or
/// `Result<Effects, HandlerError>`) are handlers
/// (they get a clone of the event, which shares the body); so is `Arc<H>` for any
/// handler `H`, `dyn Handler` included, to register one handler under several routes.
/// (`Box<dyn Handler>` is not: `Box<F>` is itself a closure type, and the two impls would
/// overlap; use `Arc`.)
///
/// ```
/// use async_trait::async_trait;
/// use webhook_core::providers;
/// use webhook_pipeline::router::{Handler, HandlerError, EventRouter};
/// use webhook_pipeline::{Effects, Event};
///
/// struct Audit {
///     table: &'static str,
/// }
///
/// #[async_trait]
/// impl Handler for Audit {
///     async fn handle(&self, event: &Event) -> Result<Effects, HandlerError> {
///         let _row = (self.table, &event.provider, &event.delivery_id, event.body.len());
///         Ok(Effects::new())
///     }
/// }
///
/// let router = EventRouter::new().on_any(providers::GITHUB, Audit { table: "audit" });
/// # let _ = router;
/// ```
#[async_trait]
pub trait Handler: Send + Sync {
    /// Handles `event`. `Ok` carries the SQL [`Effects`] the event store runs in the
    /// transaction that marks the event done (exactly once, even across a crash; see
    /// [`effects`](super::effects)); most handlers ask for none (`Effects::new()`, or a
    /// closure returning `Ok(())`).
    async fn handle(&self, event: &Event) -> Result<Effects, HandlerError>;
}

/// Any `Fn(Event) -> impl Future<Output = Result<R, HandlerError>>` closure is a handler,
/// `R` being `()` or [`Effects`] (see [`Handled`]).
#[async_trait]
impl<F, Fut, R> Handler for F
where
    F: Fn(Event) -> Fut + Send + Sync,
    Fut: Future<Output = Result<R, HandlerError>> + Send,
    R: Handled,
{
    async fn handle(&self, event: &Event) -> Result<Effects, HandlerError> {
        self(event.clone()).await.map(Handled::into_effects)
    }
}

#[async_trait]
impl<H: Handler + ?Sized> Handler for Arc<H> {
    async fn handle(&self, event: &Event) -> Result<Effects, HandlerError> {
        (**self).handle(event).await
    }
}

/// A handler whose work is a write to the database that holds the events, made exactly
/// once: this is only a name for a closure returning `Ok(Effects)`, which is a
/// [`Handler`] by itself. Kept for one release.
#[deprecated(note = "a closure returning `Result<Effects, HandlerError>` is a Handler by itself")]
pub fn transactional<F, Fut>(f: F) -> F
where
    F: Fn(Event) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Effects, HandlerError>> + Send,
{
    f
}

/// A closure as a [`Handler`].
///
/// Closures are handlers already; this function only pins down the closure's argument
/// type, so `|event| ...` needs no annotation and `Ok(())` or `?` in its body need no
/// turbofish. The closure returns `Ok(())`, or `Ok(Effects)` to have its writes committed
/// with the event's done mark.
///
/// ```
/// use webhook_core::providers;
/// use webhook_pipeline::router::{handler_fn, HandlerError, EventRouter};
///
/// let router = EventRouter::new().on(providers::GITHUB, "push", handler_fn(|event| async move {
///     if event.body.is_empty() {
///         return Err(HandlerError::permanent("empty push"));
///     }
///     Ok(())
/// }));
/// # let _ = router;
/// ```
pub fn handler_fn<F, Fut, R>(f: F) -> F
where
    F: Fn(Event) -> Fut + Send + Sync,
    Fut: Future<Output = Result<R, HandlerError>> + Send,
    R: Handled,
{
    f
}

/// A [`Handler`] that parses the body as JSON into `T` and calls `f` with it and the
/// event (for its delivery id, headers and attempt count).
///
/// A body that does not parse into `T` never will: it fails with a
/// [permanent](HandlerError::is_permanent) error and `f` is not called.
///
/// `f` returns `Ok(())`, or `Ok(Effects)` to be exactly once: the statements commit with
/// the event's done mark (see [`Handled`]).
///
/// ```
/// use serde::Deserialize;
/// use webhook_core::providers;
/// use webhook_pipeline::router::{typed, EventRouter};
/// use webhook_pipeline::Event;
///
/// #[derive(Deserialize)]
/// struct Charge {
///     id: String,
///     amount: u64,
/// }
///
/// let router = EventRouter::new().on(providers::STRIPE, "charge.*", typed(|charge: Charge, event: Event| async move {
///     let _ = (charge.id, charge.amount, event.attempts);
///     Ok(())
/// }));
/// # let _ = router;
/// ```
pub fn typed<T, F, Fut, R>(f: F) -> Typed<T, F>
where
    T: DeserializeOwned,
    F: Fn(T, Event) -> Fut + Send + Sync,
    Fut: Future<Output = Result<R, HandlerError>> + Send,
    R: Handled,
{
    Typed { f, payload: PhantomData }
}

/// The [`Handler`] made by [`typed`].
pub struct Typed<T, F> {
    f: F,
    payload: PhantomData<fn() -> T>,
}

impl<T, F> fmt::Debug for Typed<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Typed").field("payload", &type_name::<T>()).finish_non_exhaustive()
    }
}

/// What a handler closure (or a [`typed`] one) returns on success: `()`, or the
/// [`Effects`] to run with the event's done mark.
pub trait Handled: Send {
    /// The effects (none for `()`).
    fn into_effects(self) -> Effects;
}

impl Handled for () {
    fn into_effects(self) -> Effects {
        Effects::new()
    }
}

impl Handled for Effects {
    fn into_effects(self) -> Effects {
        self
    }
}

#[async_trait]
impl<T, F, Fut, R> Handler for Typed<T, F>
where
    T: DeserializeOwned,
    F: Fn(T, Event) -> Fut + Send + Sync,
    Fut: Future<Output = Result<R, HandlerError>> + Send,
    R: Handled,
{
    async fn handle(&self, event: &Event) -> Result<Effects, HandlerError> {
        let payload = event
            .json::<T>()
            .map_err(|e| HandlerError::permanent(format!("payload is not a {}: {e}", type_name::<T>())))?;
        (self.f)(payload, event.clone()).await.map(Handled::into_effects)
    }
}

/// Why a handler failed, and whether trying again could help.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into a
/// [retryable](Self::is_retryable) `HandlerError`, so `?` works in handlers; the error is
/// kept as [`source`](Self::source). Messages without an error type go through
/// [`retry`](Self::retry) or [`permanent`](Self::permanent) (`map_err(HandlerError::permanent)`).
///
/// Like `anyhow::Error`, this type does not itself implement `std::error::Error` (that
/// would make the blanket conversion conflict with `From<T> for T`). Its
/// [`Display`](fmt::Display) is the message followed by the source's causes, `: `
/// separated, which is what a store keeps as the event's last error.
///
/// ```
/// use webhook_pipeline::router::HandlerError;
///
/// fn parse(text: &str) -> Result<u16, HandlerError> {
///     Ok(text.parse::<u16>()?) // a ParseIntError: retryable
/// }
/// assert!(parse("x").unwrap_err().is_retryable());
///
/// let e = HandlerError::permanent("unsupported API version");
/// assert!(e.is_permanent());
/// assert_eq!(e.to_string(), "unsupported API version");
/// ```
#[derive(Debug)]
pub struct HandlerError {
    kind: Kind,
    message: Cow<'static, str>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Retry,
    Permanent,
}

impl HandlerError {
    /// A failure worth retrying later: a dependency down, a timeout, a lock held.
    pub fn retry(message: impl fmt::Display) -> Self {
        Self::new(Kind::Retry, message)
    }

    /// A failure no retry can fix (a payload this code cannot handle): the worker may
    /// dead-letter the event at once, for a replay after a fix.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self::new(Kind::Permanent, message)
    }

    fn new(kind: Kind, message: impl fmt::Display) -> Self {
        Self { kind, message: Cow::Owned(message.to_string()), source: None }
    }

    /// Whether no retry can help: dead-letter the event now.
    pub fn is_permanent(&self) -> bool {
        self.kind == Kind::Permanent
    }

    /// Whether the event should be tried again after a backoff (while attempts remain).
    pub fn is_retryable(&self) -> bool {
        self.kind == Kind::Retry
    }

    /// The error this one was converted from, if any (to downcast it).
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    /// A retryable error wrapping `error`.
    fn from(error: E) -> Self {
        Self { kind: Kind::Retry, message: Cow::Owned(error.to_string()), source: Some(Box::new(error)) }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        // The message is the source's own text; what follows are its causes.
        let mut cause = self.source.as_deref().and_then(|e| e.source());
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

/// What to do with an event no route matches.
///
/// Whatever the policy, [`EventRouter::dispatch`] reports such an event as
/// [`Dispatch::Unknown`] and the worker counts it.
///
/// ```
/// use webhook_pipeline::router::{EventRouter, UnknownEvents};
///
/// assert_eq!(UnknownEvents::default(), UnknownEvents::Ignore);
/// let router = EventRouter::new().unknown(UnknownEvents::Retry);
/// # let _ = router;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UnknownEvents {
    /// Mark the event done without handling it (the default): a provider sending types
    /// nobody subscribed to costs one row, never a retry loop.
    #[default]
    Ignore,
    /// Dead-letter the event at once, to be inspected and replayed after a handler is
    /// added.
    DeadLetter,
    /// Fail the attempt and retry with the usual backoff (until the attempts run out and
    /// it is dead): for handlers that are about to be deployed.
    Retry,
}

impl UnknownEvents {
    /// A stable snake_case label for metrics and logs: `ignore`, `dead_letter`, `retry`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::DeadLetter => "dead_letter",
            Self::Retry => "retry",
        }
    }
}

impl fmt::Display for UnknownEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where [`EventRouter::route`] sends an event.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Route<'a> {
    /// The most specific handler that matches.
    Handler(&'a dyn Handler),
    /// Nothing matches; the router's policy for unknown events.
    Unknown(UnknownEvents),
}

impl fmt::Debug for Route<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handler(_) => f.write_str("Handler(..)"),
            Self::Unknown(policy) => f.debug_tuple("Unknown").field(policy).finish(),
        }
    }
}

/// What became of an event given to [`EventRouter::dispatch`].
///
/// The worker's move: `Handled` → done; `Failed` → dead if
/// [permanent](HandlerError::is_permanent), else retried after a backoff while attempts
/// remain; `Unknown` → as the [policy](UnknownEvents) says.
#[derive(Debug)]
#[non_exhaustive]
pub enum Dispatch {
    /// The handler succeeded; the [`Effects`] it asked for (often none) are to run with the
    /// event's done mark.
    Handled(Effects),
    /// The handler returned an error, or panicked (a retryable error).
    Failed(HandlerError),
    /// No route matched; no handler ran.
    Unknown(UnknownEvents),
}

impl Dispatch {
    /// What a broker's consumer does with this result, where no SQL store holds the event:
    /// `Ok` to acknowledge it, or the error and whether it is permanent (dead-letter at
    /// once) rather than to be retried. Effects cannot be applied there: permanent.
    #[cfg(any(feature = "nats", feature = "rabbitmq"))]
    pub(crate) fn on_a_broker(self) -> Result<(), (String, bool)> {
        match self {
            Dispatch::Handled(effects) if effects.is_empty() => Ok(()),
            Dispatch::Handled(_) => {
                Err(("a handler's SQL effects need a SQL event store; not applied".to_owned(), true))
            }
            Dispatch::Unknown(UnknownEvents::Ignore) => Ok(()),
            Dispatch::Unknown(UnknownEvents::DeadLetter) => Err(("no handler for this event".to_owned(), true)),
            Dispatch::Unknown(_) => Err(("no handler for this event yet".to_owned(), false)),
            Dispatch::Failed(e) => Err((e.to_string(), e.is_permanent())),
        }
    }
}

/// Records a broker consumer's run of a handler as the workers do:
/// `webhook_handler_runs_total{provider, event_type, result}` (`ok`, `error` for a retry,
/// `dead`) and `webhook_handling_duration_seconds{provider}`.
#[cfg(any(feature = "nats", feature = "rabbitmq"))]
pub(crate) fn record_run(event: &Event, result: &'static str, took: std::time::Duration) {
    let provider = event.provider.clone();
    let event_type = event.event_type.clone().unwrap_or_else(|| "-".to_owned());
    metrics::counter!("webhook_handler_runs_total", "provider" => provider.clone(), "event_type" => event_type, "result" => result)
        .increment(1);
    metrics::histogram!("webhook_handling_duration_seconds", "provider" => provider).record(took.as_secs_f64());
}

/// Handlers by provider and event type; see the [module docs](self) for the matching rules.
///
/// Built once at startup with chained calls, then shared: cloning is one reference-count
/// increment.
///
/// Registration panics on a malformed pattern or on a second handler for the same
/// provider and pattern (or a second catch-all): both are programming errors, found the
/// first time the program starts.
///
/// ```
/// use webhook_core::providers;
/// use webhook_pipeline::router::{handler_fn, Route, EventRouter, UnknownEvents};
/// use webhook_pipeline::{Event, Status};
/// # use std::time::SystemTime;
///
/// let router = EventRouter::new()
///     .on(providers::STRIPE, "invoice.paid", handler_fn(|_event| async move { Ok(()) }))
///     .unknown(UnknownEvents::DeadLetter);
///
/// let mut event = Event {
///     id: 1,
///     provider: "stripe".to_owned(),
///     delivery_id: "evt_1".to_owned(),
///     event_type: Some("invoice.paid".to_owned()),
///     headers: Vec::new(),
///     body: webhook_core::Bytes::from_static(b"{}"),
///     received_at: SystemTime::UNIX_EPOCH,
///     status: Status::Processing,
///     attempts: 1,
///     last_error: None,
///     next_attempt_at: SystemTime::UNIX_EPOCH,
/// };
/// assert!(matches!(router.route(&event), Route::Handler(_)));
/// event.event_type = Some("invoice.voided".to_owned());
/// assert!(matches!(router.route(&event), Route::Unknown(UnknownEvents::DeadLetter)));
/// ```
#[derive(Clone, Default)]
pub struct EventRouter {
    inner: Arc<Inner>,
}

#[derive(Clone, Default)]
struct Inner {
    providers: Vec<ProviderRoutes>,
    catch_all: Option<Arc<dyn Handler>>,
    unknown: UnknownEvents,
}

/// One provider's routes.
#[derive(Clone)]
struct ProviderRoutes {
    /// As first registered; compared ASCII case-insensitively.
    provider: String,
    /// Exact patterns, matched against `t.action` and then `t`.
    exact: HashMap<String, Arc<dyn Handler>>,
    /// Prefix wildcards as their prefix with its dot (`payment_intent.`), longest first.
    prefixes: Vec<(String, Arc<dyn Handler>)>,
    /// The provider-wide `*`.
    any: Option<Arc<dyn Handler>>,
    /// The event types `t` for which some pattern can match `t.action` and not `t`: only
    /// these read the body's `action`.
    action_types: HashSet<String>,
}

/// A parsed pattern.
enum Pattern<'a> {
    /// `*`.
    Any,
    /// `name`.
    Exact(&'a str),
    /// `prefix.*`, held without its `.*`.
    Prefix(&'a str),
}

impl<'a> Pattern<'a> {
    fn parse(pattern: &'a str) -> Result<Self, &'static str> {
        if pattern == "*" {
            return Ok(Self::Any);
        }
        let (name, wildcard) = match pattern.strip_suffix(".*") {
            Some(prefix) => (prefix, true),
            None => (pattern, false),
        };
        if name.is_empty() {
            return Err("the pattern is empty");
        }
        if name.contains('*') {
            return Err("`*` may only be the whole pattern or its last segment (`prefix.*`)");
        }
        Ok(if wildcard { Self::Prefix(name) } else { Self::Exact(name) })
    }
}

/// Every proper prefix of `name` that ends just before a dot: `a.b.c` gives `a`, `a.b`.
fn before_dots(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(i, _)| &name[..i])
}

impl ProviderRoutes {
    fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            exact: HashMap::new(),
            prefixes: Vec::new(),
            any: None,
            action_types: HashSet::new(),
        }
    }

    /// Adds a route; `Err` names what is wrong.
    fn add(&mut self, pattern: &str, handler: Arc<dyn Handler>) -> Result<(), &'static str> {
        const TAKEN: &str = "a handler is already registered for it";
        match Pattern::parse(pattern)? {
            Pattern::Any => {
                if self.any.is_some() {
                    return Err(TAKEN);
                }
                self.any = Some(handler);
            }
            Pattern::Exact(name) => {
                if self.exact.contains_key(name) {
                    return Err(TAKEN);
                }
                // `a.b` matches `t.action` for `t` = `a` (and for `a.b.c`, `t` = `a.b` too).
                self.action_types.extend(before_dots(name).map(str::to_owned));
                self.exact.insert(name.to_owned(), handler);
            }
            Pattern::Prefix(prefix) => {
                let dotted = format!("{prefix}.");
                if self.prefixes.iter().any(|(p, _)| *p == dotted) {
                    return Err(TAKEN);
                }
                // `a.b.*` matches `t.action` and not `t` for `t` = `a.b` or `a`; a longer
                // `t` that starts with `a.b.` matches by itself.
                self.action_types.insert(prefix.to_owned());
                self.action_types.extend(before_dots(prefix).map(str::to_owned));
                let at = self.prefixes.partition_point(|(p, _)| p.len() >= dotted.len());
                self.prefixes.insert(at, (dotted, handler));
            }
        }
        Ok(())
    }

    /// Whether routing an event of type `t` may depend on the body's `action`.
    fn needs_action(&self, t: &str) -> bool {
        self.action_types.contains(t)
    }

    /// The best typed route for type `t` (not `*`).
    fn find(&self, t: &str, body: &[u8]) -> Option<&Arc<dyn Handler>> {
        let with_action =
            if self.needs_action(t) { read_action(body).map(|action| format!("{t}.{action}")) } else { None };
        let with_action = with_action.as_deref();
        if let Some(h) = with_action.and_then(|name| self.exact.get(name)) {
            return Some(h);
        }
        if let Some(h) = self.exact.get(t) {
            return Some(h);
        }
        // Longest first, so the first match is the most specific one.
        self.prefixes
            .iter()
            .find(|(prefix, _)| {
                t.starts_with(prefix.as_str()) || with_action.is_some_and(|name| name.starts_with(prefix.as_str()))
            })
            .map(|(_, h)| h)
    }

    fn patterns(&self) -> Vec<String> {
        let mut out: Vec<String> = self.exact.keys().cloned().collect();
        out.extend(self.prefixes.iter().map(|(p, _)| format!("{p}*")));
        out.sort();
        if self.any.is_some() {
            out.push("*".to_owned());
        }
        out
    }
}

/// The body's top-level `action`, if it is a non-empty scalar (read without building a
/// tree, stopping at the field).
fn read_action(body: &[u8]) -> Option<String> {
    webhook_core::json::top_level_field(body, "action")
}

impl EventRouter {
    /// A router with no routes: every event is unknown, and ignored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `provider`'s events that match `pattern` (`issues.opened`, `issues`,
    /// `payment_intent.*`, or `*` for all of them) to `handler`.
    ///
    /// # Panics
    ///
    /// If `provider` is empty, `pattern` is malformed (empty, or a `*` anywhere but as
    /// the whole pattern or its final `.*`), or the provider already has a handler for
    /// `pattern`.
    #[must_use]
    #[track_caller]
    pub fn on(mut self, provider: Provider, pattern: &str, handler: impl Handler + 'static) -> Self {
        let provider = provider.name();
        if provider.is_empty() {
            panic!("EventRouter::on: the provider name is empty (pattern {pattern:?})");
        }
        let inner = Arc::make_mut(&mut self.inner);
        let routes = match inner.providers.iter().position(|r| r.provider.eq_ignore_ascii_case(provider)) {
            Some(i) => &mut inner.providers[i],
            None => {
                inner.providers.push(ProviderRoutes::new(provider));
                let last = inner.providers.len() - 1;
                &mut inner.providers[last]
            }
        };
        if let Err(why) = routes.add(pattern, Arc::new(handler)) {
            panic!("EventRouter::on({provider:?}, {pattern:?}): {why}");
        }
        self
    }

    /// Routes every event of `provider` that no more specific route takes, typed or not:
    /// the same as `on(provider, "*", handler)`.
    ///
    /// # Panics
    ///
    /// If `provider` is empty or already has a `*` handler.
    #[must_use]
    #[track_caller]
    pub fn on_any(self, provider: Provider, handler: impl Handler + 'static) -> Self {
        self.on(provider, "*", handler)
    }

    /// Routes every event no provider route takes, from any provider.
    ///
    /// # Panics
    ///
    /// If a catch-all is already registered.
    #[must_use]
    #[track_caller]
    pub fn catch_all(mut self, handler: impl Handler + 'static) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        if inner.catch_all.is_some() {
            panic!("EventRouter::catch_all: a catch-all handler is already registered");
        }
        inner.catch_all = Some(Arc::new(handler));
        self
    }

    /// What to do with events no route matches (default: [`UnknownEvents::Ignore`]).
    #[must_use]
    pub fn unknown(mut self, policy: UnknownEvents) -> Self {
        Arc::make_mut(&mut self.inner).unknown = policy;
        self
    }

    /// The policy for events no route matches.
    pub fn unknown_events(&self) -> UnknownEvents {
        self.inner.unknown
    }

    /// The most specific handler for `event`, or the unknown-event policy if none
    /// matches. Reads the body only for an `action` that could change the answer.
    pub fn route(&self, event: &Event) -> Route<'_> {
        match self.find(event) {
            Some(handler) => Route::Handler(&**handler),
            None => Route::Unknown(self.inner.unknown),
        }
    }

    fn find(&self, event: &Event) -> Option<&Arc<dyn Handler>> {
        let routes = self.inner.providers.iter().find(|r| r.provider.eq_ignore_ascii_case(&event.provider));
        if let Some(routes) = routes {
            let typed = event.event_type.as_deref().and_then(|t| routes.find(t, &event.body));
            if let Some(handler) = typed.or(routes.any.as_ref()) {
                return Some(handler);
            }
        }
        self.inner.catch_all.as_ref()
    }

    /// Routes `event` and runs its handler, if any.
    ///
    /// A handler that panics is reported as a retryable [`Dispatch::Failed`] (the panic
    /// is caught, so the worker survives it). The returned future is `Send`.
    pub async fn dispatch(&self, event: &Event) -> Dispatch {
        let handler = match self.route(event) {
            Route::Handler(handler) => handler,
            Route::Unknown(policy) => {
                tracing::debug!(
                    provider = %event.provider,
                    event_type = event.event_type.as_deref().unwrap_or(""),
                    delivery_id = %event.delivery_id,
                    policy = policy.as_str(),
                    "no route for event"
                );
                return Dispatch::Unknown(policy);
            }
        };
        match AssertUnwindSafe(handler.handle(event)).catch_unwind().await {
            Ok(Ok(effects)) => Dispatch::Handled(effects),
            Ok(Err(e)) => Dispatch::Failed(e),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a non-string payload");
                tracing::error!(
                    provider = %event.provider,
                    delivery_id = %event.delivery_id,
                    panic = what,
                    "webhook handler panicked"
                );
                Dispatch::Failed(HandlerError::retry(format_args!("handler panicked: {what}")))
            }
        }
    }
}

/// The old name of [`EventRouter`], which read like `axum::Router` in a file that has both.
#[deprecated(note = "renamed EventRouter")]
pub type Router = EventRouter;

impl fmt::Debug for EventRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRouter")
            .field(
                "routes",
                &self.inner.providers.iter().map(|r| (r.provider.as_str(), r.patterns())).collect::<Vec<_>>(),
            )
            .field("catch_all", &self.inner.catch_all.is_some())
            .field("unknown", &self.inner.unknown)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::SystemTime;

    use bytes::Bytes;
    use serde::Deserialize;

    use super::*;
    use crate::Status;
    use webhook_core::providers;

    type Log = Arc<Mutex<Vec<&'static str>>>;

    fn log() -> Log {
        Arc::new(Mutex::new(Vec::new()))
    }

    fn taken(log: &Log) -> Vec<&'static str> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    /// A handler that records `name` when it runs.
    fn rec(log: &Log, name: &'static str) -> impl Handler + 'static {
        let log = log.clone();
        handler_fn(move |_event| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(name);
                Ok(())
            }
        })
    }

    fn event(provider: &str, event_type: Option<&str>, body: &str) -> Event {
        Event {
            id: 1,
            provider: provider.to_owned(),
            delivery_id: "d-1".to_owned(),
            event_type: event_type.map(str::to_owned),
            headers: vec![("X-GitHub-Delivery".to_owned(), "d-1".to_owned())],
            body: Bytes::copy_from_slice(body.as_bytes()),
            received_at: SystemTime::UNIX_EPOCH,
            status: Status::Processing,
            attempts: 1,
            last_error: None,
            next_attempt_at: SystemTime::UNIX_EPOCH,
        }
    }

    /// Dispatches `event` and returns the names of the handlers that ran (at most one),
    /// or `unknown:<policy>`.
    async fn ran(router: &EventRouter, log: &Log, event: &Event) -> Vec<&'static str> {
        match router.dispatch(event).await {
            Dispatch::Handled(_) => taken(log),
            Dispatch::Unknown(policy) => {
                assert!(taken(log).is_empty());
                vec![match policy {
                    UnknownEvents::Ignore => "unknown:ignore",
                    UnknownEvents::DeadLetter => "unknown:dead_letter",
                    UnknownEvents::Retry => "unknown:retry",
                }]
            }
            Dispatch::Failed(e) => panic!("handler failed: {e}"),
        }
    }

    const OPENED: &str = r#"{"action":"opened","issue":{"number":1}}"#;

    #[tokio::test]
    async fn precedence_action_then_type_then_wildcard_then_provider_then_catch_all() {
        let log = log();
        let issue = event("github", Some("issues"), OPENED);
        // Each level added in turn takes over from the less specific ones before it.
        let levels: [(&str, &'static str); 4] =
            [("*", "provider"), ("issues.*", "wildcard"), ("issues", "type"), ("issues.opened", "action")];
        let mut router = EventRouter::new().catch_all(rec(&log, "catch_all"));
        assert_eq!(ran(&router, &log, &issue).await, ["catch_all"]);
        for (pattern, name) in levels {
            router = router.on(providers::GITHUB, pattern, rec(&log, name));
            assert_eq!(ran(&router, &log, &issue).await, [name], "after adding {pattern}");
        }
        // The order of registration does not matter.
        let mut router = EventRouter::new();
        for (pattern, name) in levels.iter().rev() {
            router = router.on(providers::GITHUB, pattern, rec(&log, name));
        }
        let router = router.catch_all(rec(&log, "catch_all"));
        assert_eq!(ran(&router, &log, &issue).await, ["action"]);
        let closed = event("github", Some("issues"), r#"{"action":"closed"}"#);
        assert_eq!(ran(&router, &log, &closed).await, ["type"]);
        let push = event("github", Some("push"), "{}");
        assert_eq!(ran(&router, &log, &push).await, ["provider"]);
        let stripe = event("stripe", Some("issues"), OPENED);
        assert_eq!(ran(&router, &log, &stripe).await, ["catch_all"]);
    }

    #[tokio::test]
    async fn longest_prefix_wildcard_wins_whatever_the_order() {
        let log = log();
        let a = EventRouter::new().on(providers::STRIPE, "customer.*", rec(&log, "customer")).on(
            providers::STRIPE,
            "customer.subscription.*",
            rec(&log, "subscription"),
        );
        let b = EventRouter::new().on(providers::STRIPE, "customer.subscription.*", rec(&log, "subscription")).on(
            providers::STRIPE,
            "customer.*",
            rec(&log, "customer"),
        );
        for router in [a, b] {
            let sub = event("stripe", Some("customer.subscription.updated"), "{}");
            assert_eq!(ran(&router, &log, &sub).await, ["subscription"]);
            let created = event("stripe", Some("customer.created"), "{}");
            assert_eq!(ran(&router, &log, &created).await, ["customer"]);
            // `prefix.*` needs something after the dot.
            let bare = event("stripe", Some("customer"), "{}");
            assert_eq!(ran(&router, &log, &bare).await, ["unknown:ignore"]);
            // `customer.subscription` alone is matched by `customer.*` only.
            let mid = event("stripe", Some("customer.subscription"), "{}");
            assert_eq!(ran(&router, &log, &mid).await, ["customer"]);
        }
    }

    #[tokio::test]
    async fn longest_prefix_counts_across_type_and_action() {
        let log = log();
        let router = EventRouter::new().on(providers::GITHUB, "pull_request.*", rec(&log, "pr")).on(
            providers::GITHUB,
            "pull_request.review_requested.*",
            rec(&log, "review"),
        );
        let e = event("github", Some("pull_request"), r#"{"action":"opened"}"#);
        assert_eq!(ran(&router, &log, &e).await, ["pr"]);
        // An exact type beats a wildcard that matches only through the action.
        let router = router.on(providers::GITHUB, "pull_request", rec(&log, "type"));
        assert_eq!(ran(&router, &log, &e).await, ["type"]);
    }

    #[tokio::test]
    async fn stripe_dotted_types_match_exactly_and_by_wildcard() {
        let log = log();
        let router = EventRouter::new().on(providers::STRIPE, "payment_intent.succeeded", rec(&log, "succeeded")).on(
            providers::STRIPE,
            "payment_intent.*",
            rec(&log, "payment_intent"),
        );
        let ok = event("stripe", Some("payment_intent.succeeded"), "{}");
        assert_eq!(ran(&router, &log, &ok).await, ["succeeded"]);
        let failed = event("stripe", Some("payment_intent.payment_failed"), "{}");
        assert_eq!(ran(&router, &log, &failed).await, ["payment_intent"]);
        let other = event("stripe", Some("charge.succeeded"), "{}");
        assert_eq!(ran(&router, &log, &other).await, ["unknown:ignore"]);
    }

    #[tokio::test]
    async fn wildcard_matches_a_type_with_any_action_but_not_without_one() {
        let log = log();
        let router = EventRouter::new().on(providers::GITHUB, "issues.*", rec(&log, "issues"));
        for action in ["opened", "closed", "labeled"] {
            let body = format!(r#"{{"issue":{{"action":"nested"}},"action":"{action}"}}"#);
            let e = event("github", Some("issues"), &body);
            assert_eq!(ran(&router, &log, &e).await, ["issues"], "{action}");
        }
        for body in ["{}", r#"{"action":""}"#, r#"{"action":null}"#, "not json", ""] {
            let e = event("github", Some("issues"), body);
            assert_eq!(ran(&router, &log, &e).await, ["unknown:ignore"], "{body:?}");
        }
        // Only a top-level `action` counts.
        let nested = event("github", Some("issues"), r#"{"issue":{"action":"opened"}}"#);
        assert_eq!(ran(&router, &log, &nested).await, ["unknown:ignore"]);
    }

    #[tokio::test]
    async fn events_without_a_type_match_only_provider_wide_and_catch_all() {
        let log = log();
        let untyped = event("github", None, OPENED);
        let router = EventRouter::new()
            .on(providers::GITHUB, "issues", rec(&log, "type"))
            .on(providers::GITHUB, "issues.opened", rec(&log, "action"))
            .on(providers::GITHUB, "issues.*", rec(&log, "wildcard"));
        assert_eq!(ran(&router, &log, &untyped).await, ["unknown:ignore"]);
        let router = router.catch_all(rec(&log, "catch_all"));
        assert_eq!(ran(&router, &log, &untyped).await, ["catch_all"]);
        let router = router.on_any(providers::GITHUB, rec(&log, "provider"));
        assert_eq!(ran(&router, &log, &untyped).await, ["provider"]);
    }

    #[tokio::test]
    async fn unknown_policy_is_ignore_by_default_and_configurable() {
        let log = log();
        let e = event("gitlab", Some("Push Hook"), "{}");
        let router = EventRouter::new().on(providers::GITHUB, "push", rec(&log, "push"));
        assert_eq!(router.unknown_events(), UnknownEvents::Ignore);
        assert!(matches!(router.route(&e), Route::Unknown(UnknownEvents::Ignore)));
        assert_eq!(ran(&router, &log, &e).await, ["unknown:ignore"]);
        for (policy, name) in [
            (UnknownEvents::DeadLetter, "unknown:dead_letter"),
            (UnknownEvents::Retry, "unknown:retry"),
            (UnknownEvents::Ignore, "unknown:ignore"),
        ] {
            let router = router.clone().unknown(policy);
            assert!(matches!(router.route(&e), Route::Unknown(p) if p == policy));
            assert_eq!(ran(&router, &log, &e).await, [name]);
        }
        // The policy never applies to an event that has a route.
        let router = router.unknown(UnknownEvents::DeadLetter);
        let push = event("github", Some("push"), "{}");
        assert!(matches!(router.route(&push), Route::Handler(_)));
        assert_eq!(ran(&router, &log, &push).await, ["push"]);
        assert_eq!(UnknownEvents::DeadLetter.to_string(), "dead_letter");
    }

    #[derive(Deserialize)]
    struct IssueEvent {
        action: String,
        issue: Issue,
    }

    #[derive(Deserialize)]
    struct Issue {
        number: u64,
    }

    #[tokio::test]
    async fn typed_handler_gets_the_payload_and_the_event() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let router = EventRouter::new().on(
            providers::GITHUB,
            "issues.opened",
            typed(move |payload: IssueEvent, event: Event| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push((
                        payload.action,
                        payload.issue.number,
                        event.delivery_id.clone(),
                        event.header("x-github-delivery").map(str::to_owned),
                    ));
                    Ok(())
                }
            }),
        );
        let e = event("github", Some("issues"), r#"{"action":"opened","issue":{"number":42}}"#);
        assert!(matches!(router.dispatch(&e).await, Dispatch::Handled(_)));
        assert_eq!(*seen.lock().unwrap(), [("opened".to_owned(), 42, "d-1".to_owned(), Some("d-1".to_owned()))]);
    }

    #[tokio::test]
    async fn every_handler_returns_its_effects_with_its_one_call() {
        #[derive(Deserialize)]
        struct Opened {
            issue: Issue,
        }
        let record = typed(|payload: Opened, event: Event| async move {
            Ok(Effects::new().execute(
                "INSERT INTO issues (number, delivery) VALUES ($1, $2)",
                [i64::try_from(payload.issue.number).unwrap().into(), event.delivery_id.clone().into()],
            ))
        });
        let e = event("github", Some("issues"), r#"{"action":"opened","issue":{"number":42}}"#);
        // One call, and the effects are its output: nothing can run them apart from it.
        let effects = record.handle(&e).await.unwrap();
        assert_eq!(effects.statements()[0].params(), &[42i64.into(), "d-1".into()]);
        // A plain closure returning Effects is a handler too.
        let plain = |_event: Event| async move { Ok(Effects::new().execute("DELETE FROM t", [])) };
        assert_eq!(plain.handle(&e).await.unwrap().len(), 1);
        // Through a router, and through an Arc, they come back with the dispatch.
        let router = EventRouter::new().on(providers::GITHUB, "issues.opened", Arc::new(record));
        let Dispatch::Handled(effects) = router.dispatch(&e).await else { panic!("not handled") };
        assert_eq!(effects.len(), 1);
        // A handler returning () asks for none.
        let unit = typed(|_payload: Opened, _event: Event| async move { Ok(()) });
        assert!(unit.handle(&e).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn typed_handler_with_a_wrong_payload_is_a_permanent_error() {
        let called = Arc::new(Mutex::new(false));
        let flag = called.clone();
        let router = EventRouter::new().on(
            providers::GITHUB,
            "issues.*",
            typed(move |_payload: IssueEvent, _event: Event| {
                let flag = flag.clone();
                async move {
                    *flag.lock().unwrap() = true;
                    Ok(())
                }
            }),
        );
        for body in [
            r#"{"action":"opened"}"#,
            r#"{"action":"opened","issue":{"number":"seven"}}"#,
            r#"{"action":"opened","issue":{"number":1}"#,
        ] {
            let e = event("github", Some("issues"), body);
            match router.dispatch(&e).await {
                Dispatch::Failed(err) => {
                    assert!(err.is_permanent(), "{body}");
                    assert!(!err.is_retryable());
                    assert!(err.to_string().contains("IssueEvent"), "{err}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(!*called.lock().unwrap());
    }

    #[tokio::test]
    async fn closures_are_handlers_and_their_errors_come_back() {
        let router = EventRouter::new()
            .on(providers::GITHUB, "ping", |event: Event| async move {
                assert_eq!(event.event_type.as_deref(), Some("ping"));
                Ok(())
            })
            .on(
                providers::GITHUB,
                "push",
                handler_fn(|event| async move {
                    let n: u32 = std::str::from_utf8(&event.body)?.parse()?;
                    Err::<(), _>(HandlerError::retry(format!("push {n} not yet")))
                }),
            )
            .on(
                providers::GITHUB,
                "release",
                handler_fn(|event| async move {
                    event.json::<u8>().map_err(HandlerError::permanent)?;
                    Ok(())
                }),
            );
        let ping = event("github", Some("ping"), "{}");
        assert!(matches!(router.dispatch(&ping).await, Dispatch::Handled(_)));

        let push = event("github", Some("push"), "7");
        match router.dispatch(&push).await {
            Dispatch::Failed(e) => {
                assert!(e.is_retryable());
                assert_eq!(e.to_string(), "push 7 not yet");
            }
            other => panic!("{other:?}"),
        }
        // `?` on a std error: retryable, with the error kept as its source.
        let bad = event("github", Some("push"), "x");
        match router.dispatch(&bad).await {
            Dispatch::Failed(e) => {
                assert!(e.is_retryable());
                assert!(e.source().is_some_and(|s| s.is::<std::num::ParseIntError>()));
            }
            other => panic!("{other:?}"),
        }
        let release = event("github", Some("release"), "{}");
        assert!(matches!(router.dispatch(&release).await, Dispatch::Failed(e) if e.is_permanent()));
    }

    #[tokio::test]
    async fn shared_handlers_and_custom_impls_work() {
        struct Named(&'static str, Log);

        #[async_trait]
        impl Handler for Named {
            async fn handle(&self, _event: &Event) -> Result<Effects, HandlerError> {
                self.1.lock().unwrap().push(self.0);
                Ok(Effects::new())
            }
        }

        let log = log();
        let shared: Arc<dyn Handler> = Arc::new(Named("shared", log.clone()));
        let router = EventRouter::new()
            .on(providers::GITHUB, "x", shared.clone())
            .on(providers::STRIPE, "x", shared)
            .on(providers::SLACK, "x", Named("own", log.clone()));
        for (provider, name) in [("github", "shared"), ("stripe", "shared"), ("slack", "own")] {
            let e = event(provider, Some("x"), "{}");
            assert_eq!(ran(&router, &log, &e).await, [name]);
        }
    }

    #[tokio::test]
    async fn provider_names_compare_case_insensitively_event_types_exactly() {
        let log = log();
        let router = EventRouter::new().on(providers::GITHUB, "issues.opened", rec(&log, "opened")).on(
            providers::GITHUB,
            "Push",
            rec(&log, "push"),
        );
        for provider in ["github", "GITHUB", "GitHub"] {
            let e = event(provider, Some("issues"), OPENED);
            assert_eq!(ran(&router, &log, &e).await, ["opened"], "{provider}");
            let e = event(provider, Some("Push"), "{}");
            assert_eq!(ran(&router, &log, &e).await, ["push"], "{provider}");
            let e = event(provider, Some("push"), "{}");
            assert_eq!(ran(&router, &log, &e).await, ["unknown:ignore"], "{provider}");
        }
        let e = event("github", Some("Issues"), OPENED);
        assert_eq!(ran(&router, &log, &e).await, ["unknown:ignore"]);
        let e = event("github", Some("issues"), r#"{"action":"Opened"}"#);
        assert_eq!(ran(&router, &log, &e).await, ["unknown:ignore"]);
    }

    #[test]
    fn the_body_is_read_only_for_types_whose_action_can_matter() {
        let mut routes = ProviderRoutes::new("x");
        let h: Arc<dyn Handler> = Arc::new(handler_fn(|_event| async move { Ok(()) }));
        for pattern in ["payment_intent.*", "charge.succeeded", "issues.opened", "a.b.c", "p.q.*", "ping", "*"] {
            routes.add(pattern, h.clone()).unwrap();
        }
        for t in ["payment_intent", "charge", "issues", "a", "a.b", "p", "p.q"] {
            assert!(routes.needs_action(t), "{t}");
        }
        for t in ["payment_intent.succeeded", "charge.succeeded", "ping", "push", "a.b.c", "p.q.r", ""] {
            assert!(!routes.needs_action(t), "{t}");
        }
        // A router with no dotted pattern never reads a body.
        let mut plain = ProviderRoutes::new("y");
        plain.add("issues", h.clone()).unwrap();
        plain.add("*", h).unwrap();
        assert!(plain.action_types.is_empty());
    }

    #[test]
    fn malformed_and_duplicate_patterns_are_refused() {
        let h: Arc<dyn Handler> = Arc::new(handler_fn(|_event| async move { Ok(()) }));
        let mut routes = ProviderRoutes::new("x");
        for pattern in ["", ".*", "*.*", "foo*", "*.foo", "a.*.b", "a.b*", "**"] {
            assert!(routes.add(pattern, h.clone()).is_err(), "{pattern:?}");
        }
        for pattern in ["*", "a", "a.b", "a.*", "a.b.*"] {
            routes.add(pattern, h.clone()).unwrap();
            assert!(routes.add(pattern, h.clone()).is_err(), "second {pattern:?}");
        }
    }

    #[test]
    #[should_panic(expected = "already registered")]
    fn registering_a_pattern_twice_panics() {
        let _ = EventRouter::new().on(providers::GITHUB, "push", handler_fn(|_event| async move { Ok(()) })).on(
            providers::GITHUB,
            "push",
            handler_fn(|_event| async move { Ok(()) }),
        );
    }

    #[test]
    #[should_panic(expected = "`*` may only be")]
    fn a_star_inside_a_pattern_panics() {
        let _ = EventRouter::new().on(providers::STRIPE, "payment_*", handler_fn(|_event| async move { Ok(()) }));
    }

    #[test]
    #[should_panic(expected = "catch-all handler is already registered")]
    fn a_second_catch_all_panics() {
        let _ = EventRouter::new()
            .catch_all(handler_fn(|_event| async move { Ok(()) }))
            .catch_all(handler_fn(|_event| async move { Ok(()) }));
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_retryable_failure() {
        let router = EventRouter::new().on_any(
            providers::GITHUB,
            handler_fn(|event| async move {
                if event.attempts > 0 {
                    panic!("boom");
                }
                Ok(())
            }),
        );
        match router.dispatch(&event("github", Some("push"), "{}")).await {
            Dispatch::Failed(e) => {
                assert!(e.is_retryable());
                assert_eq!(e.to_string(), "handler panicked: boom");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn handler_errors_say_what_failed_and_whether_to_retry() {
        let e = HandlerError::retry("db down");
        assert!(e.is_retryable() && !e.is_permanent());
        assert!(e.source().is_none());
        assert_eq!(e.to_string(), "db down");

        let e = HandlerError::permanent(format_args!("version {}", 3));
        assert!(e.is_permanent() && !e.is_retryable());
        assert_eq!(e.to_string(), "version 3");

        // Converted errors are retryable and print their causes.
        let inner = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let outer = std::io::Error::other(Wrapper(inner));
        let e = HandlerError::from(outer);
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "calling the API: read timed out");
        assert!(e.source().is_some_and(|s| s.is::<std::io::Error>()));
        assert!(format!("{e:?}").contains("Retry"));

        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("calling the API")
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
    }

    #[test]
    fn routers_are_cheap_to_share_and_dispatch_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        fn assert_shared<T: Send + Sync + Clone + 'static>() {}
        assert_shared::<EventRouter>();

        let router = EventRouter::new().on(providers::GITHUB, "push", handler_fn(|_event| async move { Ok(()) }));
        let copy = router.clone();
        assert!(Arc::ptr_eq(&router.inner, &copy.inner));
        let e = event("github", Some("push"), "{}");
        assert_send(&router.dispatch(&e));

        // Adding a route to a clone leaves the original alone.
        let more = copy.on(providers::GITHUB, "ping", handler_fn(|_event| async move { Ok(()) }));
        assert!(matches!(router.route(&event("github", Some("ping"), "{}")), Route::Unknown(_)));
        assert!(matches!(more.route(&event("github", Some("ping"), "{}")), Route::Handler(_)));
        let debug = format!("{more:?}");
        assert!(debug.contains(r#"("github", ["ping", "push"])"#), "{debug}");
    }
}
