//! Tests of the configuration layers: order, Spring names, unknown keys, ranges.

use std::path::PathBuf;

use actors::domain::password::PolicyKind;

use super::*;
use crate::config::SinkKind;

fn env(pairs: &[(&str, &str)]) -> MapEnv {
    MapEnv::of(pairs)
}

fn load(
    files: &[(&str, &str)],
    vars: &[(&str, &str)],
    overrides: Overrides,
) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = overrides;
    let mut disk = dir.path().join("absent.toml");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        if *name == "default.toml" {
            disk = path;
        } else {
            overrides.config_file = Some(path);
        }
    }
    Settings::load_from(&overrides, &disk, &env(vars))
}

#[test]
fn the_shipped_file_alone_carries_every_key() {
    // no serde defaults exist: this only loads if config/default.toml has every key
    let s = load(&[], &[], Overrides::default()).unwrap();
    assert_eq!(s.http.public_addr, "0.0.0.0:8080");
    assert_eq!(s.http.internal_addr, "0.0.0.0:8081");
    assert_eq!(s.storage.data_dir, PathBuf::from("./data"));
    assert_eq!(s.lockout.max_invalid_attempts, 5);
    assert_eq!(s.user.search_default_size, 10);
    assert_eq!(
        s.user.create_roles,
        ["SUPERUSER", "CSR", "TL_APPROVER", "TL_CEMP"]
    );
    assert_eq!(s.password.policy, PolicyKind::Digit);
    assert!(s.catalogs().is_ok());
    let policy = s.masking_policy().unwrap();
    assert_eq!(policy.rules.len(), 5, "DIGIT's five role groups");
    assert!(s.privacy.abac_enabled);
}

#[test]
fn every_spring_name_is_documented_in_the_shipped_file() {
    for (name, key) in SPRING_NAMES {
        assert!(DEFAULT_TOML.contains(name), "{name} is not documented");
        assert!(
            DEFAULT_TOML.contains(&format!("-> {key}")),
            "{key} is not documented"
        );
    }
}

