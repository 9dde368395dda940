//! What the event store keeps: a verified delivery, its processing status and history.

use std::fmt;
use std::time::SystemTime;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "nats", feature = "rabbitmq"))]
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use webhook_core::sink::Delivery;
use webhook_core::Headers;
use webhook_core::Verified;

/// An event's id in its store.
pub type EventId = i64;

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Stored, waiting for a worker.
    Pending,
    /// Leased by a worker until its lease expires.
    Processing,
    /// Handled.
    Done,
    /// The last attempt failed; waiting for its next attempt time.
    Failed,
    /// Every attempt failed: the dead letter. Only a replay brings it back.
    Dead,
}

impl Status {
    /// The status as stored (`pending`, `processing`, `done`, `failed`, `dead`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// Reads a stored status.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "processing" => Self::Processing,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified delivery on its way into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The provider's name.
    pub provider: String,
    /// The deduplication key within the provider (the delivery id, or `sha256:<body hash>`
    /// for providers that send none): unique per provider in every store.
    pub delivery_id: String,
    /// The event type, if the provider sends one.
    pub event_type: Option<String>,
    /// The request headers worth keeping (the provider's id, type and timestamp headers,
    /// `Content-Type`, `User-Agent`); never a signature or a token.
    pub headers: Vec<(String, String)>,
    /// The raw body, byte for byte.
    pub body: Bytes,
    /// When the delivery was received.
    pub received_at: SystemTime,
}

/// Headers always kept beside the provider's own.
const KEPT: &[&str] = &["Content-Type", "User-Agent"];

/// The names of the headers kept for each built-in provider ([`KEPT`], then its id,
/// event-type and timestamp headers), found once: looking the provider up and listing its
/// headers for every delivery allocated and scanned the provider table each time.
fn kept_names(provider: &str) -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<(&'static str, Vec<&'static str>)>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        webhook_core::Provider::all()
            .iter()
            .map(|p| (p.name(), KEPT.iter().copied().chain(p.metadata_headers()).collect()))
            .collect()
    });
    names.iter().find(|(name, _)| name.eq_ignore_ascii_case(provider)).map_or(KEPT, |(_, kept)| kept.as_slice())
}

impl NewEvent {
    /// The event for a verified delivery, keeping the headers that matter: `Content-Type`,
    /// `User-Agent`, and the provider's id, event-type and timestamp headers.
    pub fn from_verified(verified: &Verified, headers: &dyn Headers, received_at: SystemTime) -> Self {
        Self::from_delivery(&Delivery::new(verified, headers, received_at))
    }

