//! The console's pages, rendered on the server with `maud`: every value from a delivery
//! (headers, body, ids, errors) goes through maud's escaping; the only markup not written
//! in `html!` is the chart's SVG, built from numbers alone.

use std::time::SystemTime;

use maud::{html, Markup, PreEscaped, DOCTYPE};
use webhook_pipeline::{
    Attempt, AuditCount, AuditEntry, Event, EventId, Filter, Status, StatusCounts, MAX_ATTEMPTS_KEPT,
};

use crate::chart;
use crate::console::Ctx;
use crate::http::param;

/// The most bytes of a body a page shows (pretty and raw each); the rest is cut, said so.
const SHOWN_BODY: usize = 256 * 1024;

/// The page's style: small, inline, no external asset.
const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:0 24px;display:flex;align-items:center;gap:24px;height:48px}
header a{color:#fff;text-decoration:none;opacity:.85}header a:hover,header a.on{opacity:1;text-decoration:underline}
header .brand{font-weight:600;opacity:1;margin-right:8px}
header form{margin-left:auto}
main{max-width:1200px;margin:0 auto;padding:20px 24px}
h1{font-size:20px;margin:0 0 16px}h2{font-size:16px;margin:24px 0 8px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px;margin-bottom:16px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa;font-weight:600;font-size:12px;text-transform:uppercase;color:#57606a}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.t{white-space:nowrap}
code,pre{font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:12px;overflow:auto;max-height:480px;white-space:pre-wrap;word-break:break-all}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end}
label{display:flex;flex-direction:column;font-size:12px;color:#57606a;gap:2px}
input,select{font:inherit;padding:5px 8px;border:1px solid #d0d7de;border-radius:6px;background:#fff}
button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #1f883d;background:#1f883d;color:#fff;cursor:pointer}
button.quiet{background:#f6f8fa;color:#24292f;border-color:#d0d7de}
button.warn{background:#bf8700;border-color:#bf8700}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.s-done{background:#dafbe1;color:#1a7f37}.s-pending,.s-processing{background:#ddf4ff;color:#0969da}
.s-failed{background:#fff8c5;color:#9a6700}.s-dead{background:#ffebe9;color:#cf222e}
.notice{background:#ddf4ff;border:1px solid #54aeff;border-radius:6px;padding:8px 12px;margin-bottom:16px}
.error{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;padding:8px 12px;margin-bottom:16px}
.muted{color:#57606a}.pager{margin-top:12px;display:flex;gap:16px}
dl{display:grid;grid-template-columns:160px 1fr;gap:4px 16px;margin:0}dt{color:#57606a}dd{margin:0}
.login{max-width:380px;margin:80px auto}.login input{width:100%}
.legend span{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 12px}
"#;

fn page(ctx: Option<&Ctx<'_>>, base: &str, title: &str, active: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · webhook console" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href={ (base) "/" } { "webhook console" }
                    @if let Some(ctx) = ctx {
                        a.on[active == "overview"] href={ (base) "/" } { "Overview" }
                        a.on[active == "deliveries"] href={ (base) "/deliveries" } { "Deliveries" }
                        a.on[active == "dead"] href={ (base) "/dead" } { "Dead letters" }
                        form method="post" action={ (base) "/logout" } {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            button.quiet type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The login form, answered with 401 to every request without the token.
pub(crate) fn login(base: &str, error: Option<&str>) -> String {
    let body = html! {
        div.login.card {
            h1 { "Sign in" }
            p.muted { "Enter the admin token (" code { "WEBHOOK_ADMIN_TOKEN" } ")." }
            @if let Some(error) = error { div.error { (error) } }
            form method="post" action={ (base) "/login" } {
                label { "Admin token" input id="token" type="password" name="token" autocomplete="current-password" required; }
                p { button id="login" type="submit" { "Sign in" } }
            }
        }
    };
    page(None, base, "Sign in", "", body)
}

/// A time as `2026-12-03T09:00:00Z`.
pub(crate) fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn badge(status: Status) -> Markup {
    html! { span class={ "badge s-" (status.as_str()) } { (status.as_str()) } }
}

/// A listing's filters, as typed (kept to show them again) and as read.
#[derive(Debug, Default)]
pub(crate) struct ListForm {
    pub(crate) provider: Option<String>,
    pub(crate) event_type: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) delivery_id: Option<String>,
    pub(crate) since: Option<(String, SystemTime)>,
    pub(crate) until: Option<(String, SystemTime)>,
    pub(crate) before: Option<EventId>,
    /// What was wrong with the filters, if anything.
    pub(crate) error: Option<String>,
}

/// The longest filter value read.
const MAX_FIELD: usize = 256;

impl ListForm {
    pub(crate) fn read(pairs: &[(String, String)]) -> Self {
        let mut form = Self::default();
        let mut error = |e: String| {
            if form.error.is_none() {
                form.error = Some(e);
            }
        };
        let text = |name: &str, error: &mut dyn FnMut(String)| {
            let v = param(pairs, name)?;
            if v.len() > MAX_FIELD {
                error(format!("{name} is longer than {MAX_FIELD} characters"));
                return None;
            }
            Some(v.to_owned())
        };
        let provider = text("provider", &mut error);
        let event_type = text("event_type", &mut error);
        let delivery_id = text("delivery_id", &mut error);
        let status = match param(pairs, "status") {
            Some(s) => Status::parse(s).or_else(|| {
                error("status must be pending, processing, done, failed or dead".to_owned());
                None
            }),
            None => None,
        };
        let mut when = |name: &str| {
            let v = param(pairs, name)?;
            match parse_time(v) {
                Some(t) => Some((v.to_owned(), t)),
                None => {
                    error(format!("{name} is not a time like 2026-12-03T09:00 (UTC)"));
                    None
                }
            }
        };
        let since = when("since");
        let until = when("until");
        let before = match param(pairs, "before") {
            Some(b) => b.parse().ok().or_else(|| {
                error("before must be an event id".to_owned());
                None
            }),
            None => None,
        };
        Self { provider, event_type, status, delivery_id, since, until, before, ..form }
    }

    /// The store filter (without the page cursor).
    pub(crate) fn filter(&self) -> Filter {
        Filter {
            provider: self.provider.clone(),
            event_type: self.event_type.clone(),
            status: self.status,
            delivery_id: self.delivery_id.clone(),
            since: self.since.as_ref().map(|(_, t)| *t),
            until: self.until.as_ref().map(|(_, t)| *t),
            ..Filter::default()
        }
    }

    /// The filters as a query string (without the cursor), for the pager's links.
    fn query(&self, dead: bool) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        let fields = [
            ("provider", self.provider.as_deref()),
            ("event_type", self.event_type.as_deref()),
            ("status", if dead { None } else { self.status.map(Status::as_str) }),
            ("delivery_id", self.delivery_id.as_deref()),
            ("since", self.since.as_ref().map(|(s, _)| s.as_str())),
            ("until", self.until.as_ref().map(|(s, _)| s.as_str())),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// A time typed in a filter: `2026-12-03T09:00` (what a `datetime-local` input sends),
/// with seconds or a `Z`, read as UTC.
fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.trim().trim_end_matches('Z');
    let full = if text.len() == 16 { format!("{text}:00") } else { text.to_owned() };
    humantime::parse_rfc3339_weak(&full).ok()
}

/// A page of a listing.
pub(crate) struct Listing<'a> {
    pub(crate) form: &'a ListForm,
    pub(crate) events: &'a [Event],
    /// The last id of this page when there is a next one.
    pub(crate) next: Option<EventId>,
    /// The dead-letter page (replay forms, no status filter).
    pub(crate) dead: bool,
    /// How many events a replay just re-queued.
    pub(crate) replayed: Option<u64>,
}

impl<'a> Listing<'a> {
    pub(crate) fn empty(form: &'a ListForm, dead: bool) -> Self {
        Self { form, events: &[], next: None, dead, replayed: None }
    }
}

/// The deliveries page, or the dead letters page.
pub(crate) fn deliveries(ctx: &Ctx<'_>, l: &Listing<'_>) -> String {
    let base = ctx.base;
    let f = l.form;
    let here = if l.dead { "dead" } else { "deliveries" };
    let value = |o: &Option<String>| o.clone().unwrap_or_default();
    let time_value = |o: &Option<(String, SystemTime)>| o.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
    let query = f.query(l.dead);
    let body = html! {
        h1 { @if l.dead { "Dead letters" } @else { "Deliveries" } }
        @if let Some(n) = l.replayed { div.notice id="notice" { "Replayed " (n) " event(s): they are pending again." } }
        @if let Some(e) = &f.error { div.error { (e) } }
        div.card {
            form.filters id="filters" method="get" action={ (base) "/" (here) } {
                label { "Provider" input name="provider" value=(value(&f.provider)) size="12"; }
                label { "Event type" input name="event_type" value=(value(&f.event_type)) size="16"; }
                @if !l.dead {
                    label { "Status" select name="status" {
                        option value="" selected[f.status.is_none()] { "any" }
                        @for s in [Status::Pending, Status::Processing, Status::Done, Status::Failed, Status::Dead] {
                            option value=(s.as_str()) selected[f.status == Some(s)] { (s.as_str()) }
                        }
                    } }
                }
                label { "Delivery id" input name="delivery_id" value=(value(&f.delivery_id)) size="18"; }
                label { "Received from (UTC)" input type="datetime-local" name="since" value=(time_value(&f.since)); }
                label { "to (UTC)" input type="datetime-local" name="until" value=(time_value(&f.until)); }
                button id="apply" type="submit" { "Filter" }
                a href={ (base) "/" (here) } { "Clear" }
            }
        }
        @if l.dead && f.error.is_none() {
            div.card {
                form method="post" action={ (base) "/dead/replay" } {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    @for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                        input type="hidden" name=(k) value=(v);
                    }
                    button.warn id="replay-all" type="submit" { "Replay every dead letter matching these filters" }
                    span.muted { " Each goes back to pending with its attempts reset." }
                }
            }
        }
        table id="events" {
            thead { tr { th { "Id" } th { "Received (UTC)" } th { "Provider" } th { "Event type" } th { "Delivery id" }
                th { "Status" } th { "Attempts" } th { "Last error" } @if l.dead { th {} } } }
            tbody {
                @for e in l.events {
                    tr {
                        td { a href={ (base) "/deliveries/" (e.id) } { (e.id) } }
                        td.t { (time(e.received_at)) }
                        td { (e.provider) }
                        td { (e.event_type.as_deref().unwrap_or("")) }
                        td { code { (e.delivery_id) } }
                        td { (badge(e.status)) }
                        td.num { (e.attempts) }
                        td { (e.last_error.as_deref().unwrap_or("")) }
                        @if l.dead {
                            td { form method="post" action={ (base) "/deliveries/" (e.id) "/replay" } {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                button.quiet type="submit" { "Replay" }
                            } }
                        }
                    }
                }
                @if l.events.is_empty() { tr { td colspan="9" .muted { "No event matches." } } }
            }
        }
        div.pager {
            @if f.before.is_some() { a href={ (base) "/" (here) "?" (query) } { "« Newest" } }
            @if let Some(next) = l.next {
                a id="next" href={ (base) "/" (here) "?" (query) @if !query.is_empty() { "&" } "before=" (next) } { "Older »" }
            }
        }
    };
    page(Some(ctx), base, if l.dead { "Dead letters" } else { "Deliveries" }, here, body)
}

/// A body for people: pretty-printed JSON, or the text as it came.
fn pretty(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

fn cut(text: &str) -> (&str, bool) {
    if text.len() <= SHOWN_BODY {
        return (text, false);
    }
    let mut end = SHOWN_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// What the delivery page shows: the event, the requests that delivered it and its failed
/// attempts (`None`: the store keeps no such record), and a replay just made.
pub(crate) struct Shown<'a> {
    pub(crate) event: &'a Event,
    pub(crate) audit: Option<&'a [AuditEntry]>,
    pub(crate) attempts: Option<&'a [Attempt]>,
    pub(crate) replayed: Option<u64>,
}

/// A duration as people read it: `850 ms`, `12.4 s`, `3 min 20 s`.
fn took(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Bytes as people read them: `512 B`, `3.2 KiB`, `1.5 MiB`, `2.0 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn attempts_table(attempts: Option<&[Attempt]>) -> Markup {
    html! {
        @match attempts {
            None => p.muted { "This store keeps no attempt history." },
            Some(list) => table id="attempts" {
                thead { tr { th { "#" } th { "Started (UTC)" } th { "Took" } th { "Outcome" } th { "Worker" } th { "Error" } } }
                tbody {
                    @for a in list {
                        tr {
                            td.num { (a.number) }
                            td.t { (time(a.started_at)) }
                            td.num { (took(a.duration())) }
                            td { (a.outcome.as_str()) }
                            td { code { (a.worker) } }
                            td { code { (a.error) } }
                        }
                    }
                    @if list.is_empty() { tr { td colspan="6" .muted { "No failed attempt." } } }
                }
            },
        }
    }
}

/// One delivery.
pub(crate) fn delivery(ctx: &Ctx<'_>, shown: &Shown<'_>) -> String {
    let Shown { event: e, audit, attempts, replayed } = *shown;
    let base = ctx.base;
    let pretty = pretty(&e.body);
    let raw = String::from_utf8_lossy(&e.body);
    let (pretty_shown, pretty_cut) = cut(&pretty);
    let (raw_shown, raw_cut) = cut(&raw);
    let body = html! {
        h1 { "Delivery " (e.id) " " (badge(e.status)) }
        @if let Some(n) = replayed {
            div.notice id="notice" { @if n == 0 { "Nothing replayed: the event is being processed." } @else { "Replayed: the event is pending again." } }
        }
        div.card {
            dl {
                dt { "Provider" } dd id="provider" { (e.provider) }
                dt { "Delivery id" } dd { code { (e.delivery_id) } }
                dt { "Event type" } dd { (e.event_type.as_deref().unwrap_or("—")) }
                dt { "Routing key" } dd { (e.routing_key().unwrap_or_default()) }
                dt { "Received" } dd { (time(e.received_at)) }
                dt { "Status" } dd id="status" { (e.status.as_str()) }
                dt { "Attempts" } dd { (e.attempts) }
                dt { "Next attempt" } dd { @if matches!(e.status, Status::Pending | Status::Failed) { (time(e.next_attempt_at)) } @else { "—" } }
                dt { "Last error" } dd id="last-error" { @if let Some(err) = &e.last_error { code { (err) } } @else { "—" } }
            }
            @if e.status != Status::Processing {
                form method="post" action={ (base) "/deliveries/" (e.id) "/replay" } style="margin-top:12px" {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    button.warn id="replay" type="submit" { "Replay" }
                    span.muted { " Back to pending, attempts reset." }
                }
            }
        }
        h2 { "Failed attempts" }
        p.muted { "Each failed handler run, oldest first (the last " (MAX_ATTEMPTS_KEPT) " kept; numbering goes on across replays). A run that succeeded marks the event done." }
        (attempts_table(attempts))
        h2 { "Headers (as received and verified)" }
        table id="headers" {
            thead { tr { th { "Name" } th { "Value" } } }
            tbody {
                @for (k, v) in &e.headers { tr { td { code { (k) } } td { code { (v) } } } }
                @if e.headers.is_empty() { tr { td colspan="2" .muted { "None kept." } } }
            }
        }
        h2 { "Body (" (e.body.len()) " bytes)" }
        pre id="body" { (pretty_shown) }
        @if pretty_cut { p.muted { "Cut at " (SHOWN_BODY) " bytes." } }
        details {
            summary { "Raw body" }
            pre id="raw" { (raw_shown) }
            @if raw_cut { p.muted { "Cut at " (SHOWN_BODY) " bytes." } }
        }
        h2 { "Requests that delivered it (audit log)" }
        @match audit {
            None => p.muted { "This store keeps no audit log." },
            Some(entries) => table id="audit" {
                thead { tr { th { "Received (UTC)" } th { "Request id" } th { "Outcome" } th { "HTTP" } th { "Verified" } th { "Client" } th { "Error" } } }
                tbody {
                    @for a in entries {
                        tr {
                            td.t { (time(a.record.received_at)) }
                            td { code { (a.record.request_id) } }
                            td { (a.record.outcome) }
                            td.num { (a.record.status) }
                            td { @if a.record.signature_verified { "yes" } @else { "no" } }
                            td { (a.record.client_ip.as_deref().unwrap_or("")) }
                            td { (a.record.error.as_deref().unwrap_or("")) }
                        }
                    }
                    @if entries.is_empty() { tr { td colspan="7" .muted { "No audit record of this delivery." } } }
                }
            },
        }
    };
    page(Some(ctx), base, &format!("Delivery {}", e.id), "deliveries", body)
}

/// A delivery the store does not have.
pub(crate) fn missing(ctx: &Ctx<'_>, id: EventId) -> String {
    let body = html! { h1 { "No event " (id) } p { "It was never stored, or retention purged it." } };
    page(Some(ctx), ctx.base, "Not found", "deliveries", body)
}

/// The overview: the last hour by provider and outcome, and the chart per minute.
pub(crate) fn overview(
    ctx: &Ctx<'_>,
    counts: Option<&[AuditCount]>,
    depth: u64,
    stored: Option<&StatusCounts>,
) -> String {
    let base = ctx.base;
    let body = html! {
        h1 { "Overview" }
        div.card {
            dl {
                dt { "Waiting or in progress" } dd id="depth" { (depth) " event(s)" }
                @if let Some(stored) = stored {
                    @let dead = stored.get(Status::Dead);
                    dt { "Dead letters" } dd id="dead-count" {
                        a href={ (base) "/dead" } { (dead.events) " event(s)" } span.muted { " (" (bytes(dead.bytes)) ")" }
                    }
                }
                dt { "Now (UTC)" } dd { (time(ctx.now)) }
            }
            p { a href={ (base) "/dead" } { "Dead letters »" } }
        }
        @if let Some(stored) = stored {
            h2 { "Stored events by status" }
            table id="stored" {
                thead { tr { th { "Status" } th { "Events" } th { "Bodies" } } }
                tbody {
                    @for (status, c) in stored.iter() {
                        tr id={ "stored-" (status.as_str()) } {
                            td { (badge(status)) } td.num { (c.events) } td.num { (bytes(c.bytes)) }
                        }
                    }
                }
            }
        }
        @match counts {
            None => div.card { p.muted { "This store keeps no audit log: no request counts." } },
            Some(counts) => {
                div.card {
                    h2 style="margin-top:0" { "Requests per minute, last hour" }
                    p.legend.muted {
                        span style={ "background:" (chart::ACCEPTED) } {} "accepted"
                        span style={ "background:" (chart::REFUSED) } {} "refused"
                        span style={ "background:" (chart::FAILED) } {} "failed"
                    }
                    (PreEscaped(chart::svg(counts, ctx.now)))
                }
                h2 { "Requests per provider and outcome, last hour" }
                (totals(counts))
            }
        }
    };
    page(Some(ctx), base, "Overview", "overview", body)
}

fn totals(counts: &[AuditCount]) -> Markup {
    let mut rows: std::collections::BTreeMap<(&str, &str), u64> = std::collections::BTreeMap::new();
    for c in counts {
        *rows.entry((c.provider.as_str(), c.outcome.as_str())).or_default() += c.count;
    }
    html! {
        table id="totals" {
            thead { tr { th { "Provider" } th { "Outcome" } th { "Kind" } th { "Requests" } } }
            tbody {
                @for ((provider, outcome), n) in &rows {
                    tr { td { (provider) } td { (outcome) } td { (chart::Kind::of(outcome).name()) } td.num { (n) } }
                }
                @if rows.is_empty() { tr { td colspan="4" .muted { "No request in the last hour." } } }
            }
        }
    }
}
