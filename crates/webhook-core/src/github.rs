//! GitHub's webhook events, typed (feature `github`): [`GithubEvent`] is built from the
//! `X-GitHub-Event` header and the body, so a handler matches on the event instead of
//! reading JSON by hand. `push`, `pull_request`, `issues` and `ping` have their own types
//! (with the fields most handlers read; the rest of the body is still in the delivery's raw
//! bytes); every other event is [`GithubEvent::Other`] with its name and its JSON.
//!
//! ```
//! use webhook_core::github::GithubEvent;
//!
//! let body = br#"{"action":"opened","issue":{"id":1,"number":7,"title":"Crash on start","state":"open",
//!     "html_url":"https://github.com/o/r/issues/7","user":{"login":"octocat","id":1},"labels":[]},
//!     "repository":{"id":2,"name":"r","full_name":"o/r","private":false}}"#;
//! match GithubEvent::parse("issues", body)? {
//!     GithubEvent::Issues(e) if e.action == "opened" => assert_eq!(e.issue.title, "Crash on start"),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! With an adapter's `github` feature, `VerifiedWebhook<GithubEvent>` is the extractor.

use serde::Deserialize;

use crate::payload::FromWebhook;
use crate::Verified;

/// A GitHub webhook event, by its `X-GitHub-Event` name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GithubEvent {
    /// `ping`: sent when a webhook is created.
    Ping(PingEvent),
    /// `push`: commits or tags pushed.
    Push(Box<PushEvent>),
    /// `pull_request`: a pull request opened, closed, synchronized, labeled...
    PullRequest(Box<PullRequestEvent>),
    /// `issues`: an issue opened, edited, closed, labeled...
    Issues(Box<IssuesEvent>),
    /// Any other event: its name (empty without the header) and its body.
    Other {
        /// The `X-GitHub-Event` value.
        event: String,
        /// The body.
        payload: serde_json::Value,
    },
}

impl GithubEvent {
    /// The event for `X-GitHub-Event: event` and `body`.
    pub fn parse(event: &str, body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match event {
            "ping" => Self::Ping(serde_json::from_slice(body)?),
            "push" => Self::Push(serde_json::from_slice(body)?),
            "pull_request" => Self::PullRequest(serde_json::from_slice(body)?),
            "issues" => Self::Issues(serde_json::from_slice(body)?),
            _ => Self::Other { event: event.to_owned(), payload: serde_json::from_slice(body)? },
        })
    }

    /// The `X-GitHub-Event` name.
    pub fn name(&self) -> &str {
        match self {
            Self::Ping(_) => "ping",
            Self::Push(_) => "push",
            Self::PullRequest(_) => "pull_request",
            Self::Issues(_) => "issues",
            Self::Other { event, .. } => event,
        }
    }
}

impl FromWebhook for GithubEvent {
    type Error = serde_json::Error;

    fn from_webhook(delivery: &Verified) -> Result<Self, Self::Error> {
        Self::parse(delivery.event_type().unwrap_or(""), delivery.body())
    }
}

/// A GitHub account: a user, an organization or a bot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// Its login.
    pub login: String,
    /// Its id.
    pub id: u64,
    /// `User`, `Organization` or `Bot`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Repository {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Whether it is private.
    #[serde(default)]
    pub private: bool,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Its default branch.
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PingEvent {
    /// A random bit of GitHub zen.
    pub zen: String,
    /// The webhook's id.
    pub hook_id: u64,
    /// The repository, for a repository webhook.
    #[serde(default)]
    pub repository: Option<Repository>,
    /// Who created the webhook.
    #[serde(default)]
    pub sender: Option<Account>,
}

/// A commit's author or committer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CommitAuthor {
    /// The name.
    pub name: String,
    /// The e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// The GitHub login, when known.
    #[serde(default)]
    pub username: Option<String>,
}

/// A commit in a push.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Commit {
    /// Its SHA.
    pub id: String,
    /// Its message.
    pub message: String,
    /// Its time (ISO 8601).
    pub timestamp: String,
    /// Its author.
    pub author: CommitAuthor,
    /// Files added.
    #[serde(default)]
    pub added: Vec<String>,
    /// Files removed.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Files modified.
    #[serde(default)]
    pub modified: Vec<String>,
}

/// Who pushed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Pusher {
    /// The name.
    pub name: String,
    /// The e-mail address.
    #[serde(default)]
    pub email: Option<String>,
}

/// `push`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PushEvent {
    /// The full ref pushed (`refs/heads/main`, `refs/tags/v1`).
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The SHA before the push (zeros for a new ref).
    pub before: String,
    /// The SHA after the push (zeros for a deleted ref).
    pub after: String,
    /// Whether the push created the ref.
    #[serde(default)]
    pub created: bool,
    /// Whether the push deleted the ref.
    #[serde(default)]
    pub deleted: bool,
    /// Whether the push was forced.
    #[serde(default)]
    pub forced: bool,
    /// The commits pushed (at most 20; the rest only through the API).
    #[serde(default)]
    pub commits: Vec<Commit>,
    /// The commit the ref points to now.
    #[serde(default)]
    pub head_commit: Option<Commit>,
    /// The repository.
    pub repository: Repository,
    /// Who pushed.
    pub pusher: Pusher,
    /// Who triggered the event.
    #[serde(default)]
    pub sender: Option<Account>,
}

/// A label.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Label {
    /// Its name.
    pub name: String,
}

/// A branch end of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Branch {
    /// The branch name.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit SHA.
    pub sha: String,
    /// `owner:branch`.
    #[serde(default)]
    pub label: Option<String>,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PullRequest {
    /// Its id.
    pub id: u64,
    /// Its number in the repository.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Its description.
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: bool,
    /// Whether it was merged.
    #[serde(default)]
    pub merged: Option<bool>,
    /// Its page.
    pub html_url: String,
    /// Who opened it.
    pub user: Account,
    /// The branch with the changes.
    pub head: Branch,
    /// The branch it goes into.
    pub base: Branch,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// `pull_request`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PullRequestEvent {
    /// `opened`, `closed`, `synchronize`, `labeled`...
    pub action: String,
    /// The pull request's number.
    pub number: u64,
    /// The pull request.
    pub pull_request: PullRequest,
    /// The repository.
    pub repository: Repository,
    /// Who triggered the event.
    #[serde(default)]
    pub sender: Option<Account>,
}

/// An issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Issue {
    /// Its id.
    pub id: u64,
    /// Its number in the repository.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Its text.
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Its page.
    pub html_url: String,
    /// Who opened it.
    pub user: Account,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// `issues`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct IssuesEvent {
    /// `opened`, `edited`, `closed`, `labeled`...
    pub action: String,
    /// The issue.
    pub issue: Issue,
    /// The repository.
    pub repository: Repository,
    /// Who triggered the event.
    #[serde(default)]
    pub sender: Option<Account>,
}
