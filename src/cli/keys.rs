//! `admin rotate-keys`: a new sealing key, token signing key and OTP pepper put in force on every pod without
//! logging anyone out or killing a live code, and every value re-sealed under the new sealing key.
//!
//! With `--add` a fresh key is first appended to each list where it is kept (the data dir or a writable
//! `*_FILE`; a list from the environment is changed by the operator). Then, through each pod's internal
//! listener (the pods a pod of the group announced, else the one `--url` names): every pod loads the keys
//! (they open, verify, check; none is used yet) — and only once every pod holds the same key ids, every
//! pod promotes the highest of each list; then every pod re-seals its values, with a progress bar. The
//! report says which sealing keys nothing is sealed under any more (drop them from the list) and until
//! when the previous token key verifies.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::store::BackupReader;
use actors::store::reseal::KeyCensus;
use actors::store::writes::TreeId;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::cli::RotateKeysArgs;
use crate::config::{ProcessEnv, Settings};
use crate::secrets::{OTP_PEPPER, SEALING_KEYS, TOKEN_KEY, rotate::add_key};

/// Rotates; the report.
pub fn rotate(args: &RotateKeysArgs, settings: &Settings) -> anyhow::Result<String> {
    let mut report = Vec::new();
    if args.add {
        for name in [SEALING_KEYS, TOKEN_KEY, OTP_PEPPER] {
            let id = add_key(name, &settings.storage.data_dir, &ProcessEnv)?;
            report.push(format!("{}: key {id} added", name.var));
        }
    }
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| super::internal_url(settings));
    actix_web::rt::System::new().block_on(async {
        let client = super::internal::client()?;
        let pods = super::cluster::pod_urls(&client, &url).await?;
        let mut loaded = BTreeMap::new();
        for pod in &pods {
            let status = call(&client, pod, "/admin/keys/_load?promote=false").await?;
            loaded.insert(pod.clone(), ids(&status));
        }
        let first = loaded.values().next().cloned().unwrap_or_default();
        if let Some((pod, other)) = loaded.iter().find(|(_, ids)| **ids != first) {
            bail!(
                "{pod} loaded the key ids {other:?}, another pod {first:?}: the secrets have not reached \
                 every pod yet (a Kubernetes Secret takes up to a minute); nothing was promoted — run again"
            );
        }
        for pod in &pods {
            call(&client, pod, "/admin/keys/_load?promote=true").await?;
        }
        report.push(format!(
            "{} pod(s) use sealing key {}, token key {}, OTP pepper {}",
            pods.len(),
            first[0].iter().max().unwrap_or(&0),
            first[1].iter().max().unwrap_or(&0),
            first[2].iter().max().unwrap_or(&0),
        ));
        for pod in &pods {
            if let Err(e) = call(&client, pod, "/admin/keys/_reseal").await
                && !e.to_string().contains("RESEAL_RUNNING")
            {
                return Err(e);
            }
        }
        watch(&client, &pods).await?;
        let pictures = settled(&client, &pods).await?;
        report.extend(summary(&pictures));
        Ok::<_, anyhow::Error>(())
    })?;
    if settings.journal_on() {
        let (latest, superseded) = journal_census(settings)?;
        report.push(format!(
            "journal (every partition from its earliest offset): latest values by sealing key {latest:?}; \
             {superseded} earlier records under another key remain until the topic is compacted (a replay \
             overwrites them without opening them)"
        ));
    }
    for file in &args.backups {
        let census = backup_census(file)?;
        report.push(format!(
            "backup {}: values by sealing key {:?} — it needs those keys to be restored",
            file.display(),
            census.latest()
        ));
    }
    Ok(report.join("\n"))
}

/// The journal's latest values by sealing key over every partition, and the superseded records under
/// another key.
fn journal_census(settings: &Settings) -> anyhow::Result<(BTreeMap<u32, usize>, usize)> {
    let log = crate::journal::open_log(settings).context("opening the journal")?;
    let (mut latest, mut superseded) = (BTreeMap::new(), 0);
    // a partition at a time: its keys are its own, so the census of one is all memory holds
    for partition in 0..i32::from(settings.cluster.partitions) {
        let mut census = KeyCensus::default();
        log.read(partition, None, &mut |_, message| {
            if let Some((tag, key)) = message.key.split_first()
                && let Some(tree) = TreeId::from_tag(*tag)
            {
                census.see(tree, key, message.value.as_deref());
            }
            Ok(())
        })?;
        for (id, n) in census.latest() {
            *latest.entry(id).or_insert(0) += n;
        }
        superseded += census.superseded();
    }
    Ok((latest, superseded))
}

