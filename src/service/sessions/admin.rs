//! Session administration: a user's live sessions as an operator sees them, and ending one or all of them
//! (`/admin/sessions`, `digit-user admin sessions`).

use serde::Serialize;

use super::revocations::Revocations;
use super::{SessionError, Sessions};

/// The revocation reason (metrics, audit trail) of a session an operator ended.
const ADMIN: &str = "admin";

/// One live session (a refresh family: a login and the tokens rotated from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Its id: what ends it.
    pub id: String,
    /// The user type it was opened for.
    pub user_type: String,
    /// The scope granted at login.
    pub scope: String,
    /// When it was opened (the login), epoch ms; absent for sessions an earlier build opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Its last refresh, epoch ms; absent when it was never refreshed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    /// The client's address at its last use (the login, or the last refresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The client's `User-Agent` then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// When it ends at the latest (the refresh validity from the login), epoch ms.
    pub expires_at: i64,
}

impl Sessions {
    /// The live sessions of user `uuid`, oldest first.
    pub fn of_user(&self, uuid: &str) -> Result<Vec<SessionView>, SessionError> {
        let now = self.clock.now_ms();
        let mut sessions: Vec<SessionView> = self
            .store
            .logins()
            .families_of(uuid, now)?
            .into_iter()
            // ended here though its write did not last (a 503 answered): ended for the operator too
            .filter(|(id, _)| !Revocations::contains(&self.revoked.families, id))
            .map(|(id, family)| {
                let latest = family.last_used.as_ref().or(family.opened.as_ref());
                SessionView {
                    id,
                    user_type: family.user_type.clone(),
                    scope: family.scope.clone(),
                    created_at: family.opened.as_ref().map(|s| s.at),
                    last_used_at: family.last_used.as_ref().map(|s| s.at),
                    source: latest.and_then(|s| s.source.clone()),
                    user_agent: latest.and_then(|s| s.user_agent.clone()),
                    expires_at: family.expires_ms,
                }
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(sessions)
    }

    /// Ends session `id` of user `uuid`: its refresh tokens and its current access token, on every pod.
    /// `false` when the user has no such live session.
    pub async fn end(&self, uuid: &str, id: &str) -> Result<bool, SessionError> {
        let now = self.clock.now_ms();
        let Some((id, family)) = self
            .store
            .logins()
            .families_of(uuid, now)?
            .into_iter()
            .find(|(family, _)| family.eq_ignore_ascii_case(id.trim()))
        else {
            return Ok(false);
        };
        self.revoke(
            uuid,
            &[(id, family.expires_ms)],
            &[(family.access_jti, family.access_expires_ms)],
            ADMIN,
        )
        .await?;
        Ok(true)
    }

    /// Ends every live session of user `uuid`; how many.
    pub async fn end_all(&self, uuid: &str) -> Result<usize, SessionError> {
        self.revoke_user(uuid, None, ADMIN).await
    }
}
