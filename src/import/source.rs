//! egov-user's PostgreSQL, read: its users a batch at a time in (id, tenant) order — so an interrupted
//! import resumes after the last pair it wrote — each with its roles and addresses and its PII opened
//! (egov-enc-service ciphertexts decrypted, plain values taken as they are). Read-only: one `READ ONLY`
//! transaction per batch.
//!
//! The tables are those egov-user's migrations leave (Digit-Core `core-services/egov-user`,
//! `db/migration/ddl`): `eg_user`, `eg_userrole_v1`, `eg_user_address`. mGramSeva's fork adds
//! `defaultpwdchgd` and lacks `alternatemobilenumber` and `countrycode`; the reader tells them apart by
//! those columns ([`Schema`]).

use postgres::{Client, NoTls, Row};
use time::PrimitiveDateTime;
use zeroize::Zeroizing;

use super::enc::{EncError, EncKeys, KeyRow, looks_sealed};

/// Which egov-user wrote the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// DIGIT core's egov-user.
    Core,
    /// mGramSeva's fork (`defaultpwdchgd`; gender 3 means TRANSGENDER there).
    Mgramseva,
}

/// Why the source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database.
    #[error("egov-user's database: {0}")]
    Postgres(#[from] postgres::Error),
    /// Tables that are not egov-user's.
    #[error(
        "egov-user's database has no eg_user table with the columns egov-user's migrations create"
    )]
    NotEgovUser,
    /// A sealed value that does not open.
    #[error("user id {id} ({tenant}): {column}: {source}")]
    Sealed {
        /// The user's id.
        id: i64,
        /// Its tenant.
        tenant: String,
        /// The column.
        column: &'static str,
        /// Why.
        source: EncError,
    },
}

/// A PII value as it came out of the source: opened, in a buffer wiped on drop.
pub type Pii = Option<Zeroizing<String>>;

/// One address of a user.
#[derive(Debug)]
pub struct SourceAddress {
    /// `PERMANENT` or `CORRESPONDENCE`.
    pub kind: String,
    /// The address line (PII).
    pub address: Pii,
    /// City.
    pub city: Option<String>,
    /// Pin code.
    pub pincode: Option<String>,
}

/// One user as egov-user stores it, PII opened.
#[derive(Debug)]
pub struct SourceUser {
    /// `eg_user.id`: kept.
    pub id: i64,
    /// `eg_user.uuid`: kept.
    pub uuid: String,
    /// `tenantid`.
    pub tenant: String,
    /// `username` (PII in DIGIT's security policy).
    pub user_name: Zeroizing<String>,
    /// `password`: a bcrypt hash, as it is.
    pub password_hash: String,
    /// `type`: CITIZEN, EMPLOYEE, SYSTEM or BUSINESS ("" when egov-user stored none).
    pub user_type: String,
    /// `name`.
    pub name: Pii,
    /// `mobilenumber`.
    pub mobile_number: Pii,
    /// `emailid`.
    pub email: Pii,
    /// `altcontactnumber`.
    pub alt_contact_number: Pii,
    /// `pan`.
    pub pan: Pii,
    /// `aadhaarnumber`.
    pub aadhaar_number: Pii,
    /// `guardian`.
    pub guardian: Pii,
    /// `guardianrelation`: FATHER, MOTHER, HUSBAND, OTHER or "".
    pub guardian_relation: Option<String>,
    /// `gender` as stored (0 none, 1 female, 2 male, then core's 3 OTHERS / 4 TRANSGENDER or mGramSeva's 3
    /// TRANSGENDER).
    pub gender: Option<i16>,
    /// `active`.
    pub active: bool,
    /// `accountlocked`.
    pub account_locked: bool,
    /// `accountlockeddate`, epoch ms.
    pub account_locked_ms: Option<i64>,
    /// `dob`, epoch ms (read as UTC).
    pub dob_ms: Option<i64>,
    /// `createddate`, epoch ms (read as UTC).
    pub created_ms: Option<i64>,
    /// `lastmodifieddate`, epoch ms (read as UTC): a re-run updates users changed since.
    pub last_modified_ms: Option<i64>,
    /// mGramSeva's `defaultpwdchgd`; `None` on core.
    pub default_password_changed: Option<bool>,
    /// `salutation`.
    pub salutation: Option<String>,
    /// `locale`.
    pub locale: Option<String>,
    /// `signature` (a filestore id).
    pub signature: Option<String>,
    /// `photo` (a filestore id).
    pub photo: Option<String>,
    /// `bloodgroup`: the enum's name (A_POSITIVE …) or "".
    pub blood_group: Option<String>,
    /// `identificationmark`.
    pub identification_mark: Option<String>,
    /// `alternatemobilenumber` (core; left plain by egov-user).
    pub alt_mobile_number: Option<String>,
    /// `countrycode` (core, since 2026).
    pub country_code: Option<String>,
    /// `createdby`.
    pub created_by: Option<i64>,
    /// `lastmodifiedby`.
    pub last_modified_by: Option<i64>,
    /// `pwdexpirydate`, epoch ms (read as UTC).
    pub password_expiry_ms: Option<i64>,
    /// `eg_userrole_v1`: (role code, role tenant).
    pub roles: Vec<(String, String)>,
    /// `eg_user_address`.
    pub addresses: Vec<SourceAddress>,
}

