//! `digit-user admin create-user`: bootstraps the first SUPERUSER (or any employee) straight into the data
//! dir of a stopped service, through the same registry rules as `/user/users/_createnovalidate`.
//! `digit-user admin unlock`: ends a user's lockout in the data dir of a stopped service.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, anyhow, bail};

use actors::Clock;
use actors::domain::TenantId;
use actors::domain::UserType;
use actors::domain::lockout::LockoutState;
use actors::domain::roles::RoleRequest;
use actors::domain::update::UserFields;
use actors::store::{LockMirror, Store};
use zeroize::Zeroizing;

use crate::cli::{CreateUserArgs, UnlockArgs};
use crate::config::{ProcessEnv, Settings};
use crate::http::error::ApiError;
use crate::journal::open_store;
use crate::secrets::Secrets;
use crate::service::registry::{Caller, Registry, RegistryRules, UserDraft};

/// Creates the user; the error (printed with its causes) is one line for the terminal.
pub fn create_user(args: CreateUserArgs, settings: Settings) -> anyhow::Result<String> {
    let password = read_password()?;
    let tenant = TenantId::parse(&args.tenant).context("--tenant")?;
    let user_type = UserType::parse(&args.user_type)
        .context("--type must be CITIZEN, EMPLOYEE, SYSTEM or BUSINESS")?;
    // a journaled deployment's keys come from outside: fresh ones could not read its journal
    let generate = !settings.journal_on();
    let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, generate)?;
    let store = std::sync::Arc::new(open_store(&settings, secrets.store_keys())?);
    let (roles, mobile) = settings.catalogs()?;
    let rules = RegistryRules {
        validate_name_on_create: true,
        default_password_expiry_days: settings.user.default_password_expiry_days,
        mobile_validation_workaround: false,
        password: settings.password_policy(),
        states: std::sync::Arc::new(settings.known_states(&roles, &mobile)),
        email_change: None,
    };
    let draft = UserDraft {
        user_name: Some(args.username.clone()),
        password: Some(password),
        tenant_id: Some(tenant),
        roles: Some(
            args.roles
                .iter()
                .map(|code| RoleRequest {
                    code: code.trim().to_owned(),
                    tenant_id: None,
                })
                .collect(),
        ),
        fields: UserFields {
            name: Some(args.name),
            mobile_number: Some(args.mobile),
            email_id: args.email,
            user_type: Some(user_type),
            active: Some(true),
            ..UserFields::default()
        },
        ..UserDraft::default()
    };
    let cost = settings.hash_cost();
    let result = actix_web::rt::System::new().block_on(async move {
        let hasher =
            actors::hasher::HasherPool::start(1, 1, cost, std::time::Duration::from_secs(60))?;
        let registry = Registry::new(store.clone(), hasher, roles, mobile, rules, Clock::System);
        let created = registry
            .create(draft, &Caller::default())
            .await
            .map_err(|e| {
                let api: ApiError = e.into();
                let refusals = api
                    .errors()
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.code,
                            e.description.as_deref().unwrap_or(&e.message)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                anyhow!(refusals)
            })?;
        store.flush().await?;
        Ok::<_, anyhow::Error>(created)
    })?;
    Ok(format!(
        "created {} {} (id {}, uuid {})",
        result.user_type.as_str(),
        args.username,
        result.id,
        result.uuid
    ))
}

/// Ends the lockout of the user `args` names: the stored lock and count, and the record's flag.
pub fn unlock(args: UnlockArgs, settings: Settings) -> anyhow::Result<String> {
    let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false)?;
    let store = open_store(&settings, secrets.store_keys())?;
    let user = match (&args.uuid, &args.username, &args.tenant) {
        (Some(uuid), _, _) => store.users().get_by_uuid(uuid),
        (None, Some(name), Some(tenant)) => {
            let tenant = TenantId::parse(tenant).context("--tenant")?;
            let user_type = UserType::parse(&args.user_type)
                .context("--type must be CITIZEN, EMPLOYEE, SYSTEM or BUSINESS")?;
            let tenant = if user_type == UserType::Citizen {
                tenant.state()
            } else {
                tenant
            };
            store.users().get_unique(&tenant, user_type, name)
        }
        _ => bail!("name the user with --uuid, or --username with --tenant"),
    }?
    .context("no such user")?;
    let was_locked =
        store.logins().lockout(&user.uuid)?.locked_until.is_some() || user.account_locked;
    actix_web::rt::System::new().block_on(store.save_lock(
        &user.uuid,
        &LockoutState::default(),
        LockMirror::Clear,
        Clock::System.now_ms(),
    ))?; // on disk: `save_lock` waits for the store's commit
    Ok(if was_locked {
        format!("unlocked {} {}", user.user_type.as_str(), user.uuid)
    } else {
        format!(
            "{} {} was not locked; its failed-login count is cleared",
            user.user_type.as_str(),
            user.uuid
        )
    })
}

/// The outbox of a stopped service's data dir, one line.
pub fn outbox(settings: Settings) -> anyhow::Result<String> {
    let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false)?;
    let store = Store::open(&settings.store_options(), secrets.store_keys()).map_err(|e| {
        anyhow!(
            "{e}; while the service runs ask it instead: curl http://{}/admin/outbox",
            settings.http.internal_addr.replace("0.0.0.0", "127.0.0.1")
        )
    })?;
    let s = store.outbox().summary(Clock::System.now_ms())?;
    let age = s
        .oldest_age_ms
        .map_or_else(|| "-".to_owned(), |ms| format!("{}s", ms / 1000));
    Ok(format!(
        "outbox: {} waiting, oldest {age}, most attempts {}, last error: {}",
        s.depth,
        s.max_attempts,
        s.last_error.as_deref().unwrap_or("none")
    ))
}

/// The password from standard input when piped, else prompted twice on the terminal.
fn read_password() -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = Zeroizing::new(String::new());
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
        if trimmed.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(trimmed);
    }
    let first = Zeroizing::new(rpassword::prompt_password("password: ")?);
    let second = Zeroizing::new(rpassword::prompt_password("again: ")?);
    if *first != *second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
