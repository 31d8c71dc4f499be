//! User search: the criteria after parsing, DIGIT's rules for which criteria suffice, and paging.
//!
//! Gateway-marked calls (`x-pass-through-gateway: true`) need one of userName, name, mobileNumber, emailId or
//! uuid (an id-only search is refused) and a tenant with userName, name or mobileNumber; their page size is
//! capped. Inter-service calls may also search by id or roleCodes alone, and a tenant is needed with userName,
//! name, mobileNumber or roleCodes.

use super::enums::UserType;
use super::tenant::TenantId;

/// Fields `sort` may name. DIGIT appended it to SQL; we accept only known names. Results are in id order
/// either way, as DIGIT's paging by id rank made them.
pub const SORTABLE: &[&str] = &[
    "id",
    "name",
    "username",
    "userName",
    "mobilenumber",
    "mobileNumber",
    "emailid",
    "emailId",
    "tenantid",
    "tenantId",
    "type",
    "active",
    "createddate",
    "createdDate",
    "lastmodifieddate",
    "lastModifiedDate",
];

/// Parsed search criteria.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    /// `id`
    pub ids: Vec<i64>,
    /// `uuid`
    pub uuids: Vec<String>,
    /// `userName`, exact
    pub user_name: Option<String>,
    /// `name`, case-insensitive
    pub name: Option<String>,
    /// `mobileNumber`: matches the mobile or the alternate number
    pub mobile_number: Option<String>,
    /// `emailId`, case-insensitive
    pub email_id: Option<String>,
    /// `tenantId`, already truncated to the state for citizen searches
    pub tenant_id: Option<TenantId>,
    /// `userType`
    pub user_type: Option<UserType>,
    /// `roleCodes` (with a tenant: users holding any of them in exactly that tenant)
    pub role_codes: Vec<String>,
    /// `active`; `None` = both
    pub active: Option<bool>,
    /// Rows to skip (`pageNumber` is a row offset).
    pub offset: usize,
    /// Rows to return; `None` = all.
    pub limit: Option<usize>,
}

impl UserQuery {
    /// Whether the role-code criterion is in effect (DIGIT ignores role codes without a tenant).
    pub fn by_roles(&self) -> bool {
        !self.role_codes.is_empty() && self.tenant_id.is_some()
    }

    /// DIGIT's sufficiency rules; `Err` says what is missing.
    pub fn check_sufficient(&self, through_gateway: bool) -> Result<(), &'static str> {
        let named = self.user_name.is_some() || self.name.is_some() || self.mobile_number.is_some();
        let strong = named || self.email_id.is_some() || !self.uuids.is_empty();
        if through_gateway {
            if !strong {
                return Err("one of userName, name, mobileNumber, emailId or uuid is required");
            }
            if named && self.tenant_id.is_none() {
                return Err("tenantId is required with userName, name or mobileNumber");
            }
        } else {
            if !strong && self.ids.is_empty() && self.role_codes.is_empty() {
                return Err(
                    "one of id, uuid, userName, name, mobileNumber, emailId or roleCodes is required",
                );
            }
            if (named || !self.role_codes.is_empty()) && self.tenant_id.is_none() {
                return Err("tenantId is required with userName, name, mobileNumber or roleCodes");
            }
        }
        Ok(())
    }
}

/// The page size to apply. Gateway calls without id/uuid get `default_size` when they ask for nothing or
/// more than it; inter-service calls get what they ask, `0` meaning all, bounded by `inter_service_max`
/// (`0` = unbounded, DIGIT's behaviour).
pub fn page_size(
    requested: i64,
    through_gateway: bool,
    by_id: bool,
    default_size: usize,
    inter_service_max: usize,
) -> Option<usize> {
    let requested = usize::try_from(requested).unwrap_or(0);
    if through_gateway && !by_id {
        return Some(if requested == 0 || requested > default_size {
            default_size
        } else {
            requested
        });
    }
    let cap = (inter_service_max > 0).then_some(inter_service_max);
    match (requested, cap) {
        (0, cap) => cap,
        (n, Some(cap)) => Some(n.min(cap)),
        (n, None) => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> UserQuery {
        UserQuery::default()
    }

    #[test]
    fn gateway_searches_need_a_strong_criterion_and_a_tenant_with_names() {
        assert!(
            UserQuery {
                ids: vec![1],
                ..q()
            }
            .check_sufficient(true)
            .is_err()
        );
        assert!(
            UserQuery {
                uuids: vec!["x".into()],
                ..q()
            }
            .check_sufficient(true)
            .is_ok()
        );
        assert!(
            UserQuery {
                user_name: Some("a".into()),
                ..q()
            }
            .check_sufficient(true)
            .is_err()
        );
        let with_tenant = UserQuery {
            user_name: Some("a".into()),
            tenant_id: TenantId::parse("pb").ok(),
            ..q()
        };
        assert!(with_tenant.check_sufficient(true).is_ok());
        assert!(
            UserQuery {
                email_id: Some("a@b.c".into()),
                ..q()
            }
            .check_sufficient(true)
            .is_ok()
        );
    }

    #[test]
    fn inter_service_searches_may_use_ids_or_roles() {
        assert!(q().check_sufficient(false).is_err());
        assert!(
            UserQuery {
                ids: vec![1],
                ..q()
            }
            .check_sufficient(false)
            .is_ok()
        );
        assert!(
            UserQuery {
                role_codes: vec!["GRO".into()],
                ..q()
            }
            .check_sufficient(false)
            .is_err()
        );
        let roles = UserQuery {
            role_codes: vec!["GRO".into()],
            tenant_id: TenantId::parse("pb").ok(),
            ..q()
        };
        assert!(roles.check_sufficient(false).is_ok());
        assert!(roles.by_roles());
    }

    #[test]
    fn gateway_page_size_is_capped_unless_by_id() {
        assert_eq!(page_size(0, true, false, 10, 5000), Some(10));
        assert_eq!(page_size(50, true, false, 10, 5000), Some(10));
        assert_eq!(page_size(3, true, false, 10, 5000), Some(3));
        assert_eq!(page_size(0, true, true, 10, 5000), Some(5000));
    }

    #[test]
    fn inter_service_page_size_zero_means_all_up_to_the_cap() {
        assert_eq!(page_size(0, false, false, 10, 5000), Some(5000));
        assert_eq!(page_size(0, false, false, 10, 0), None);
        assert_eq!(page_size(9000, false, false, 10, 5000), Some(5000));
        assert_eq!(page_size(-4, false, false, 10, 0), None);
        assert_eq!(page_size(20, false, false, 10, 0), Some(20));
    }
}
