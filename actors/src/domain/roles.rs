//! The role catalog (DIGIT's MDMS `ACCESSCONTROL-ROLES.roles`, here `config/roles.toml`): which role codes
//! exist in a state tenant and their display names. Roles listed at the top level exist in every state;
//! `[[state.<tenant>]]` entries add a state's own roles.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::tenant::TenantId;
use super::user::Role;

/// One role definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Code, e.g. `GRO`.
    pub code: String,
    /// Display name, e.g. `Grievance Routing Officer`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// `config/roles.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCatalogFile {
    /// Roles of every state.
    #[serde(default)]
    pub role: Vec<RoleSpec>,
    /// Additional roles per state tenant.
    #[serde(default)]
    pub state: BTreeMap<String, Vec<RoleSpec>>,
}

/// A role the caller asked for: a code and an optional tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRequest {
    /// Role code.
    pub code: String,
    /// Tenant; the user's tenant when absent.
    pub tenant_id: Option<TenantId>,
}

/// Why requested roles were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// A code the catalog of that state does not know.
    #[error("role {code} is not in the role catalog of {state}")]
    Unknown {
        /// The code.
        code: String,
        /// The state tenant whose catalog was asked.
        state: String,
    },
    /// A role tenant in another state than the user's.
    #[error("role {code} names tenant {tenant}, outside the user's state {state}")]
    OtherState {
        /// The code.
        code: String,
        /// The role's tenant.
        tenant: String,
        /// The user's state.
        state: String,
    },
}

/// The compiled catalog.
#[derive(Debug, Clone, Default)]
pub struct RoleCatalog {
    common: BTreeMap<String, String>,
    states: BTreeMap<String, BTreeMap<String, String>>,
}

impl RoleCatalog {
    /// The state tenants with roles of their own.
    pub fn states(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// Builds the catalog from its file.
    pub fn new(file: &RoleCatalogFile) -> Self {
        let names = |specs: &[RoleSpec]| {
            specs
                .iter()
                .map(|r| (r.code.clone(), r.name.clone()))
                .collect()
        };
        Self {
            common: names(&file.role),
            states: file
                .state
                .iter()
                // keyed as tenants are compared: trimmed, lower case
                .map(|(s, specs)| (s.trim().to_ascii_lowercase(), names(specs)))
                .collect(),
        }
    }

    /// The display name of `code` in `state`, if it exists there.
    pub fn name_of(&self, state: &str, code: &str) -> Option<&str> {
        self.states
            .get(state.trim().to_ascii_lowercase().as_str())
            .and_then(|m| m.get(code))
            .or_else(|| self.common.get(code))
            .map(String::as_str)
    }

    /// Number of role codes known in `state`.
    pub fn len_for(&self, state: &str) -> usize {
        self.common.len()
            + self
                .states
                .get(state.trim().to_ascii_lowercase().as_str())
                .map_or(0, BTreeMap::len)
    }

    /// Resolves requested roles of a user living in `user_tenant`: tenants default to the user's, every
    /// tenant must be in the user's state, every code must exist in that state's catalog. The result is
    /// sorted and free of duplicates.
    pub fn resolve(
        &self,
        user_tenant: &TenantId,
        requested: &[RoleRequest],
    ) -> Result<Vec<Role>, RoleError> {
        let state = user_tenant.state();
        let mut roles = BTreeSet::new();
        for req in requested {
            let tenant = req.tenant_id.clone().unwrap_or_else(|| user_tenant.clone());
            if tenant.state() != state {
                return Err(RoleError::OtherState {
                    code: req.code.clone(),
                    tenant: tenant.to_string(),
                    state: state.to_string(),
                });
            }
            let name =
                self.name_of(state.as_str(), &req.code)
                    .ok_or_else(|| RoleError::Unknown {
                        code: req.code.clone(),
                        state: state.to_string(),
                    })?;
            roles.insert(Role {
                code: req.code.clone(),
                name: name.to_owned(),
                tenant_id: tenant,
            });
        }
        Ok(roles.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> RoleCatalog {
        let file: RoleCatalogFile = toml::from_str(
            r#"
            [[role]]
            code = "EMPLOYEE"
            name = "Employee"
            [[state.pb]]
            code = "GP_ADMIN"
            name = "Gram Panchayat Admin"
            "#,
        )
        .unwrap();
        RoleCatalog::new(&file)
    }

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn req(code: &str, tenant: Option<&str>) -> RoleRequest {
        RoleRequest {
            code: code.into(),
            tenant_id: tenant.map(t),
        }
    }

    #[test]
    fn tenants_default_to_the_user_and_names_come_from_the_catalog() {
        let roles = catalog()
            .resolve(
                &t("pb.amritsar"),
                &[req("EMPLOYEE", None), req("GP_ADMIN", Some("pb"))],
            )
            .unwrap();
        assert_eq!(roles.len(), 2);
        assert_eq!(roles[0].code, "EMPLOYEE");
        assert_eq!(roles[0].tenant_id.as_str(), "pb.amritsar");
        assert_eq!(roles[1].name, "Gram Panchayat Admin");
        assert_eq!(roles[1].tenant_id.as_str(), "pb");
    }

    #[test]
    fn state_roles_exist_only_in_their_state() {
        assert!(matches!(
            catalog().resolve(&t("hr.x"), &[req("GP_ADMIN", None)]),
            Err(RoleError::Unknown { .. })
        ));
        assert!(matches!(
            catalog().resolve(&t("pb"), &[req("NOPE", None)]),
            Err(RoleError::Unknown { .. })
        ));
    }

    #[test]
    fn a_role_tenant_outside_the_state_is_refused() {
        assert!(matches!(
            catalog().resolve(&t("pb.amritsar"), &[req("EMPLOYEE", Some("hr"))]),
            Err(RoleError::OtherState { .. })
        ));
    }

    #[test]
    fn duplicates_collapse() {
        let roles = catalog()
            .resolve(
                &t("pb"),
                &[req("EMPLOYEE", None), req("EMPLOYEE", Some("pb"))],
            )
            .unwrap();
        assert_eq!(roles.len(), 1);
    }
}
