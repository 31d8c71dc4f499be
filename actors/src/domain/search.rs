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

/// Parsed search criteria (serialisable: a fanned-out search sends them to every pod).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// `roleCodes` (with a tenant: users holding any of them in exactly that tenant; with `role_tenants`: in
    /// one of those)
    pub role_codes: Vec<String>,
    /// `tenantIds` of mGramSeva's `_searchByTenant`: users holding a role (one of `role_codes`, when given)
    /// in one of these tenants
    #[serde(default)]
    pub role_tenants: Vec<TenantId>,
    /// `active`; `None` = both
    pub active: Option<bool>,
    /// Rows to skip (`pageNumber` is a row offset).
    pub offset: usize,
    /// Rows to return; `None` = all.
    pub limit: Option<usize>,
}

impl UserQuery {
    /// Whether the role-code criterion with `tenant_id` is in effect (DIGIT ignores role codes without a
    /// tenant; with `role_tenants` the codes go with those instead).
    pub fn by_roles(&self) -> bool {
        !self.role_codes.is_empty() && self.tenant_id.is_some() && self.role_tenants.is_empty()
    }

    /// Whether `roles` hold a role the `role_tenants` criterion asks for (true when there is none).
    pub fn role_tenants_match(&self, roles: &[super::user::Role]) -> bool {
        self.role_tenants.is_empty()
            || roles.iter().any(|r| {
                self.role_tenants.contains(&r.tenant_id)
                    && (self.role_codes.is_empty() || self.role_codes.contains(&r.code))
            })
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

/// Users a query may name by id or uuid and still be a point lookup.
pub const POINT_LOOKUP_MAX: usize = 16;

impl UserQuery {
    /// Whether the query names its users by id or uuid, at most [`POINT_LOOKUP_MAX`] of them: a few index
    /// reads, which cost less than handing the work to another thread.
    pub fn is_point_lookup(&self) -> bool {
        let named = self.ids.len() + self.uuids.len();
        (1..=POINT_LOOKUP_MAX).contains(&named)
    }

    /// What each pod answers when this query fans out to all of them: the same criteria from row 0, with
    /// `offset + limit` rows, so that the merged rows can be cut to the page ([`merge_in_id_order`]).
    pub fn for_fan_out(&self) -> UserQuery {
        UserQuery {
            offset: 0,
            limit: self.limit.map(|l| l.saturating_add(self.offset)),
            ..self.clone()
        }
    }
}

/// Merges the pods' answers to a fanned-out search — each in id order — into the page the caller asked
/// for: in id order, one row per id (during a partition move a user can be on two pods for a moment), then
/// `offset` rows skipped and at most `limit` kept.
pub fn merge_in_id_order<T>(
    pages: Vec<Vec<T>>,
    id: impl Fn(&T) -> i64,
    offset: usize,
    limit: Option<usize>,
) -> Vec<T> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let mut sources: Vec<std::vec::IntoIter<T>> = pages.into_iter().map(Vec::into_iter).collect();
    let mut heads: Vec<Option<T>> = sources.iter_mut().map(Iterator::next).collect();
    let mut next: BinaryHeap<Reverse<(i64, usize)>> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_ref().map(|row| Reverse((id(row), i))))
        .collect();
    let mut out = Vec::new();
    let (mut skipped, mut last) = (0, None);
    while let Some(Reverse((row_id, i))) = next.pop() {
        let row = heads[i].take().expect("a queued source has a head");
        if let Some(following) = sources[i].next() {
            next.push(Reverse((id(&following), i)));
            heads[i] = Some(following);
        }
        if last == Some(row_id) {
            continue;
        }
        last = Some(row_id);
        if skipped < offset {
            skipped += 1;
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        out.push(row);
    }
    out
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

    #[test]
    fn a_fanned_out_search_asks_every_pod_for_the_rows_up_to_the_page_end() {
        let q = UserQuery {
            offset: 20,
            limit: Some(10),
            user_name: Some("a".into()),
            ..UserQuery::default()
        };
        let each = q.for_fan_out();
        assert_eq!((each.offset, each.limit), (0, Some(30)));
        assert_eq!(each.user_name.as_deref(), Some("a"));
        let all = UserQuery {
            offset: 5,
            ..UserQuery::default()
        }
        .for_fan_out();
        assert_eq!((all.offset, all.limit), (0, None));
    }

    #[test]
    fn merged_pages_equal_the_page_of_one_store_holding_everything() {
        // ids spread over three pods, as partitions spread them
        let all: Vec<i64> = (1..=50).map(|n| n * 7).collect();
        let pods: Vec<Vec<i64>> = (0..3)
            .map(|p| all.iter().copied().filter(|id| id % 3 == p).collect())
            .collect();
        for (offset, limit) in [
            (0, Some(10)),
            (10, Some(10)),
            (45, Some(10)),
            (60, Some(5)),
            (3, None),
        ] {
            // each pod answers its first offset + limit rows, as for_fan_out asks
            let answers: Vec<Vec<i64>> = pods
                .iter()
                .map(|rows| {
                    rows.iter()
                        .copied()
                        .take(limit.map_or(usize::MAX, |l| l + offset))
                        .collect()
                })
                .collect();
            let expected: Vec<i64> = all
                .iter()
                .copied()
                .skip(offset)
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            assert_eq!(
                merge_in_id_order(answers, |id| *id, offset, limit),
                expected,
                "offset {offset} limit {limit:?}"
            );
        }
    }

    #[test]
    fn a_user_on_two_pods_during_a_move_is_listed_once() {
        let merged = merge_in_id_order(
            vec![vec![1, 4, 9], vec![4, 5], vec![], vec![9]],
            |id| *id,
            0,
            None,
        );
        assert_eq!(merged, [1, 4, 5, 9]);
        assert_eq!(
            merge_in_id_order(vec![vec![1, 4, 9], vec![4, 5]], |id| *id, 2, Some(1)),
            [5]
        );
    }
}
