//! Offline commands for approvers and operators: `gateway verify` checks a credential file with
//! a trust bundle (no network, no database); `gateway trust show|verify` inspects a bundle.
//! The verdict is computed by the same `vc::verify` code the API uses.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use vc::trust::TrustBundle;
use vc::verify::{CheckResult, verify_credential_logged};

/// Options of `gateway verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The credential (JSON).
    pub file: PathBuf,
    /// Trust bundle (JSON) listing the network's nodes and signing keys.
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// Province root key the bundle must be signed by (did:key). Default: the node's
    /// configured trust root.
    #[arg(long)]
    pub root: Option<String>,
    /// A status list credential of the issuing node (as served at the URL in the credential's
    /// `credentialStatus`); give both the revocation and the suspension list. Needs --trust.
    #[arg(long = "status", value_name = "FILE")]
    pub status: Vec<PathBuf>,
    /// The credential's inclusion proof in its issuing node's transparency log (as
    /// `GET /v1/certificates/{id}/proof` answers it): checks the `logged` line. Needs --trust.
    #[arg(long, value_name = "FILE")]
    pub proof: Option<PathBuf>,
    /// Treat every skipped check as a failure.
    #[arg(long)]
    pub strict: bool,
    /// Print the verdict as JSON ({"valid", "checks", "errors"}).
    #[arg(long)]
    pub json: bool,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<DateTime<Utc>>,
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
}

/// A bundle is only trusted when its signature checks against the root key.
pub fn load_bundle(path: &Path, root: &str) -> anyhow::Result<TrustBundle> {
    vc::trust::verify_bundle(&read_json(path)?, root)
        .with_context(|| format!("{} is not signed by {root}", path.display()))
}

/// Exit 0 valid, 1 not valid, 2 usage or I/O error.
pub fn verify(args: VerifyArgs, default_root: impl FnOnce() -> anyhow::Result<String>) -> ExitCode {
    match run_verify(args, default_root) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_verify(
    args: VerifyArgs,
    default_root: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<bool> {
    let credential = read_json(&args.file)?;
    let bundle = match &args.trust {
        Some(path) => {
            let root = match args.root {
                Some(r) => r,
                None => default_root()
                    .context("--trust needs the province root key: pass --root did:key:…")?,
            };
            Some(load_bundle(path, &root)?)
        }
        None => None,
    };
    let now = args.at.unwrap_or_else(Utc::now);
    // Without status lists not_revoked is skipped (a failure only with --strict).
    let status = status_lookup(&args.status, &credential, bundle.as_ref(), now)?;
    let proof = args.proof.as_deref().map(read_json).transpose()?;
    let verdict = verify_credential_logged(
        &credential,
        bundle.as_ref(),
        now,
        status,
        proof.as_ref(),
        args.strict,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        let mark = |c: CheckResult| match c {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "FAIL",
            CheckResult::Skipped => "skipped",
        };
        println!(
            "{}: {}",
            args.file.display(),
            if verdict.valid { "VALID" } else { "NOT VALID" }
        );
        println!("  signature           {}", mark(verdict.checks.signature));
        println!(
            "  issuer_trusted      {}",
            mark(verdict.checks.issuer_trusted)
        );
        println!(
            "  in_validity_period  {}",
            mark(verdict.checks.in_validity_period)
        );
        println!("  not_revoked         {}", mark(verdict.checks.not_revoked));
        println!("  logged              {}", mark(verdict.checks.logged));
        for e in &verdict.errors {
            println!("  - {}: {}", e.code, e.message);
        }
    }
    Ok(verdict.valid)
}

/// The status lists given with `--status`, each checked (signed by the credential's issuing
/// node, trusted, current) before it may answer.
fn status_lookup(
    files: &[PathBuf],
    credential: &Value,
    bundle: Option<&TrustBundle>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<vc::verify::StatusLookup<'static>>> {
    if files.is_empty() {
        return Ok(None);
    }
    let bundle =
        bundle.context("--status needs --trust: a status list is only as good as its signer")?;
    let node = vc::status_list::credential_node(credential)
        .context("the credential names no issuing node (issuer.node)")?;
    let mut lists = Vec::new();
    for file in files {
        let list = vc::status_list::verify_list_credential(&read_json(file)?, bundle, &node, now)
            .with_context(|| format!("status list {}", file.display()))?;
        lists.push(list);
    }
    Ok(Some(vc::status_list::status_lookup(lists)))
}

/// `gateway trust show FILE`: what a bundle says (its signature is not checked).
pub fn show(file: &Path) -> anyhow::Result<()> {
    let json = read_json(file)?;
    let mut unsigned = json.clone();
    if let Some(obj) = unsigned.as_object_mut() {
        obj.remove("proof");
    }
    let bundle: TrustBundle = serde_json::from_value(unsigned).context("not a trust bundle")?;
    println!(
        "trust bundle version {} issued {}",
        bundle.version,
        bundle.issued.to_rfc3339()
    );
    println!("network base URL: {}", bundle.network_base_url);
    println!(
        "signed by: {}",
        json["proof"]["verificationMethod"]
            .as_str()
            .unwrap_or("(no proof)")
    );
    for node in &bundle.nodes {
        println!(
            "node {} (tier {}) {}  exchange {}",
            node.region, node.tier, node.name, node.urls.exchange
        );
        for key in &node.keys {
            let until = key.valid_until.map_or("-".to_owned(), |t| t.to_rfc3339());
            println!(
                "  key {} {:?} valid {} .. {}",
                key.did,
                key.status,
                key.valid_from.to_rfc3339(),
                until
            );
        }
    }
    Ok(())
}
