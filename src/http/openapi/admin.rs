//! The shapes of the internal listener's operator and pod endpoints as the description names them. The
//! bodies pods exchange are described as objects: they follow the service's own types
//! (`src/cluster/api.rs`) and change with it, no client outside the deployment sends them.

use serde::Serialize;
use utoipa::ToSchema;

/// `{"status": "UP"}`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `UP`.
    pub status: String,
}

/// Not ready: why.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotReady {
    /// `DOWN`.
    pub status: String,
    /// Taking requests.
    pub accepting: bool,
    /// The store takes writes.
    pub store_writable: bool,
}

/// The notification outbox.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outbox {
    /// `file` or `kafka`.
    pub sink: String,
    /// Records waiting.
    pub depth: u64,
    /// Age of the oldest, ms.
    pub oldest_age_ms: Option<i64>,
    /// Most delivery attempts of one record.
    pub max_attempts: u32,
    /// The newest delivery error.
    pub last_error: Option<String>,
}

/// A user's audit events.
#[derive(Serialize, ToSchema)]
pub struct AuditTrail {
    /// The user's uuid.
    pub user: String,
    /// Events skipped.
    pub offset: u64,
    /// `{"at", "actor"?, "kind", …}`, oldest first; no personal value, code, password or token.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
}

/// A user's live sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    /// The user's uuid.
    pub user: String,
    /// Oldest first.
    pub sessions: Vec<crate::service::sessions::SessionView>,
}

/// Sessions ended.
#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    /// The user's uuid.
    pub user: String,
    /// How many.
    pub ended: u64,
}

/// The keys of a pod.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysPicture {
    /// The keys used and loaded.
    pub keys: crate::service::keys::KeysStatus,
    /// The re-sealing.
    pub reseal: crate::service::keys::ResealStatus,
    /// With `count=true`: values here by sealing key id (0: plain JSON of an earlier build).
    #[schema(value_type = Option<Object>)]
    pub sealed_by_key: Option<serde_json::Value>,
    /// With `count=true`: how many of them this pod holds for another (a standby's copies).
    pub held_for_another_pod: Option<u64>,
}

/// A re-sealing started.
#[derive(Serialize, ToSchema)]
pub struct ResealStarted {
    /// Its progress.
    pub reseal: crate::service::keys::ResealStatus,
}

/// `{"users": [...]}`: egov-user's users as `admin import` reads them (snake_case records, exact keys).
#[derive(Serialize, ToSchema)]
pub struct ImportBatch {
    /// The users.
    #[schema(value_type = Vec<Object>)]
    pub users: Vec<serde_json::Value>,
}

/// One outcome per user: `new`, `updated`, `unchanged`, `idTaken`, `uuidTaken`, `userNameTaken`, `again`.
#[derive(Serialize, ToSchema)]
pub struct ImportOutcomes(pub Vec<String>);

/// `{"ids": [...]}`, at most 1000.
#[derive(Serialize, ToSchema)]
pub struct StoredIds {
    /// User ids.
    pub ids: Vec<i64>,
}

/// Users as stored (snake_case records, password hashes left out; between pods and for `import verify`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Vec<Object>)]
pub struct StoredUsers(pub Vec<serde_json::Value>);

/// A JSON body of the service's own types (between pods; see `src/cluster/api.rs`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct PodBody(pub serde_json::Value);
