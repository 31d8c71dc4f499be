//! The user registry's rules between the wire and the store: DIGIT's create/update/search steps in their
//! order (contract 4.4.4, 4.4.6–4.4.8), with passwords through the hasher pool and writes through the store.

use std::sync::Arc;

use actors::Clock;
use actors::domain::mobile::MobileRules;
use actors::domain::password::PasswordPolicy;
use actors::domain::roles::{RoleCatalog, RoleRequest};
use actors::domain::search::UserQuery;
use actors::domain::update::{Change, UserFields, apply_admin_update, apply_profile_update};
use actors::domain::{KnownStates, TenantId, UserRecord, UserType};
use actors::hasher::HasherPool;
use actors::metrics::OTHER_TENANT;
use actors::store::{OutboxRecord, Store, StoreError, UserWriteError};
use zeroize::Zeroizing;

mod errors;
pub use errors::RegistryError;

/// A user as a create or update request carries it, after parsing.
#[derive(Debug, Default)]
pub struct UserDraft {
    /// `id`
    pub id: Option<i64>,
    /// `uuid`
    pub uuid: Option<String>,
    /// `userName`
    pub user_name: Option<String>,
    /// `password`
    pub password: Option<Zeroizing<String>>,
    /// `otpReference` (the OTP itself)
    pub otp_reference: Option<String>,
    /// `tenantId`
    pub tenant_id: Option<TenantId>,
    /// `roles`
    pub roles: Option<Vec<RoleRequest>>,
    /// Everything else.
    pub fields: UserFields,
}

/// Why a password hash is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewPassword {
    /// The user changed or reset their password.
    ChosenByUser,
    /// An imported hash matched and is replaced by argon2id of the same password.
    Rehash,
}

/// Settings the registry applies.
#[derive(Debug, Clone)]
pub struct RegistryRules {
    /// `name` mandatory on create.
    pub validate_name_on_create: bool,
    /// Default password expiry, days.
    pub default_password_expiry_days: i64,
    /// Inter-service creates may omit the mobile number.
    pub mobile_validation_workaround: bool,
    /// Password policy.
    pub password: PasswordPolicy,
    /// The states served: a user of another state is not created.
    pub states: Arc<KnownStates>,
    /// The notice of a changed e-mail address, when sent.
    pub email_change: Option<actors::domain::notification::EmailChangeNotice>,
}

/// Who asks: the caller's `RequestInfo.userInfo` and whether the gateway forwarded the call.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `userInfo.id`
    pub id: Option<i64>,
    /// `userInfo.uuid`
    pub uuid: Option<String>,
    /// Forwarded by the gateway.
    pub through_gateway: bool,
}

/// The registry.
#[derive(Clone)]
pub struct Registry {
    store: Arc<Store>,
    hasher: HasherPool,
    roles: Arc<RoleCatalog>,
    mobile: Arc<MobileRules>,
    rules: Arc<RegistryRules>,
    clock: Clock,
    /// Where audit events of users another pod serves go.
    audit_route: Option<Arc<crate::cluster::Cluster>>,
}

