//! `gateway push`: send native batch files to a node's exchange listener, as a departmental
//! system would, with a progress bar. Each file is one batch whose client batch id is derived
//! from its content, so running the same push again (after a crash or a timeout) returns the
//! stored receipts instead of storing anything twice. Unavailable nodes are retried with backoff.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::client::ExchangeClient;
use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Adapter id, e.g. market-regulation (see `gateway adapters list`).
    #[arg(long)]
    pub adapter: String,
    /// Batch file(s); a directory means every file in it. Each file is one batch.
    #[arg(long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Validate only: the node answers exactly as for a real push and stores nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Principal whose dev client certificate to use (<pki_dir>/clients/<id>.crt|key).
    #[arg(long)]
    pub principal: Option<String>,
    /// Client certificate chain (PEM); overrides --principal.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// CA that signed the node's certificate. Default: <pki_dir>/ca.crt.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Exchange listener URL. Default: https://localhost:<exchange.listen port>.
    #[arg(long)]
    pub url: Option<String>,
    /// Attempts per batch when the node is unavailable (503 or no connection).
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// Print every receipt as one JSON line on standard output.
    #[arg(long)]
    pub json: bool,
}

fn files(args: &PushArgs) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in &args.files {
        if f.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(f)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// Push every file; fails when a batch could not be processed or a record was not stored.
pub async fn run(args: PushArgs, config: &Config) -> anyhow::Result<()> {
    let adapter = crate::serve::load_adapters(config)?
        .into_iter()
        .find(|a| a.id() == args.adapter)
        .with_context(|| format!("no adapter '{}'", args.adapter))?;
    let (cert, key) = match (&args.cert, &args.key, &args.principal) {
        (Some(c), Some(k), _) => (c.clone(), k.clone()),
        (None, None, Some(p)) => (
            config.pki_dir.join(format!("clients/{p}.crt")),
            config.pki_dir.join(format!("clients/{p}.key")),
        ),
        _ => anyhow::bail!("give --principal ID, or both --cert and --key"),
    };
    let ca = args.ca.clone().unwrap_or_else(|| config.client_ca());
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("https://localhost:{}", config.exchange.listen.port()));
    let client = ExchangeClient::new(&url, &ca, &cert, &key)?;
    let files = files(&args)?;

    // Count records locally first: the bar's length, and a batch that cannot be read fails
    // here, before anything is sent.
    let mut batches = Vec::new();
    for path in &files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let records = adapter.decode(&bytes).map(|r| r.len()).unwrap_or(0);
        batches.push((path.clone(), bytes, records));
    }
    let total: usize = batches.iter().map(|b| b.2).sum();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}) {msg}",
        )
        .expect("valid template"),
    );

    let mut sum = [0u64; 4]; // accepted, duplicate, version_conflict, rejected
    let mut failed = Vec::new();
    for (path, bytes, records) in batches {
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let batch_id = format!("push-{}", &hex::encode(digest.as_ref())[..32]);
        match send(&client, &args, &batch_id, bytes).await {
            Ok(receipt) => {
                let s = &receipt["summary"];
                for (i, k) in ["accepted", "duplicate", "version_conflict", "rejected"]
                    .iter()
                    .enumerate()
                {
                    sum[i] += s[k].as_u64().unwrap_or(0);
                }
                if args.json {
                    bar.suspend(|| {
                        println!("{}", serde_json::to_string(&receipt).unwrap_or_default())
                    });
                }
            }
            Err(e) => {
                bar.suspend(|| eprintln!("{}: {e:#}", path.display()));
                failed.push(path);
            }
        }
        bar.inc(records as u64);
    }
    bar.finish_and_clear();
    let [accepted, duplicate, conflict, rejected] = sum;
    let verb = if args.dry_run {
        "would be accepted"
    } else {
        "accepted"
    };
    eprintln!(
        "{} file(s): {accepted} {verb}, {duplicate} duplicate, {conflict} version conflict, {rejected} rejected",
        files.len()
    );
    anyhow::ensure!(
        failed.is_empty(),
        "{} file(s) could not be pushed",
        failed.len()
    );
    anyhow::ensure!(
        conflict + rejected == 0,
        "{} record(s) were not stored; see the receipts (--json)",
        conflict + rejected
    );
    Ok(())
}

/// One batch, retried with exponential backoff while the node is unavailable.
async fn send(
    client: &ExchangeClient,
    args: &PushArgs,
    batch_id: &str,
    body: Vec<u8>,
) -> anyhow::Result<Value> {
    let path = format!(
        "/v1/ingest/{}{}",
        args.adapter,
        if args.dry_run { "?dry_run=true" } else { "" }
    );
    let headers = [
        ("content-type", "application/octet-stream"),
        ("x-client-batch-id", batch_id),
    ];
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=args.attempts.max(1) {
        let last = attempt == args.attempts.max(1);
        match client
            .send(http::Method::POST, &path, &headers, body.clone())
            .await
        {
            Ok(resp) if resp.status.is_success() => return resp.json(),
            Ok(resp) if resp.status.as_u16() == 503 && !last => {}
            Ok(resp) => {
                let problem = resp.json().unwrap_or(Value::Null);
                anyhow::bail!(
                    "{} {}: {}",
                    resp.status,
                    problem["code"].as_str().unwrap_or(""),
                    problem["detail"].as_str().unwrap_or("")
                );
            }
            Err(e) if last => return Err(e),
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
    unreachable!("the last attempt returns")
}
