//! `gateway grants add|revoke|list`: sharing grants, managed at the province and published as
//! reference data (kind `grants`, signed by the trust root), so every node below enforces the
//! same set. Each change publishes the whole list as a new version, in force at once.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use domain::codes::region::RegionCode;
use domain::sharing::{Grant, GrantConsumer, GrantList, ResourceRef};

use crate::config::Config;
use crate::reference::Reference;
use crate::reference::cli::{Publication, load_root_key, publish};

#[derive(Subcommand, Debug)]
pub enum GrantsCommand {
    /// Grant a consumer a conditional resource for purposes within a region (at the province).
    Add(AddGrant),
    /// Withdraw a grant (at the province).
    Revoke {
        id: String,
        /// The trust root's PKCS#8 key.
        #[arg(long)]
        root_key: PathBuf,
    },
    /// The grants in force at this node.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct AddGrant {
    /// A stable id of the grant (e.g. the approval document number).
    #[arg(long)]
    pub id: String,
    /// The consumer: a principal or account id…
    #[arg(
        long,
        conflicts_with = "department",
        required_unless_present = "department"
    )]
    pub principal: Option<String>,
    /// …or every consumer of a department.
    #[arg(long)]
    pub department: Option<String>,
    /// The resource: a certificate type code…
    #[arg(long, conflicts_with = "item", required_unless_present = "item")]
    pub certificate_type: Option<String>,
    /// …or the case data of a catalog item (basic code).
    #[arg(long)]
    pub item: Option<String>,
    /// Purpose codes allowed, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub purpose: Vec<String>,
    /// The region subtree covered.
    #[arg(long)]
    pub scope: String,
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    /// Field groups allowed, comma-separated (default: what the catalog allows).
    #[arg(long, value_delimiter = ',')]
    pub fields: Option<Vec<String>>,
    /// The trust root's PKCS#8 key.
    #[arg(long)]
    pub root_key: PathBuf,
}

/// Add `grant` to the grants in force and publish the list (at the province).
pub async fn add(
    config: &Config,
    db: &tokio_postgres::Client,
    root_key: &std::path::Path,
    grant: Grant,
) -> anyhow::Result<i64> {
    let reference = Reference::load(config, db).await?;
    let mut list = reference.grants().clone();
    anyhow::ensure!(
        list.grants.iter().all(|g| g.id != grant.id),
        "grant {} exists already",
        grant.id
    );
    for p in &grant.purposes {
        anyhow::ensure!(
            reference.purposes().get(p).is_some(),
            "'{p}' is not a purpose code"
        );
    }
    list.grants.push(grant);
    publish_list(config, db, root_key, &list).await
}

/// Withdraw grant `id` and publish the list (at the province); `None` when there is none.
pub async fn revoke(
    config: &Config,
    db: &tokio_postgres::Client,
    root_key: &std::path::Path,
    id: &str,
) -> anyhow::Result<Option<i64>> {
    let reference = Reference::load(config, db).await?;
    let mut list = reference.grants().clone();
    let before = list.grants.len();
    list.grants.retain(|g| g.id != id);
    if list.grants.len() == before {
        return Ok(None);
    }
    Ok(Some(publish_list(config, db, root_key, &list).await?))
}

async fn publish_list(
    config: &Config,
    db: &tokio_postgres::Client,
    root_key: &std::path::Path,
    list: &GrantList,
) -> anyhow::Result<i64> {
    let root = load_root_key(root_key)?;
    let publication = Publication {
        kind: "grants",
        body: serde_json::to_value(list)?,
        version: None,
        effective_from: Utc::now().fixed_offset(),
        retroactive: false,
    };
    Ok(publish(config, db, &root, publication).await?.version)
}

pub async fn run(cmd: GrantsCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    match cmd {
        GrantsCommand::Add(a) => {
            let grant = Grant {
                id: a.id.clone(),
                consumer: match (a.principal, a.department) {
                    (Some(p), _) => GrantConsumer::Principal(p),
                    (None, Some(d)) => GrantConsumer::Department(d),
                    (None, None) => anyhow::bail!("name --principal or --department"),
                },
                resource: match (a.certificate_type, a.item) {
                    (Some(t), _) => ResourceRef::CertificateType(t),
                    (None, Some(i)) => ResourceRef::Item(i),
                    (None, None) => anyhow::bail!("name --certificate-type or --item"),
                },
                purposes: a.purpose,
                scope: RegionCode::parse(&a.scope)?,
                valid_from: a.from.unwrap_or_else(Utc::now),
                valid_until: a.until,
                fields: a.fields,
            };
            let version = add(config, &db, &a.root_key, grant).await?;
            println!("grant {} published in grants version {version}", a.id);
        }
        GrantsCommand::Revoke { id, root_key } => {
            let version = revoke(config, &db, &root_key, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no grant {id} in force"))?;
            println!("grant {id} withdrawn in grants version {version}");
        }
        GrantsCommand::List { json } => {
            let list = Reference::load(config, &db).await?.grants().clone();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for g in &list.grants {
                    println!(
                        "{} {:?} {:?} purposes {} scope {} until {}",
                        g.id,
                        g.consumer,
                        g.resource,
                        g.purposes.join(","),
                        g.scope,
                        g.valid_until.map_or("-".into(), |u| u.to_rfc3339())
                    );
                }
            }
        }
    }
    Ok(())
}
