//! `gateway reference publish|import|list`: publishing a version at the province node, loading
//! a signed envelope by hand (a node cut off from its parent), and listing what a node holds.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use clap::Subcommand;

use super::envelope::Envelope;
use super::store::{self, Stored};
use super::{Reference, envelope};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum ReferenceCommand {
    /// Publish a new version at this (province) node: sign it with the trust root key, store
    /// it; child nodes fetch it from here. Prints the signed envelope.
    Publish {
        /// catalog, regions or trust_bundle.
        kind: String,
        /// The body: a catalog file, a region table file, or a signed trust bundle.
        file: PathBuf,
        /// Version number; must be above every published version of this kind (a trust
        /// bundle's is its own `version`). Default: the next one.
        #[arg(long)]
        version: Option<i64>,
        /// When it takes effect (RFC 3339); records that occurred from then on are checked
        /// against it. Default: now.
        #[arg(long)]
        effective_from: Option<DateTime<FixedOffset>>,
        /// A correction that applies to records that occurred before its publication (its
        /// effective date may lie in the past).
        #[arg(long)]
        retroactive: bool,
        /// The trust root's PKCS#8 key (`root-key.pk8` from `gateway pki init`).
        #[arg(long)]
        root_key: PathBuf,
        /// Also write the signed envelope to this file (for `reference import` elsewhere).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Store a signed envelope (from `publish --out` or `GET /v1/reference/{kind}/{version}`).
    Import { file: PathBuf },
    /// The versions this node holds and the ones in force now.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ReferenceCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    match cmd {
        ReferenceCommand::Publish {
            kind,
            file,
            version,
            effective_from,
            retroactive,
            root_key,
            out,
        } => {
            let root = load_root_key(&root_key)?;
            let body: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?,
            )
            .with_context(|| format!("{} is not JSON", file.display()))?;
            let effective_from =
                effective_from.unwrap_or_else(|| chrono::Utc::now().fixed_offset());
            let publication = Publication {
                kind: &kind,
                body,
                version,
                effective_from,
                retroactive,
            };
            let env = publish(config, &db, &root, publication).await?;
            let json = serde_json::to_value(&env)?;
            let text = serde_json::to_string_pretty(&json)? + "\n";
            if let Some(out) = out {
                std::fs::write(&out, &text)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            print!("{text}");
            eprintln!(
                "published {kind} version {}, effective from {effective_from}{}",
                env.version,
                if retroactive { " (retroactive)" } else { "" }
            );
        }
        ReferenceCommand::Import { file } => {
            let json: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?,
            )
            .with_context(|| format!("{} is not JSON", file.display()))?;
            let env = envelope::Envelope::verify(&json, &config.trust_root()?)?;
            match store::insert(&db, &env, Some("import")).await? {
                Ok(Stored::New) => eprintln!("stored {} version {}", env.kind, env.version),
                Ok(Stored::Duplicate) => {
                    eprintln!("{} version {} was already held", env.kind, env.version)
                }
                Err(conflict) => anyhow::bail!(conflict),
            }
        }
        ReferenceCommand::List { json } => {
            let reference = Reference::load(config, &db).await?;
            if json {
                let listed = serde_json::json!({
                    "in_force": reference.in_force_now(), "held": reference.held(),
                });
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                println!("in force now: {}", reference.in_force_now());
                for m in reference.held() {
                    println!(
                        "{:<13} v{:<4} {:<9} effective {}{}",
                        m.kind,
                        m.version,
                        m.source,
                        m.effective_from.map_or("always".into(), |e| e.to_rfc3339()),
                        if m.retroactive { " retroactive" } else { "" }
                    );
                }
            }
        }
    }
    Ok(())
}

/// The trust root's key from its PKCS#8 file.
pub fn load_root_key(path: &std::path::Path) -> anyhow::Result<vc::SigningKey> {
    vc::SigningKey::from_pkcs8(
        &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a PKCS#8 Ed25519 key", path.display()))
}

/// What to publish.
pub struct Publication<'a> {
    pub kind: &'a str,
    pub body: serde_json::Value,
    /// Default: the next number (a trust bundle's own `version`).
    pub version: Option<i64>,
    pub effective_from: DateTime<FixedOffset>,
    pub retroactive: bool,
}

/// Sign `p` with the trust root and store it at this (root) node; children fetch it from here.
pub async fn publish(
    config: &Config,
    db: &tokio_postgres::Client,
    root: &vc::SigningKey,
    p: Publication<'_>,
) -> anyhow::Result<Envelope> {
    anyhow::ensure!(
        config.federation.parent.is_none(),
        "reference data is published at the network's root node; this node has a parent ({})",
        config
            .federation
            .parent
            .as_ref()
            .map_or("", |p| p.region.as_str())
    );
    let reference = Reference::load(config, db).await?;
    anyhow::ensure!(
        root.did() == reference.root_did,
        "the key given is not the trust root ({})",
        reference.root_did
    );
    let highest = reference
        .held()
        .iter()
        .filter(|m| m.kind == p.kind && m.source == "published")
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let version = match (p.version, p.kind) {
        (Some(v), _) => v,
        (None, "trust_bundle") => p.body["version"].as_i64().unwrap_or(0),
        (None, _) => highest + 1,
    };
    anyhow::ensure!(
        version > highest,
        "{} version {version} is not above the highest published ({highest})",
        p.kind
    );
    let env = Envelope::new(
        p.kind,
        version,
        p.effective_from,
        p.retroactive,
        &config.node.region,
        p.body,
    )?
    .sign(root)?;
    // The same checks every receiving node will make.
    let env = Envelope::verify(&serde_json::to_value(&env)?, &reference.root_did)?;
    if let Err(conflict) = store::insert(db, &env, None).await? {
        anyhow::bail!(conflict);
    }
    Ok(env)
}