/// Which users a pass reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// A tenant and its cities ("" = every tenant).
    pub tenant: String,
    /// Only rows modified at or after this moment (the source's own clock, its `timestamp` columns as they
    /// are), and rows with no modification date; `None` = every row.
    pub modified_since: Option<PrimitiveDateTime>,
}

/// The filter a [`Selection`] makes, over parameters $1 (tenant) and $2 (modified since).
const SELECTED: &str = "($1 = '' OR tenantid = $1 OR tenantid LIKE $1 || '.%') \
     AND ($2::timestamp IS NULL OR lastmodifieddate IS NULL OR lastmodifieddate >= $2)";

/// One row of `eg_enc_symmetric_keys` when egov-enc-service shares the database.
const KEY_TABLE: &str = "eg_enc_symmetric_keys";

/// A connection to egov-user's database.
pub struct Source {
    client: Client,
    schema: Schema,
    keys: EncKeys,
}

impl Source {
    /// Connects (a libpq-style URL, `postgresql://user:password@host:port/database`) and tells the schema.
    pub fn connect(url: &str, keys: EncKeys) -> Result<Self, SourceError> {
        let mut client = Client::connect(url, NoTls)?;
        let columns: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'eg_user'",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let has = |c: &str| columns.iter().any(|x| x == c);
        if !["id", "uuid", "tenantid", "username", "password", "type"]
            .iter()
            .all(|c| has(c))
        {
            return Err(SourceError::NotEgovUser);
        }
        let schema = if has("defaultpwdchgd") {
            Schema::Mgramseva
        } else {
            Schema::Core
        };
        Ok(Self {
            client,
            schema,
            keys,
        })
    }

