//! user-otp's user lookup for `_send`: who a purpose needs (contract 3.3).
//!
//! Employees are looked up in the tenant sent (their city), everyone else in the state; only active users
//! count; a number matches the mobile or the alternate number. An employee's password reset that names the
//! state (mGramSeva sends `pb` for an employee of `pb.amritsar`) is looked up in the state's cities, as login
//! does: by mobile number, then by userName; several matches are as good as none.
//!
//! In a sharded deployment `_send` runs at the pod owning (state, number typed). A user's home is (state,
//! userName), so a lookup by userName is answered here; one by mobile number asks the other pods only when
//! this one has no match.

use actors::directory::Unreachable;
use actors::domain::otp::Purpose;
use actors::domain::search::UserQuery;
use actors::domain::{TenantId, UserRecord, UserType};

use super::{OtpError, OtpService};
use crate::service::owned::{FanOutError, owned_matches, search_everywhere};

impl OtpService {
    /// The user `_send` of `purpose` is about, if any.
    pub(super) async fn find_user(
        &self,
        tenant: &str,
        mobile: &str,
        purpose: Purpose,
        user_type: Option<&str>,
    ) -> Result<Option<UserRecord>, OtpError> {
        let is_employee = user_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("EMPLOYEE"));
        let Ok(tenant) = TenantId::parse(tenant) else {
            return Ok(None);
        };
        let tenant_id = if is_employee { tenant } else { tenant.state() };
        let exact = UserQuery {
            mobile_number: Some(mobile.to_owned()),
            tenant_id: Some(tenant_id.clone()),
            user_type: user_type.and_then(UserType::parse),
            active: Some(true),
            limit: Some(1),
            ..UserQuery::default()
        };
        if let Some(found) = self.search_here_then_everywhere(&exact).await?.pop() {
            return Ok(Some(found));
        }
        if !(is_employee && tenant_id.is_state_level() && purpose == Purpose::PasswordReset) {
            return Ok(None);
        }
        let in_state = |found: Vec<UserRecord>| -> Vec<UserRecord> {
            found
                .into_iter()
                .filter(|u| u.tenant_id.state() == tenant_id)
                .collect()
        };
        let by_mobile = UserQuery {
            tenant_id: None,
            limit: None,
            ..exact
        };
        // every pod: two employees of the state with this number on two pods must not look like one
        let mut found = in_state(self.search_everywhere(&by_mobile).await?);
        if found.is_empty() {
            // the user's home is (state, userName): the partition this request was routed to
            let by_user_name = UserQuery {
                mobile_number: None,
                user_name: Some(mobile.to_owned()),
                ..by_mobile
            };
            found = in_state(self.registry.search(&by_user_name)?);
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            n => {
                tracing::warn!(
                    matches = n,
                    "a password reset names several employees of the state; none chosen"
                );
                Ok(None)
            }
        }
    }

    /// Users matching `query` on this pod; in a sharded deployment, when it has none, on every pod (an
    /// employee's or a renamed citizen's home is (state, userName), not the number's).
    async fn search_here_then_everywhere(
        &self,
        query: &UserQuery,
    ) -> Result<Vec<UserRecord>, OtpError> {
        let here = owned_matches(&self.registry, &self.cluster, query)?.users;
        if !here.is_empty() || !self.cluster.sharded() {
            return Ok(here);
        }
        self.search_everywhere(query).await
    }

    /// Users matching `query` on every pod, in id order, one row per id (a user moving between pods is on
    /// two for a moment); a pod not answering, or a partition moving, is a retryable refusal.
    async fn search_everywhere(&self, query: &UserQuery) -> Result<Vec<UserRecord>, OtpError> {
        search_everywhere(&self.registry, &self.cluster, query)
            .await
            .map_err(|e| match e {
                FanOutError::Store(e) => e.into(),
                FanOutError::Leg(_) | FanOutError::Moving(_) | FanOutError::Bulk(_) => {
                    Unreachable::Busy.into()
                }
            })
    }
}
