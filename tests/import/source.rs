//! egov-user's tables on a real PostgreSQL, filled as egov-user would (PII sealed by egov-enc-service's scheme
//! as `enc_service.py` writes it, bcrypt hashes, city and state roles, addresses, a locked citizen), read back
//! through `import::source`: core's and mGramSeva's schema, a batch at a time, PII opened.

use actors::domain::roles::RoleCatalog;
use actors::domain::{BloodGroup, Gender, UserType};
use digit_user::import::enc::{EncError, EncKeys, KeyRow, MasterKey};
use digit_user::import::map::{Skip, record};
use digit_user::import::source::{Schema, Selection, Source, SourceError};
use serde_json::json;

use crate::postgres::{Postgres, egov_user_ddl};

const PASSWORD: &str = "the enc-service's master password";

/// Every user of `tenant` and its cities ("" = all), modified or not.
fn every(tenant: &str) -> Selection {
    Selection {
        tenant: tenant.to_owned(),
        modified_since: None,
    }
}

/// `plaintexts` sealed under one key; the key table and the sealed values.
fn sealed(plaintexts: &[&str]) -> (EncKeys, Vec<String>) {
    let v = crate::vectors_of(PASSWORD, Some(&json!(plaintexts)));
    let master = MasterKey::derive(
        PASSWORD,
        v["master"]["salt"].as_str().unwrap(),
        v["master"]["initialvector"].as_str().unwrap(),
    )
    .unwrap();
    let rows: Vec<KeyRow> = serde_json::from_value(v["keys"].clone()).unwrap();
    let values = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["ciphertext"].as_str().unwrap().to_owned())
        .collect();
    (EncKeys::open(&master, &rows).unwrap(), values)
}

/// The role catalog the service ships.
fn catalog() -> RoleCatalog {
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/roles.toml")).unwrap();
    RoleCatalog::new(&toml::from_str(&file).unwrap())
}

/// An active user with nothing but its keys, name, type and password hash.
fn bare_user(
    db: &mut postgres::Client,
    id: i64,
    uuid: &str,
    tenant: &str,
    user_name: &str,
    kind: &str,
) {
    db.execute(
        "INSERT INTO eg_user (id, uuid, tenantid, username, password, type, active) \
         VALUES ($1, $2, $3, $4, $5, $6, true)",
        &[&id, &uuid, &tenant, &user_name, &BCRYPT, &kind],
    )
    .unwrap();
}

const BCRYPT: &str = "$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z5S8A1V2nZB2X0N3q3Q2l5Gm";

