//! The `digit-user` binary: parse the command line, load the configuration, dispatch.

use std::process::ExitCode;

use clap::Parser;
use digit_user::cli::admin;
use digit_user::cli::{
    AdminCommand, Cli, Command, ImportCommand, JournalCommand, MessagesCommand, ServeArgs,
};
use digit_user::config::{ProcessEnv, Settings};
use digit_user::startup::{Application, shutdown_signal};
use digit_user::telemetry;

/// jemalloc rather than glibc malloc: with 100,000 live OTP session actors it holds 1.7 KB of resident
/// memory per session where glibc held 2.0-2.2 KB (size classes without per-chunk headers, less
/// fragmentation between long-lived actors and per-request garbage); see README "Performance".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => serve(&cli.serve),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::CheckConfig(args)) => check_config(&args),
        Some(Command::Openapi) => {
            print!("{}", digit_user::http::openapi::json());
            ExitCode::SUCCESS
        }
        Some(Command::Admin(AdminCommand::CreateUser(args))) => match load(&args.serve) {
            Ok(settings) => report(admin::create_user(args, settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Unlock(args))) => match load(&args.serve) {
            Ok(settings) => report(admin::unlock(args, settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::ClusterStatus(args))) => match load(&args.serve) {
            Ok(settings) => report(digit_user::cli::cluster::status(
                &args,
                &settings,
                actors::Clock::System.now_ms(),
            )),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Audit(args))) => match load(&args.serve) {
            Ok(settings) => report(digit_user::cli::audit::trail(&args, &settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::RotateKeys(args))) => match load(&args.serve) {
            Ok(settings) => report(digit_user::cli::keys::rotate(&args, &settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Sessions(args))) => match load(&args.serve) {
            Ok(settings) => report(digit_user::cli::sessions::run(&args, &settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Rebalance(_))) => {
            fail(digit_user::cli::REBALANCE_RETIRED, 2)
        }
        Some(Command::Admin(AdminCommand::Journal(JournalCommand::Check(args)))) => {
            match load(&args.serve) {
                Ok(settings) => report(digit_user::cli::journal::check(&settings)),
                Err(code) => code,
            }
        }
        Some(Command::Admin(AdminCommand::Backup(args))) => match load(&args.serve) {
            Ok(settings) => report(digit_user::cli::backup::backup(&args, &settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Restore(args))) => match load(&args.serve) {
            Ok(settings) => report(digit_user::cli::backup::restore(&args, &settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Import(args))) => match &args.command {
            None => match load(&args.source.serve) {
                Ok(settings) => report(digit_user::cli::import::import(&args, &settings)),
                Err(code) => code,
            },
            Some(ImportCommand::Verify(verify)) => match load(&verify.source.serve) {
                Ok(settings) => report(digit_user::cli::import::verify(verify, &settings)),
                Err(code) => code,
            },
        },
        Some(Command::Admin(AdminCommand::Outbox(args))) => match load(&args.serve) {
            Ok(settings) => report(admin::outbox(settings)),
            Err(code) => code,
        },
        Some(Command::Admin(AdminCommand::Messages(MessagesCommand::Import(args)))) => {
            match load(&args.serve) {
                Ok(settings) => {
                    let dir = args.dir.clone().unwrap_or_else(|| {
                        match settings.otp.messages_dir.trim() {
                            "" => "config/messages".into(),
                            dir => dir.into(),
                        }
                    });
                    report(digit_user::cli::messages::import(
                        &args.file,
                        &dir,
                        &args.modules,
                        args.locale.as_deref(),
                        &settings,
                    ))
                }
                Err(code) => code,
            }
        }
    }
}

/// Prints an admin command's line, or fails with exit code 1.
fn report(result: anyhow::Result<String>) -> ExitCode {
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        // the chain of causes on one line: "context: cause: its cause"
        Err(e) => fail(&format!("{e:#}"), 1),
    }
}

fn load(args: &ServeArgs) -> Result<Settings, ExitCode> {
    let settings = Settings::load(&args.overrides()).map_err(|e| fail(&e.to_string(), 2))?;
    telemetry::init(&settings.log);
    Ok(settings)
}

fn serve(args: &ServeArgs) -> ExitCode {
    let settings = match load(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, &ProcessEnv, actors::Clock::System)
            .map_err(|e| e.to_string())?;
        app.run_until(shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

fn check_config(args: &ServeArgs) -> ExitCode {
    let settings = match Settings::load(&args.overrides()) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string(), 2),
    };
    if let Err(e) = settings.masking_policy() {
        return fail(&e.to_string(), 2);
    }
    match settings.catalogs() {
        Ok((roles, _)) => {
            let state = match settings.tenants.state_level.trim() {
                "" => String::new(),
                state => format!(", state {state}"),
            };
            println!(
                "configuration ok: public {} internal {} data dir {} ({} common roles{state})",
                settings.http.public_addr,
                settings.http.internal_addr,
                settings.storage.data_dir.display(),
                roles.len_for("")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string(), 2),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}
