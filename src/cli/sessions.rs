//! `admin sessions`: a user's live sessions from the running service, one JSON session a line — or, with
//! `--end ID` / `--end-all`, ends them and says how many ended.

use crate::cli::SessionsArgs;
use crate::config::Settings;

/// The sessions, one JSON object a line; or `{"user", "ended"}` after ending some.
pub fn run(args: &SessionsArgs, settings: &Settings) -> anyhow::Result<String> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| super::internal_url(settings));
    let base = url.trim_end_matches('/');
    let mut query = vec![("user", args.user.clone())];
    if let Some(id) = &args.end {
        query.push(("session", id.clone()));
    }
    let ending = args.end.is_some() || args.end_all;
    let endpoint = match ending {
        true => format!("{base}/admin/sessions/_end"),
        false => format!("{base}/admin/sessions"),
    };
    actix_web::rt::System::new().block_on(async {
        let body =
            super::internal::call(&super::internal::client()?, ending, &endpoint, &query).await?;
        Ok(match ending {
            true => body.to_string(),
            false => super::internal::lines(&body, "sessions"),
        })
    })
}