#[test]
fn core_s_users_come_out_in_id_order_with_roles_addresses_and_pii_opened() {
    let pg = Postgres::start();
    let url = pg.database("egov_core", &egov_user_ddl("core"));
    let (keys, s) = sealed(&[
        "EMP-ASHA",
        "Asha Devi",
        "9876543210",
        "asha@example.org",
        "#12, Mall Road",
        "Ravi Kumar",
    ]);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.execute(
        "INSERT INTO eg_user (id, uuid, tenantid, username, password, name, mobilenumber, emailid, type, gender, \
         active, accountlocked, createddate, lastmodifieddate, dob, salutation, locale, bloodgroup, createdby, \
         alternatemobilenumber, countrycode) VALUES (11, 'a1c8e4b2-0d0e-4c53-9b1e-8d7c0a1b2c3d', 'pb.amritsar', \
         $1, $2, $3, $4, $5, 'EMPLOYEE', 1, true, false, '2024-01-02 03:04:05', '2024-02-03 04:05:06.789', \
         '1990-05-06 00:00:00', 'MS', 'en_IN', 'B_POSITIVE', 7, '9123400000', '+91')",
        &[&s[0], &BCRYPT, &s[1], &s[2], &s[3]],
    )
    .unwrap();
    // a citizen whose username the deployment's policy left plain; locked
    db.execute(
        "INSERT INTO eg_user (id, uuid, tenantid, username, password, name, mobilenumber, type, gender, active, \
         accountlocked, accountlockeddate) VALUES (12, 'b2d9f5c3-1e1f-4d64-8c2f-9e8d1b2c3d4e', 'pb', \
         '9876543210', $1, $2, $3, 'CITIZEN', 2, true, true, 1700000000000)",
        &[&BCRYPT, &s[5], &s[2]],
    )
    .unwrap();
    // another state's user: left out when only pb is asked for
    bare_user(
        &mut db,
        13,
        "c3e0a6d4-2f20-4e75-9d30-af9e2c3d4e5f",
        "mz.city",
        "MZ-1",
        "EMPLOYEE",
    );
    db.batch_execute(&format!(
        "INSERT INTO eg_userrole_v1 VALUES ('GRO', 'pb.amritsar', 11, 'pb.amritsar', now()), \
         ('EMPLOYEE', 'pb.amritsar', 11, 'pb.amritsar', now()), ('SUPERUSER', 'pb', 11, 'pb.amritsar', now()), \
         ('CITIZEN', 'pb', 12, 'pb', now()); \
         INSERT INTO eg_user_address (id, createddate, createdby, type, address, city, pincode, userid, tenantid) \
         VALUES (1, now(), 1, 'PERMANENT', '{}', 'Amritsar', '143001', 11, 'pb.amritsar')",
        s[4]
    ))
    .unwrap();

    let mut source = Source::connect(&url, keys).unwrap();
    assert_eq!(source.schema(), Schema::Core);
    let users = source.batch(&every("pb"), (0, ""), 10).unwrap();
    assert_eq!(
        users.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![11, 12],
        "pb and its cities, in id order"
    );
    let (emp, citizen) = (&users[0], &users[1]);
    assert_eq!(emp.uuid, "a1c8e4b2-0d0e-4c53-9b1e-8d7c0a1b2c3d");
    assert_eq!(emp.user_name.as_str(), "EMP-ASHA");
    assert_eq!(emp.password_hash, BCRYPT);
    assert_eq!(emp.name.as_deref().map(|s| s.as_str()), Some("Asha Devi"));
    assert_eq!(
        emp.mobile_number.as_deref().map(|s| s.as_str()),
        Some("9876543210")
    );
    assert_eq!(
        emp.email.as_deref().map(|s| s.as_str()),
        Some("asha@example.org")
    );
    assert_eq!((emp.user_type.as_str(), emp.gender), ("EMPLOYEE", Some(1)));
    assert_eq!(emp.created_ms, Some(1_704_164_645_000));
    assert_eq!(emp.last_modified_ms, Some(1_706_933_106_789));
    assert_eq!(
        emp.default_password_changed, None,
        "core has no such column"
    );
    assert_eq!(
        (
            emp.salutation.as_deref(),
            emp.locale.as_deref(),
            emp.blood_group.as_deref(),
            emp.created_by,
            emp.alt_mobile_number.as_deref(),
            emp.country_code.as_deref(),
            emp.dob_ms,
        ),
        (
            Some("MS"),
            Some("en_IN"),
            Some("B_POSITIVE"),
            Some(7),
            Some("9123400000"),
            Some("+91"),
            Some(641_952_000_000)
        )
    );
    assert!(emp.password_expiry_ms.is_some(), "egov-user's default: now");
    assert_eq!(
        emp.roles,
        vec![
            ("SUPERUSER".to_owned(), "pb".to_owned()),
            ("EMPLOYEE".to_owned(), "pb.amritsar".to_owned()),
            ("GRO".to_owned(), "pb.amritsar".to_owned()),
        ],
        "by role tenant, then code"
    );
    assert_eq!(emp.addresses.len(), 1);
    assert_eq!(
        (
            emp.addresses[0].kind.as_str(),
            emp.addresses[0].address.as_deref().map(|s| s.as_str()),
            emp.addresses[0].pincode.as_deref()
        ),
        ("PERMANENT", Some("#12, Mall Road"), Some("143001"))
    );
    assert_eq!(citizen.user_name.as_str(), "9876543210", "plain, as stored");
    assert_eq!(
        citizen.name.as_deref().map(|s| s.as_str()),
        Some("Ravi Kumar")
    );
    assert!(citizen.account_locked);
    assert_eq!(citizen.account_locked_ms, Some(1_700_000_000_000));
    assert_eq!(citizen.roles, vec![("CITIZEN".to_owned(), "pb".to_owned())]);

    // as records of ours: the same id and uuid, egov-user's codes read as it meant them, roles named
    let rec = record(emp, Schema::Core, &catalog(), 0).unwrap();
    assert_eq!(
        (
            rec.id,
            rec.uuid.as_str(),
            rec.user_name.as_str(),
            rec.user_type
        ),
        (
            11,
            "a1c8e4b2-0d0e-4c53-9b1e-8d7c0a1b2c3d",
            "EMP-ASHA",
            UserType::Employee
        )
    );
    assert_eq!(rec.password_hash.as_deref(), Some(BCRYPT));
    assert_eq!(
        (rec.gender, rec.blood_group),
        (Some(Gender::Female), Some(BloodGroup::BPositive))
    );
    assert_eq!(
        rec.permanent_address
            .as_ref()
            .and_then(|a| a.city.as_deref()),
        Some("Amritsar")
    );
    assert_eq!(
        rec.roles
            .iter()
            .map(|r| (r.code.as_str(), r.tenant_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("EMPLOYEE", "pb.amritsar"),
            ("GRO", "pb.amritsar"),
            ("SUPERUSER", "pb")
        ]
    );
    assert_eq!(rec.roles[0].name, "Employee", "named from the catalog");
    assert_eq!(
        (rec.created_date, rec.last_modified_date),
        (1_704_164_645_000, 1_706_933_106_789)
    );
    let rec = record(citizen, Schema::Core, &catalog(), 0).unwrap();
    assert!(
        rec.account_locked && rec.default_pwd_changed,
        "locked; core forces no password change"
    );

    // resumed after the first: the second only; every tenant: the other state's too
    let after = source.batch(&every("pb"), (11, "pb.amritsar"), 10).unwrap();
    assert_eq!(after.iter().map(|u| u.id).collect::<Vec<_>>(), vec![12]);
    assert_eq!(source.batch(&every(""), (0, ""), 10).unwrap().len(), 3);
    assert_eq!(source.batch(&every("pb"), (0, ""), 1).unwrap().len(), 1);
}

#[test]
fn mgramseva_s_fork_is_told_apart_and_a_value_another_key_sealed_names_its_user_and_column() {
    let pg = Postgres::start();
    let url = pg.database("egov_fork", &egov_user_ddl("fork"));
    let (keys, s) = sealed(&["Meena"]);
    let (_, other_key) = sealed(&["Somebody"]);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.execute(
        "INSERT INTO eg_user (id, uuid, tenantid, username, password, name, type, gender, active, defaultpwdchgd) \
         VALUES (21, 'd4f1b7e5-3031-4f86-8e41-b0af3d4e5f60', 'pb.lodhipur', '9123456789-1', $1, $2, 'EMPLOYEE', 3, \
         true, true)",
        &[&BCRYPT, &s[0]],
    )
    .unwrap();
    // a row with no user type: it cannot be stored, and says why
    bare_user(
        &mut db,
        22,
        "e5a2c8f6-4142-4a97-9f52-c1b04e5f6071",
        "pb.lodhipur",
        "NOTYPE",
        "",
    );
    let mut source = Source::connect(&url, keys).unwrap();
    assert_eq!(source.schema(), Schema::Mgramseva);
    let users = source.batch(&every("pb"), (0, ""), 10).unwrap();
    assert_eq!(users[0].default_password_changed, Some(true));
    assert_eq!(users[0].gender, Some(3), "TRANSGENDER in the fork");
    let rec = record(&users[0], Schema::Mgramseva, &catalog(), 0).unwrap();
    assert_eq!(rec.gender, Some(Gender::Transgender));
    assert_eq!(
        record(&users[1], Schema::Mgramseva, &catalog(), 0).unwrap_err(),
        Skip::BadType(String::new())
    );
    assert_eq!(users[0].user_name.as_str(), "9123456789-1");
    assert_eq!(
        users[0].alt_mobile_number, None,
        "no such column in the fork"
    );

    // the same value sealed by another deployment's key table (its own random key under the same id)
    db.execute(
        "UPDATE eg_user SET name = $1 WHERE id = 21",
        &[&other_key[0]],
    )
    .unwrap();
    let err = source.batch(&every("pb"), (0, ""), 10).unwrap_err();
    assert!(
        matches!(
            &err,
            SourceError::Sealed {
                id: 21,
                column: "name",
                source: EncError::Tag(896077),
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("Somebody"), "{err}");

    // a database that is not egov-user's
    let empty = pg.database("not_egov", "CREATE TABLE something (id int)");
    let (keys, _) = sealed(&[]);
    assert!(matches!(
        Source::connect(&empty, keys),
        Err(SourceError::NotEgovUser)
    ));
}