/// The values of the backup file `path` by sealing key.
fn backup_census(path: &std::path::Path) -> anyhow::Result<KeyCensus> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BackupReader::open(std::io::BufReader::new(file), None)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut census = KeyCensus::default();
    while let Some(op) = reader.next_entry()? {
        census.see(op.tree, &op.key, op.value.as_deref());
    }
    Ok(census)
}

/// The key ids a pod's picture lists: sealing, token, pepper.
fn ids(picture: &Value) -> [Vec<u64>; 3] {
    let list = |name: &str| {
        picture["keys"][name]["ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    [list("sealing"), list("token"), list("pepper")]
}

async fn call(client: &reqwest::Client, pod: &str, path: &str) -> anyhow::Result<Value> {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (
            path,
            query
                .split_once('=')
                .map(|(k, v)| vec![(k, v.to_owned())])
                .unwrap_or_default(),
        ),
        None => (path, Vec::new()),
    };
    let post = path.starts_with("/admin/keys/_");
    super::internal::call(client, post, &format!("{pod}{path}"), &query).await
}

/// Waits for every pod's re-sealing to end, drawing the values re-sealed so far.
async fn watch(client: &reqwest::Client, pods: &[String]) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("re-sealing {bar:40} {pos}/{len} values ({elapsed})")
            .expect("a valid template"),
    );
    loop {
        let mut pictures = Vec::with_capacity(pods.len());
        for pod in pods {
            pictures.push((pod.clone(), call(client, pod, "/admin/keys").await?));
        }
        let sum = |field: &str| {
            pictures
                .iter()
                .filter_map(|(_, p)| p["reseal"][field].as_u64())
                .sum::<u64>()
        };
        bar.set_length(sum("total"));
        bar.set_position(sum("scanned"));
        if pictures
            .iter()
            .all(|(_, p)| p["reseal"]["running"] != Value::Bool(true))
        {
            bar.finish();
            for (pod, p) in &pictures {
                if let Some(error) = p["reseal"]["error"].as_str() {
                    bail!("re-sealing on {pod} stopped: {error} — run rotate-keys again to resume");
                }
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every pod's picture, counted, once no value is left under an old sealing key, or after 30 s: a standby's
/// copies are re-sealed by their owner and reach it through the journal, a moment after the owner's
/// re-sealing. (A count scans a pod's whole store: asked every 2 s.)
async fn settled(
    client: &reqwest::Client,
    pods: &[String],
) -> anyhow::Result<Vec<(String, Value)>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut pictures = Vec::with_capacity(pods.len());
        for pod in pods {
            pictures.push((
                pod.clone(),
                call(client, pod, "/admin/keys?count=true").await?,
            ));
        }
        let old = pictures.iter().any(|(_, p)| {
            let current = p["keys"]["sealing"]["current"].to_string();
            p["sealedByKey"]
                .as_object()
                .is_some_and(|by_key| by_key.keys().any(|id| *id != current))
        });
        if !old || tokio::time::Instant::now() >= deadline {
            return Ok(pictures);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// What the rotation leaves: values by sealing key over every pod, the keys that may go.
fn summary(pictures: &[(String, Value)]) -> Vec<String> {
    let mut by_key: BTreeMap<u64, u64> = BTreeMap::new();
    let mut resealed = 0;
    for (_, p) in pictures {
        resealed += p["reseal"]["resealed"].as_u64().unwrap_or(0);
        for (id, n) in p["sealedByKey"].as_object().into_iter().flatten() {
            *by_key.entry(id.parse().unwrap_or(0)).or_insert(0) += n.as_u64().unwrap_or(0);
        }
    }
    let Some((_, first)) = pictures.first() else {
        return Vec::new();
    };
    let current = first["keys"]["sealing"]["current"].as_u64().unwrap_or(0);
    let mut lines = vec![format!(
        "{resealed} values re-sealed; values on the pods (standby copies included) by sealing key now: \
         {by_key:?}"
    )];
    let idle: Vec<u64> = ids(first)[0]
        .iter()
        .copied()
        .filter(|id| *id != current && !by_key.contains_key(id))
        .collect();
    if !idle.is_empty() {
        lines.push(format!(
            "nothing here is sealed under key(s) {idle:?} any more: once backups taken before now are no \
             longer needed, drop them from {}",
            SEALING_KEYS.var
        ));
    }
    for key in first["keys"]["tokenKeys"].as_array().into_iter().flatten() {
        if let Some(until) = key["verifiesUntil"].as_i64() {
            lines.push(format!(
                "token key {} verifies until {until} (epoch s); drop it from {} after that",
                key["kid"].as_str().unwrap_or("?"),
                TOKEN_KEY.var
            ));
        }
    }
    lines
}