    /// The event for a delivery an endpoint hands its [`Sink`](webhook_core::sink::Sink).
    pub fn from_delivery(delivery: &Delivery<'_>) -> Self {
        let (verified, headers, received_at) = (delivery.verified(), delivery.headers(), delivery.received_at());
        let names = kept_names(verified.provider());
        let mut kept = Vec::with_capacity(names.len());
        for &name in names {
            headers.for_each_value(name, &mut |v| {
                if let Ok(text) = std::str::from_utf8(v) {
                    if text.len() <= 1024 && !kept.iter().any(|(k, _): &(String, String)| k.eq_ignore_ascii_case(name))
                    {
                        kept.push((name.to_owned(), text.to_owned()));
                    }
                }
            });
        }
        let delivery_id = delivery.delivery_id();
        Self {
            provider: verified.provider().to_owned(),
            delivery_id,
            event_type: verified.event_type().map(str::to_owned),
            headers: kept,
            body: verified.body().clone(),
            received_at,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its id in the store.
    pub id: EventId,
    /// The provider's name.
    pub provider: String,
    /// The deduplication key within the provider.
    pub delivery_id: String,
    /// The event type.
    pub event_type: Option<String>,
    /// The headers kept.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// When it was received.
    pub received_at: SystemTime,
    /// Where it is in its life.
    pub status: Status,
    /// How many times a worker has taken it.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it may next be taken.
    pub next_attempt_at: SystemTime,
}

impl Event {
    /// The most specific name [`EventRouter`](crate::EventRouter) routes this event by:
    /// `type.action` when the JSON body has a top-level `action` (GitHub's `issues` with
    /// `"action": "opened"` is `issues.opened`), else the type; `None` without a type. The
    /// router tries it first, then the type, then `prefix.*` patterns, the provider's `*`
    /// and the catch-all: register this key to handle exactly these events.
    ///
    /// ```
    /// # use webhook_pipeline::{Event, Status};
    /// # let event = |t: &str, body: &'static str| Event { id: 1, provider: "github".into(), delivery_id: "d".into(),
    /// #     event_type: Some(t.into()), headers: vec![], body: webhook_core::Bytes::from_static(body.as_bytes()),
    /// #     received_at: std::time::UNIX_EPOCH, status: Status::Pending, attempts: 0, last_error: None,
    /// #     next_attempt_at: std::time::UNIX_EPOCH };
    /// assert_eq!(event("issues", r#"{"action":"opened"}"#).routing_key().as_deref(), Some("issues.opened"));
    /// assert_eq!(event("push", "{}").routing_key().as_deref(), Some("push"));
    /// ```
    pub fn routing_key(&self) -> Option<String> {
        let t = self.event_type.as_deref()?;
        Some(match webhook_core::json::top_level_field(&self.body, "action") {
            Some(action) => format!("{t}.{action}"),
            None => t.to_owned(),
        })
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The value of a kept header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What an insert found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// Stored now, under this id.
    New(EventId),
    /// Stored now, under this id, and leased in the same transaction (status processing,
    /// first attempt counted): only [`EventStore::insert_leased`](crate::EventStore::insert_leased)
    /// answers this.
    Leased(EventId),
    /// Already stored (same provider and delivery id): nothing written.
    Duplicate,
}

impl Inserted {
    /// The id of an event stored now (leased or not); `None` for a duplicate.
    pub fn id(self) -> Option<EventId> {
        match self {
            Self::New(id) | Self::Leased(id) => Some(id),
            Self::Duplicate => None,
        }
    }
}

/// Which events to list or replay. Every field set must match.
///
/// `before` is the keyset cursor of [`EventStore::list`](crate::EventStore::list): the
/// next page of a listing is the same filter with `before` set to the last id of the page
/// (ids grow in insertion order, and a listing comes newest first), so no page reads or
/// skips the rows of the pages before it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::SystemTime;
/// use webhook_pipeline::{EventStore, Filter, MemoryStore, NewEvent};
///
/// let store = MemoryStore::new();
/// let new = |id: &str| NewEvent {
///     provider: "github".into(), delivery_id: id.into(), event_type: None,
///     headers: vec![], body: "{}".into(), received_at: SystemTime::now(),
/// };
/// store.insert(&[new("a"), new("b"), new("c")]).await.unwrap();
/// let page = store.list(&Filter::default(), 2).await.unwrap();
/// assert_eq!(page.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), ["c", "b"]);
/// let next = store.list(&Filter::default().before(page[1].id), 2).await.unwrap();
/// assert_eq!(next[0].delivery_id, "a");
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this event.
    pub id: Option<EventId>,
    /// Only this provider.
    pub provider: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this delivery id (the deduplication key within the provider).
    pub delivery_id: Option<String>,
    /// Only events received at or after this time.
    pub since: Option<SystemTime>,
    /// Only events received before this time.
    pub until: Option<SystemTime>,
    /// Only events with an id below this one: the keyset cursor of a listing's next page.
    pub before: Option<EventId>,
}

impl Filter {
    /// Every dead event.
    pub fn dead() -> Self {
        Self { status: Some(Status::Dead), ..Self::default() }
    }

    /// One event.
    pub fn id(id: EventId) -> Self {
        Self { id: Some(id), ..Self::default() }
    }

    /// Narrowed to a provider.
    #[must_use]
    pub fn provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_owned());
        self
    }

    /// Narrowed to an event type.
    #[must_use]
    pub fn event_type(mut self, event_type: &str) -> Self {
        self.event_type = Some(event_type.to_owned());
        self
    }

    /// Narrowed to a status.
    #[must_use]
    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// Narrowed to a delivery id.
    #[must_use]
    pub fn delivery_id(mut self, delivery_id: &str) -> Self {
        self.delivery_id = Some(delivery_id.to_owned());
        self
    }

    /// Narrowed to events received at or after `since`.
    #[must_use]
    pub fn since(mut self, since: SystemTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Narrowed to events received before `until`.
    #[must_use]
    pub fn until(mut self, until: SystemTime) -> Self {
        self.until = Some(until);
        self
    }

    /// Narrowed to events with an id below `id`: the page after the one that ended at `id`.
    #[must_use]
    pub fn before(mut self, id: EventId) -> Self {
        self.before = Some(id);
        self
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        self.id.is_none_or(|id| id == event.id)
            && self.provider.as_deref().is_none_or(|p| p == event.provider)
            && self.event_type.as_deref().is_none_or(|t| Some(t) == event.event_type.as_deref())
            && self.status.is_none_or(|s| s == event.status)
            && self.delivery_id.as_deref().is_none_or(|d| d == event.delivery_id)
            && self.since.is_none_or(|t| event.received_at >= t)
            && self.until.is_none_or(|t| event.received_at < t)
            && self.before.is_none_or(|id| event.id < id)
    }
}

/// Milliseconds since the epoch, as the SQL stores keep times (and the NATS headers carry
/// them).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "nats", feature = "rabbitmq"))]
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The inverse of [`to_ms`].
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "nats", feature = "rabbitmq"))]
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