    /// The schema found.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The key table of egov-enc-service (`eg_enc_symmetric_keys`, every row, active or rotated) when it
    /// shares this database; `None` when it does not.
    pub fn enc_key_rows(&mut self) -> Result<Option<Vec<KeyRow>>, SourceError> {
        let present: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&KEY_TABLE])?
            .get(0);
        if !present {
            return Ok(None);
        }
        let sql = format!("SELECT key_id::bigint, secret_key, initial_vector FROM {KEY_TABLE}");
        let rows = self.client.query(sql.as_str(), &[])?;
        Ok(Some(
            rows.iter()
                .map(|r| KeyRow {
                    key_id: r.get(0),
                    secret_key: r.get(1),
                    initial_vector: r.get(2),
                })
                .collect(),
        ))
    }

    /// Opens sealed values with `keys` from now on.
    pub fn set_keys(&mut self, keys: EncKeys) {
        self.keys = keys;
    }

    /// The source's clock now (`localtimestamp`): where the next delta pass starts.
    pub fn now(&mut self) -> Result<PrimitiveDateTime, SourceError> {
        Ok(self.client.query_one("SELECT localtimestamp", &[])?.get(0))
    }

    /// How many users `which` selects.
    pub fn count(&mut self, which: &Selection) -> Result<i64, SourceError> {
        let sql = format!("SELECT count(*) FROM eg_user WHERE {SELECTED}");
        Ok(self
            .client
            .query_one(sql.as_str(), &[&which.tenant, &which.modified_since])?
            .get(0))
    }

    /// Up to `limit` users of `which` after (`after_id`, `after_tenant`) in (id, tenant) order.
    pub fn batch(
        &mut self,
        which: &Selection,
        after: (i64, &str),
        limit: i64,
    ) -> Result<Vec<SourceUser>, SourceError> {
        let schema_columns = match self.schema {
            Schema::Core => "NULL::boolean, alternatemobilenumber, countrycode",
            Schema::Mgramseva => "defaultpwdchgd, NULL::varchar, NULL::varchar",
        };
        let users_sql = format!(
            "SELECT id, uuid::text, tenantid, username, password, coalesce(type, ''), name, mobilenumber, \
             emailid, altcontactnumber, pan, aadhaarnumber, guardian, guardianrelation, gender, \
             coalesce(active, false), coalesce(accountlocked, false), accountlockeddate, dob, createddate, \
             lastmodifieddate, {schema_columns}, salutation, locale, signature, photo, bloodgroup, \
             identificationmark, createdby, lastmodifiedby, pwdexpirydate \
             FROM eg_user \
             WHERE {SELECTED} AND (id, tenantid) > ($3, $4) \
             ORDER BY id, tenantid LIMIT $5"
        );
        let mut tx = self.client.build_transaction().read_only(true).start()?;
        let rows = tx.query(
            users_sql.as_str(),
            &[
                &which.tenant,
                &which.modified_since,
                &after.0,
                &after.1,
                &limit,
            ],
        )?;
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let roles = tx.query(
            "SELECT user_id, user_tenantid, role_code, role_tenantid FROM eg_userrole_v1 \
             WHERE user_id = ANY($1) ORDER BY role_tenantid, role_code",
            &[&ids],
        )?;
        let addresses = tx.query(
            "SELECT userid, tenantid, type, address, city, pincode FROM eg_user_address \
             WHERE userid = ANY($1) ORDER BY type",
            &[&ids],
        )?;
        tx.commit()?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut user = self.user(row)?;
            let (id, tenant) = (user.id, user.tenant.clone());
            let mine = |r: &Row| r.get::<_, i64>(0) == id && r.get::<_, String>(1) == tenant;
            user.roles = roles
                .iter()
                .filter(|r| mine(r))
                .map(|r| (r.get(2), r.get(3)))
                .collect();
            let mut homes = Vec::new();
            for r in addresses.iter().filter(|r| mine(r)) {
                homes.push(SourceAddress {
                    kind: r.get(2),
                    address: self.open(&user, "eg_user_address.address", r.get(3))?,
                    city: r.get(4),
                    pincode: r.get(5),
                });
            }
            user.addresses = homes;
            users.push(user);
        }
        Ok(users)
    }

    fn user(&self, r: &Row) -> Result<SourceUser, SourceError> {
        let mut user = SourceUser {
            id: r.get(0),
            uuid: r
                .get::<_, Option<String>>(1)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            tenant: r.get(2),
            user_name: Zeroizing::new(String::new()),
            password_hash: r.get(4),
            user_type: r.get(5),
            name: None,
            mobile_number: None,
            email: None,
            alt_contact_number: None,
            pan: None,
            aadhaar_number: None,
            guardian: None,
            guardian_relation: r.get(13),
            gender: r.get(14),
            active: r.get(15),
            account_locked: r.get(16),
            account_locked_ms: r.get(17),
            dob_ms: epoch_ms(r.get(18)),
            created_ms: epoch_ms(r.get(19)),
            last_modified_ms: epoch_ms(r.get(20)),
            default_password_changed: r.get(21),
            alt_mobile_number: r.get(22),
            country_code: r.get(23),
            salutation: r.get(24),
            locale: r.get(25),
            signature: r.get(26),
            photo: r.get(27),
            blood_group: r.get(28),
            identification_mark: r.get(29),
            created_by: r.get(30),
            last_modified_by: r.get(31),
            password_expiry_ms: epoch_ms(r.get(32)),
            roles: Vec::new(),
            addresses: Vec::new(),
        };
        user.user_name = self.open(&user, "username", r.get(3))?.unwrap_or_default();
        user.name = self.open(&user, "name", r.get(6))?;
        user.mobile_number = self.open(&user, "mobilenumber", r.get(7))?;
        user.email = self.open(&user, "emailid", r.get(8))?;
        user.alt_contact_number = self.open(&user, "altcontactnumber", r.get(9))?;
        user.pan = self.open(&user, "pan", r.get(10))?;
        user.aadhaar_number = self.open(&user, "aadhaarnumber", r.get(11))?;
        user.guardian = self.open(&user, "guardian", r.get(12))?;
        Ok(user)
    }

    /// A PII column: a ciphertext opened, a plain value (a column the deployment's policy does not seal)
    /// taken as it is; the raw value is wiped either way.
    fn open(
        &self,
        user: &SourceUser,
        column: &'static str,
        value: Option<String>,
    ) -> Result<Pii, SourceError> {
        let Some(value) = value.map(Zeroizing::new) else {
            return Ok(None);
        };
        if !looks_sealed(&value) {
            return Ok(Some(value));
        }
        self.keys
            .decrypt(&value)
            .map(Some)
            .map_err(|source| SourceError::Sealed {
                id: user.id,
                tenant: user.tenant.clone(),
                column,
                source,
            })
    }
}

/// A `timestamp` column as epoch milliseconds, read as UTC.
fn epoch_ms(at: Option<PrimitiveDateTime>) -> Option<i64> {
    at.map(|t| {
        let t = t.assume_utc();
        t.unix_timestamp() * 1000 + i64::from(t.millisecond())
    })
}
