//! `admin audit`: a user's audit trail from the running service, one JSON event a line.

use crate::cli::AuditArgs;
use crate::config::Settings;

/// The events, one JSON object a line.
pub fn trail(args: &AuditArgs, settings: &Settings) -> anyhow::Result<String> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| super::internal_url(settings));
    let mut query = vec![
        ("user", args.user.clone()),
        ("limit", args.limit.to_string()),
    ];
    if let Some(kind) = &args.kind {
        query.push(("kind", kind.clone()));
    }
    if let Some(from) = args.from {
        query.push(("from", from.to_string()));
    }
    if let Some(to) = args.to {
        query.push(("to", to.to_string()));
    }
    let endpoint = format!("{}/admin/audit", url.trim_end_matches('/'));
    actix_web::rt::System::new().block_on(async {
        let body =
            super::internal::call(&super::internal::client()?, false, &endpoint, &query).await?;
        Ok(super::internal::lines(&body, "events"))
    })
}