impl Registry {
    /// A registry over `store`.
    pub fn new(
        store: Arc<Store>,
        hasher: HasherPool,
        roles: RoleCatalog,
        mobile: MobileRules,
        rules: RegistryRules,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            hasher,
            roles: Arc::new(roles),
            mobile: Arc::new(mobile),
            rules: Arc::new(rules),
            clock,
            audit_route: None,
        }
    }

    /// The same, its audit events of users another pod serves handed to that pod.
    pub fn with_audit_route(mut self, cluster: Arc<crate::cluster::Cluster>) -> Self {
        self.audit_route = Some(cluster);
        self
    }

    /// The store (health, metrics).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The audit trail's writer.
    pub fn audit(&self) -> super::audit::Audit {
        super::audit::Audit::new(self.store.clone(), self.clock.clone())
            .routed(self.audit_route.clone())
    }

    /// `/user/users/_createnovalidate`: creates a user without OTP.
    pub async fn create(
        &self,
        draft: UserDraft,
        caller: &Caller,
    ) -> Result<UserRecord, RegistryError> {
        let record = self.prepare_create(draft, caller).await?;
        self.insert(record).await
    }

    /// Every check of a create, in DIGIT's order up to and including the duplicate check, and the record to
    /// store — without storing it (citizen registration validates its OTP in between).
    pub async fn prepare_create(
        &self,
        mut draft: UserDraft,
        caller: &Caller,
    ) -> Result<UserRecord, RegistryError> {
        let mobile_mandatory = !self.rules.mobile_validation_workaround || caller.through_gateway;
        // mobile rules first (they resolve the country code), then presence, as DIGIT orders them
        let state_for_rules = draft.tenant_id.as_ref().map(|t| t.state());
        self.check_mobiles(state_for_rules.as_ref(), &mut draft.fields)?;
        let user_name = draft
            .user_name
            .clone()
            .ok_or(RegistryError::CreateMissing("userName"))?;
        if self.rules.validate_name_on_create
            && draft
                .fields
                .name
                .as_deref()
                .is_none_or(|n| n.trim().is_empty())
        {
            return Err(RegistryError::CreateMissing("name"));
        }
        if mobile_mandatory && draft.fields.mobile_number.is_none() {
            return Err(RegistryError::CreateMissing("mobileNumber"));
        }
        let user_type = draft
            .fields
            .user_type
            .ok_or(RegistryError::CreateMissing("type"))?;
        let requested_roles = draft
            .roles
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or(RegistryError::CreateMissing("roles"))?;
        let tenant = draft
            .tenant_id
            .clone()
            .ok_or(RegistryError::CreateMissing("tenantId"))?;
        if !self.rules.states.serves(&tenant) {
            return Err(RegistryError::UnknownTenant(tenant.to_string()));
        }
        // citizens live at the state-level tenant
        let tenant = if user_type == UserType::Citizen {
            tenant.state()
        } else {
            tenant
        };
        if self.store.users().exists(&tenant, user_type, &user_name)? {
            return Err(RegistryError::Duplicate);
        }
        if let Some(pw) = &draft.password {
            self.check_password(pw)?;
        }
        let roles = self.roles.resolve(&tenant, &requested_roles)?;
        let password_hash = self.hash_if_given(draft.password.take()).await?;
        let now = self.clock.now_ms();
        let (id, uuid) = self.store.users().mint_ids(&tenant, &user_name)?;
        let f = draft.fields;
        // a password given at creation is the creator's (HRMS's default password), not yet the user's
        let default_pwd_changed = password_hash.is_none();
        let record = UserRecord {
            id,
            uuid,
            tenant_id: tenant,
            user_type,
            user_name,
            password_hash,
            salutation: f.salutation,
            name: f.name,
            gender: f.gender,
            mobile_number: f.mobile_number,
            country_code: f.country_code,
            alt_mobile_number: f.alt_mobile_number,
            email_id: f.email_id,
            alt_contact_number: f.alt_contact_number,
            pan: f.pan,
            aadhaar_number: f.aadhaar_number,
            permanent_address: f.permanent_address.non_empty(),
            correspondence_address: f.correspondence_address.non_empty(),
            active: f.active.unwrap_or(false),
            locale: f.locale,
            account_locked: f.account_locked.unwrap_or(false),
            account_locked_date: f.account_locked_date,
            guardian: f.guardian,
            relationship: f.relationship,
            signature: f.signature,
            blood_group: f.blood_group,
            photo: f.photo,
            identification_mark: f.identification_mark,
            created_by: caller.id,
            last_modified_by: caller.id,
            created_date: now,
            last_modified_date: now,
            dob: f.dob,
            pwd_expiry_date: f
                .pwd_expiry_date
                .unwrap_or(now + self.rules.default_password_expiry_days * 86_400_000),
            roles,
            default_pwd_changed,
        };
        Ok(record)
    }

    /// Stores a prepared user; `Duplicate` if another create took the name meanwhile.
    pub async fn insert(&self, record: UserRecord) -> Result<UserRecord, RegistryError> {
        self.store
            .users()
            .insert(&record)
            .await
            .map_err(|e| match e {
                UserWriteError::Duplicate => RegistryError::Duplicate,
                UserWriteError::Store(e) => RegistryError::Store(e),
                UserWriteError::NotFound | UserWriteError::Refused(()) => {
                    RegistryError::Store(StoreError::Corrupt("insert".into()))
                }
            })?;
        Ok(record)
    }

    /// `/user/users/_updatenovalidate`: the admin update, keyed on the loaded record.
    pub async fn admin_update(
        &self,
        mut draft: UserDraft,
        caller: &Caller,
    ) -> Result<UserRecord, RegistryError> {
        let (uuid, existing) = self.load_for_update(&draft)?;
        self.check_mobiles(Some(&existing.tenant_id.state()), &mut draft.fields)?;
        let requested_roles = draft
            .roles
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or(RegistryError::NoRoles)?;
        if draft.tenant_id.is_none() {
            return Err(RegistryError::UpdateMissing("tenantId"));
        }
        if let Some(pw) = &draft.password {
            self.check_password(pw)?;
        }
        let roles = self.roles.resolve(&existing.tenant_id, &requested_roles)?;
        let password_hash = self.hash_if_given(draft.password.take()).await?;
        let change = Change {
            actor_id: caller.id,
            now: self.clock.now_ms(),
        };
        let fields = draft.fields;
        let updated = self
            .store
            .users()
            .update(&uuid, caller.uuid.as_deref(), change.now, |old| {
                Ok::<_, RegistryError>(apply_admin_update(
                    old,
                    &fields,
                    roles.clone(),
                    password_hash.clone(),
                    change,
                ))
            })
            .await?;
        Ok(updated)
    }

    /// `/user/profile/_update`: a user edits their own profile.
    pub async fn profile_update(
        &self,
        mut draft: UserDraft,
        caller: &Caller,
    ) -> Result<UserRecord, RegistryError> {
        let (uuid, existing) = self.load_for_update(&draft)?;
        let (Some(caller_id), Some(caller_uuid)) = (caller.id, caller.uuid.as_deref()) else {
            return Err(RegistryError::ProfileDenied(
                "RequestInfo.userInfo with id and uuid is required",
            ));
        };
        if draft.id != Some(caller_id) || caller_uuid != uuid || existing.id != caller_id {
            return Err(RegistryError::ProfileDenied(
                "a user may only update their own profile",
            ));
        }
        // The mobile number is not changed here; only the alternate number is checked.
        draft.fields.mobile_number = None;
        draft.fields.country_code = existing.country_code.clone();
        self.check_mobiles(Some(&existing.tenant_id.state()), &mut draft.fields)?;
        let change = Change {
            actor_id: caller.id,
            now: self.clock.now_ms(),
        };
        let fields = draft.fields;
        let notice = |old: &UserRecord, new: &UserRecord| -> Vec<OutboxRecord> {
            let Some(words) = &self.rules.email_change else {
                return Vec::new();
            };
            words
                .of(old, new)
                .into_iter()
                .map(|notification| OutboxRecord {
                    message_id: uuid::Uuid::new_v4().to_string(),
                    notification,
                    created_ms: change.now,
                    expires_ms: None,
                    attempts: 0,
                    last_error: None,
                    tenant: Some(new.tenant_id.to_string()),
                    labels: Some(("email_change".into(), OTHER_TENANT.into())),
                })
                .collect()
        };
        let (updated, _) = self
            .store
            .users()
            .update_noticed(
                &uuid,
                caller.uuid.as_deref(),
                change.now,
                |old| {
                    if old.id != caller_id {
                        return Err(RegistryError::ProfileDenied(
                            "a user may only update their own profile",
                        ));
                    }
                    Ok(apply_profile_update(old, &fields, change))
                },
                notice,
            )
            .await?;
        Ok(updated)
    }

    /// Stores a new password hash for `uuid`: one the user chose (a change or a reset: from now on it is no
    /// default password) or the same password rehashed.
    pub async fn store_password(
        &self,
        uuid: &str,
        actor: Option<&str>,
        password: Zeroizing<String>,
        why: NewPassword,
    ) -> Result<(), RegistryError> {
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now_ms();
        self.store
            .users()
            .update(uuid, actor, now, |old| {
                let mut new = old.clone();
                new.password_hash = Some(hash.clone());
                if why == NewPassword::ChosenByUser {
                    new.default_pwd_changed = true;
                }
                new.last_modified_date = now;
                Ok::<_, RegistryError>(new)
            })
            .await?;
        Ok(())
    }

    /// `/user/_search`, `/user/v1/_search`.
    pub fn search(&self, query: &UserQuery) -> Result<Vec<UserRecord>, RegistryError> {
        Ok(self.store.users().search(query)?)
    }

    /// The `uuid` an update names and the record it names.
    fn load_for_update(&self, draft: &UserDraft) -> Result<(String, UserRecord), RegistryError> {
        let uuid = draft
            .uuid
            .clone()
            .ok_or(RegistryError::UpdateMissing("uuid"))?;
        let existing = self
            .store
            .users()
            .get_by_uuid(&uuid)?
            .ok_or_else(|| RegistryError::NotFound(uuid.clone()))?;
        Ok((uuid, existing))
    }

    /// The hash of a password the request set. Without one none is stored: DIGIT stored a random password,
    /// and an absent hash can never match either.
    async fn hash_if_given(
        &self,
        password: Option<Zeroizing<String>>,
    ) -> Result<Option<String>, RegistryError> {
        match password {
            Some(pw) => Ok(Some(self.hasher.hash(pw).await?)),
            None => Ok(None),
        }
    }

    fn check_password(&self, password: &str) -> Result<(), RegistryError> {
        let violations = self.rules.password.check(password);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::Password(violations))
        }
    }

    /// Checks `mobileNumber` and `alternatemobilenumber` against the state's rule and resolves the country code.
    fn check_mobiles(
        &self,
        state: Option<&TenantId>,
        f: &mut UserFields,
    ) -> Result<(), RegistryError> {
        let state = state.map_or("", TenantId::as_str);
        if let Some(m) = &f.mobile_number {
            f.country_code = Some(
                self.mobile
                    .check(state, f.country_code.as_deref(), m)
                    .map_err(RegistryError::Mobile)?,
            );
        }
        if let Some(alt) = &f.alt_mobile_number {
            self.mobile
                .check(state, f.country_code.as_deref(), alt)
                .map_err(RegistryError::Mobile)?;
        }
        Ok(())
    }
}
