//! The bodies the pods send each other (internal listener; ours, not DIGIT's: every pod of a deployment runs
//! one version): OTP checks and sends at the pod owning a code, partition sets and a pod's status.

use actors::domain::UserRecord;
use actors::domain::otp::Purpose;
use actors::store::{ImportConflict, Imported, MoveCounts};
use serde::{Deserialize, Serialize};

/// An OTP check asked of the pod owning the code's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtpCheck {
    /// Mobile number (identity).
    pub identity: String,
    /// Tenant (the state is used).
    pub tenant: String,
    /// The code presented.
    pub code: String,
    /// The purpose the code must have.
    pub purpose: Option<Purpose>,
    /// The client's address, when known (its share of wrong tries).
    #[serde(default)]
    pub source: Option<std::net::IpAddr>,
}

/// A send asked of the pod owning the session of the number it goes to (a password reset whose user's stored
/// number is not the one typed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtpSend {
    /// Purpose of the code.
    pub purpose: Purpose,
    /// Where it goes; `to.mobile` names the session.
    pub to: actors::otp_session::Recipients,
    /// The state tenant.
    pub tenant: String,
    /// The per-IP cap's refusal at the pod that took the request (what a pod of an earlier version reads).
    pub ip_refused: Option<i64>,
    /// The refusal of a cap outside the session (client IP, number prefix, state) at the pod that took the
    /// request.
    #[serde(default)]
    pub outside: Option<actors::domain::otp::Throttle>,
    /// The client's address, when known (its share of the number's SMS).
    #[serde(default)]
    pub source: Option<std::net::IpAddr>,
}

/// Its answer: what the session did, or the limit that refused it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OtpSent {
    /// The code went out, or was held.
    Sent(actors::otp_session::SendReceipt),
    /// A limit refused it.
    Refused(actors::domain::otp::Throttle),
}

impl From<Result<actors::otp_session::SendReceipt, actors::domain::otp::Throttle>> for OtpSent {
    fn from(sent: Result<actors::otp_session::SendReceipt, actors::domain::otp::Throttle>) -> Self {
        match sent {
            Ok(receipt) => Self::Sent(receipt),
            Err(t) => Self::Refused(t),
        }
    }
}

impl From<OtpSent> for Result<actors::otp_session::SendReceipt, actors::domain::otp::Throttle> {
    fn from(sent: OtpSent) -> Self {
        match sent {
            OtpSent::Sent(receipt) => Ok(receipt),
            OtpSent::Refused(t) => Err(t),
        }
    }
}

/// An audit event of a user the receiving pod serves (`/cluster/audit`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The user.
    pub user: uuid::Uuid,
    /// The event.
    pub event: actors::domain::audit::AuditEvent,
}

/// What a pod asks of the abuse counters another pod keeps (`/cluster/tally`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TallyAsk {
    /// What to do.
    pub op: TallyOp,
    /// With these keys, all counted at the pod asked.
    pub keys: Vec<actors::domain::tally::Counted>,
    /// A release: the moment the admission was counted at.
    #[serde(default)]
    pub at: i64,
}

/// What is done with the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TallyOp {
    /// Whether each would admit one more; counts nothing.
    Check,
    /// Count one under every key if each admits it, else none.
    Admit,
    /// Give back an admission.
    Release,
    /// Count one under every key (a failure happened), then check.
    Record,
}

/// Its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TallyAnswer {
    /// When the counting pod counted (a release names it).
    pub at: i64,
    /// The key that refused, if one did.
    pub refused: Option<actors::domain::tally::Refused>,
}

/// Its answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct OtpVerdict {
    /// The code matched and is now spent.
    pub valid: bool,
}

/// Users moved in from egov-user, to store with their ids and uuids (`/admin/import/users`, and the part
/// of a batch another pod's partitions hold, `/cluster/import/users`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportBatch {
    /// The users, as the import mapped them (password hashes as the source had them).
    pub users: Vec<UserRecord>,
}

/// What importing one user of an [`ImportBatch`] did, in the batch's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportOutcome {
    /// Stored: it was not here.
    New,
    /// Replaced by the source's newer version.
    Updated,
    /// Left as it was.
    Unchanged,
    /// Not stored: its id is another user's.
    IdTaken,
    /// Not stored: its uuid is another user's.
    UuidTaken,
    /// Not stored: its (tenant, type, userName) is another user's.
    UserNameTaken,
    /// Not stored yet: its home is moving between pods, or its pod or the brokers did not answer; send it
    /// again.
    Again,
}

impl From<Result<Imported, ImportConflict>> for ImportOutcome {
    fn from(written: Result<Imported, ImportConflict>) -> Self {
        match written {
            Ok(Imported::New) => Self::New,
            Ok(Imported::Updated) => Self::Updated,
            Ok(Imported::Unchanged) => Self::Unchanged,
            Err(ImportConflict::Id) => Self::IdTaken,
            Err(ImportConflict::Uuid) => Self::UuidTaken,
            Err(ImportConflict::UserName) => Self::UserNameTaken,
        }
    }
}

impl ImportOutcome {
    /// What the user's import did; `None` for [`ImportOutcome::Again`].
    pub fn written(self) -> Option<Result<Imported, ImportConflict>> {
        match self {
            Self::New => Some(Ok(Imported::New)),
            Self::Updated => Some(Ok(Imported::Updated)),
            Self::Unchanged => Some(Ok(Imported::Unchanged)),
            Self::IdTaken => Some(Err(ImportConflict::Id)),
            Self::UuidTaken => Some(Err(ImportConflict::Uuid)),
            Self::UserNameTaken => Some(Err(ImportConflict::UserName)),
            Self::Again => None,
        }
    }
}

/// A set of partitions.
#[derive(Debug, Serialize, Deserialize)]
pub struct Partitions {
    /// Partition numbers.
    pub partitions: Vec<u16>,
}

/// A pod as `admin cluster-status` sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PodStatus {
    /// Its ordinal.
    pub ordinal: u16,
    /// What it stores now (every partition it holds data of).
    pub stored: MoveCounts,
    /// The journal on: what it serves and who serves what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupStatus>,
}

/// A pod's view of the group.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupStatus {
    /// The partitions it serves, each with the generation of its claim.
    pub serving: std::collections::BTreeMap<u16, u64>,
    /// How many partitions the group assigned to it (served, or being taken over).
    pub assigned: usize,
    /// Who serves each partition, as announced.
    pub routes: std::collections::BTreeMap<u16, super::group::Route>,
    /// Every pod's latest announcement.
    pub members: std::collections::BTreeMap<u16, super::group::Announcement>,
    /// Per partition its warm standbys, as this pod places them (`journal.standby_replicas`).
    #[serde(default)]
    pub standbys: std::collections::BTreeMap<u16, Vec<u16>>,
    /// Per partition this pod follows as a standby, how many journal records its copy was behind after
    /// its last read.
    #[serde(default)]
    pub following: std::collections::BTreeMap<u16, i64>,
}