#[test]
fn layers_apply_in_order() {
    let files = [
        ("default.toml", "[user]\nsearch_default_size = 11\n"),
        ("extra.toml", "[user]\nsearch_default_size = 12\n"),
    ];
    assert_eq!(
        load(&files[..1], &[], Overrides::default())
            .unwrap()
            .user
            .search_default_size,
        11
    );
    assert_eq!(
        load(&files, &[], Overrides::default())
            .unwrap()
            .user
            .search_default_size,
        12
    );
    let with_env = load(
        &files,
        &[("DIGIT_USER__USER__SEARCH_DEFAULT_SIZE", "13")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(with_env.user.search_default_size, 13);
    let with_spring = load(
        &files,
        &[
            ("DIGIT_USER__USER__SEARCH_DEFAULT_SIZE", "13"),
            ("EGOV_USER_SEARCH_DEFAULT_SIZE", "14"),
        ],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(with_spring.user.search_default_size, 14);
}

#[test]
fn spring_names_work_in_the_digit_table_and_as_env() {
    let table = load(
        &[(
            "extra.toml",
            "[digit]\n\"max.invalid.login.attempts\" = 3\n",
        )],
        &[],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(table.lockout.max_invalid_attempts, 3);
    let env_wins = load(
        &[(
            "extra.toml",
            "[digit]\n\"max.invalid.login.attempts\" = 3\n",
        )],
        &[("MAX_INVALID_LOGIN_ATTEMPTS", "4")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(env_wins.lockout.max_invalid_attempts, 4);
    let s = load(
        &[],
        &[
            ("ACCESS_TOKEN_VALIDITY_IN_MINUTES", "60"),
            ("EGOV_MOBILE_VALIDATION_DEFAULT_REGEX", "^[0-9]{10}$"),
        ],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(s.tokens.access_validity_minutes, 60);
    assert_eq!(s.mobile.default_regex, "^[0-9]{10}$");
}

#[test]
fn the_state_level_tenant_takes_both_of_digits_names_and_must_be_a_state() {
    let table = load(
        &[(
            "extra.toml",
            "[digit]\n\"egov.state.level.tenant.id\" = \"pb\"\n",
        )],
        &[],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(table.tenants.state_level, "pb");
    let core = load(
        &[],
        &[("STATE_LEVEL_TENANT_ID", "pg")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(core.tenants.state_level, "pg");
    let mgramseva = load(
        &[],
        &[("EGOV_STATE_LEVEL_TENANT_ID", "pb")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(mgramseva.tenants.state_level, "pb");
    let err = load(
        &[],
        &[("EGOV_STATE_LEVEL_TENANT_ID", "pb.amritsar")],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tenants.state_level"), "{err}");
}

#[test]
fn trusted_proxies_are_networks_or_addresses() {
    let s = load(
        &[(
            "extra.toml",
            "[http]\ntrusted_proxies = [\"10.20.0.0/16\", \"192.0.2.7\"]\n",
        )],
        &[],
        Overrides::default(),
    )
    .unwrap();
    let p = crate::http::client_ip::TrustedProxies::from_settings(&s.http);
    assert_eq!(p.networks.len(), 2);
    assert!(p.enabled);
    let err = load(
        &[(
            "extra.toml",
            "[http]\ntrusted_proxies = [\"10.20.0.0/33\"]\n",
        )],
        &[],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("http.trusted_proxies"), "{err}");
}

#[test]
fn flags_win_over_everything() {
    let overrides = Overrides {
        data_dir: Some("/tmp/x".into()),
        public_addr: Some("127.0.0.1:1".into()),
        ..Default::default()
    };
    let s = load(
        &[],
        &[("DIGIT_USER__STORAGE__DATA_DIR", "/tmp/y")],
        overrides,
    )
    .unwrap();
    assert_eq!(s.storage.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(s.http.public_addr, "127.0.0.1:1");
}

#[test]
fn unknown_keys_fail_naming_the_key() {
    let err = load(
        &[("extra.toml", "[http]\npublik_addr = \"x\"\n")],
        &[],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("publik_addr"), "{err}");
    let err = load(
        &[],
        &[("DIGIT_USER__HTTP__WORKERZ", "2")],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("workerz"), "{err}");
    let err = load(
        &[("extra.toml", "[nosuch]\na = 1\n")],
        &[],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("nosuch"), "{err}");
    let err = load(
        &[("extra.toml", "[digit]\n\"max.invalid.login.attemps\" = 3\n")],
        &[],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("digit.max.invalid.login.attemps"), "{err}");
}

#[test]
fn bad_values_and_missing_files_fail() {
    let err = load(
        &[],
        &[("DIGIT_USER__USER__SEARCH_DEFAULT_SIZE", "lots")],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("search_default_size"), "{err}");
    let missing = Overrides {
        config_file: Some("/nonexistent/digit.toml".into()),
        ..Default::default()
    };
    assert!(matches!(
        load(&[], &[], missing),
        Err(ConfigError::MissingFile(_))
    ));
    assert!(matches!(
        load(
            &[("extra.toml", "[password]\nmin_length = 20\n")],
            &[],
            Overrides::default()
        ),
        Err(ConfigError::Range(_))
    ));
    for (extra, why) in [
        ("[cluster]\nordinal = -2\n", "cluster.ordinal"),
        (
            "[kafka]\nbrokers = \"k:9092\"\n[cluster]\npeer_template = \"pod:8081\"\n",
            "{ordinal}",
        ),
        ("[cluster]\nforward_timeout_ms = 10\n", "forward_timeout_ms"),
        ("[otp]\nmax_attempts_total = 2\n", "max_attempts_total"),
        (
            "[otp]\nmax_sources_per_number = 0\n",
            "max_sources_per_number",
        ),
        ("[security]\nanswer_floor_ms = 60000\n", "answer_floor_ms"),
    ] {
        let err = load(&[("extra.toml", extra)], &[], Overrides::default())
            .expect_err(extra)
            .to_string();
        assert!(err.contains(why), "{extra}: {err}");
    }
    let bad_catalog = load(
        &[(
            "extra.toml",
            "[catalog]\nroles_file = \"/nonexistent/roles.toml\"\n",
        )],
        &[],
        Overrides::default(),
    )
    .unwrap();
    assert!(bad_catalog.catalogs().is_err());
}

mod kafka;
