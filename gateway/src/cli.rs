//! The `gateway` command line. Every subcommand reads the same configuration (defaults →
//! `--config` file or ./gateway.toml → `GATEWAY_*` environment), so what `serve` uses is what
//! `principals` and `db` manage.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::principals::{self, Principal};

#[derive(Parser, Debug)]
#[command(
    name = "gateway",
    version,
    about = "Government e-services data exchange gateway: ingest case records from departmental networks, store them in PostgreSQL, serve them over mutual TLS.",
    long_about = "Government e-services data exchange gateway.\n\n\
Departmental systems push case records (办件) in their own formats through one adapter per \
departmental network; the gateway normalizes them to one canonical schema, validates them \
against the catalog and the national codes, and stores them durably in PostgreSQL.\n\n\
Configuration: built-in defaults, then --config FILE (or ./gateway.toml), then GATEWAY_* \
environment variables with __ between nested keys (e.g. GATEWAY_DATABASE__URL). Without a \
database URL the gateway uses a private PostgreSQL it manages itself (see `gateway db`).\n\n\
Quick start:\n  gateway pki init          # dev CA, node and client certificates, principals\n  \
gateway serve             # the exchange listener on https://127.0.0.1:8443",
    after_help = "Docs: README.md, docs/configuration.md, docs/errors.md, ARCHITECTURE.md"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./gateway.toml when it exists.
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node: start the embedded database if needed, migrate, serve the exchange listener.
    Serve {
        /// After binding, write {"exchange": "host:port", "pid": N} to this file.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage the embedded private PostgreSQL (used when no database URL is configured).
    #[command(subcommand)]
    Db(DbCommand),
    /// Development PKI.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Manage principals: who a client certificate stands for.
    #[command(subcommand)]
    Principals(PrincipalsCommand),
    /// Manage staff accounts (approvers, operators, supervisors) who log in on the web listener.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Push a native batch file (or many) to a node's exchange listener, with a progress bar.
    Push(crate::push::PushArgs),
    /// Start a small network of five nodes on loopback (province, city, two counties, a
    /// township), each its own process and database; --smoke runs a scenario and exits.
    Demo(crate::demo::DemoArgs),
    /// Rejected records and payloads kept for replay.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// The adapters this build has.
    #[command(subcommand)]
    Adapters(AdaptersCommand),
    /// Verify a certificate credential file offline. Exit 0 valid, 1 not valid, 2 usage or I/O
    /// error. Without --trust the issuer cannot be checked, so the answer is "not valid" but the
    /// signature verdict is still given.
    Verify(crate::offline::VerifyArgs),
    /// Inspect or check a trust bundle.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Reference data versions (catalog, region table, trust bundle) published by the
    /// province and propagated down the tree.
    #[command(subcommand)]
    Reference(crate::reference::cli::ReferenceCommand),
    /// The node's transparency log of issued certificates and status changes.
    #[command(subcommand)]
    Log(crate::transparency::audit::LogCommand),
    /// Signing-key rotation: a new key, trusted once the province's new bundle arrives.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// Sharing grants of conditional resources (published by the province).
    #[command(subcommand)]
    Grants(crate::grants::GrantsCommand),
    /// The tamper-evident audit trail of lookups.
    #[command(subcommand)]
    Audit(crate::audit::verify::AuditCommand),
    /// The transparency log's fork guard: its state after a restore, and the operator's
    /// resolutions (docs/backup.md).
    #[command(subcommand, name = "log-fork")]
    LogFork(crate::transparency::fork::ForkCommand),
    /// Completed cases moved to archive segment files with signed hash manifests.
    #[command(subcommand)]
    Archive(crate::archive::cli::ArchiveCommand),
}

#[derive(Subcommand, Debug)]
pub enum TrustCommand {
    /// Print the nodes and keys a bundle lists.
    Show { file: PathBuf },
    /// Check a bundle's signature against the province root key; exit 1 if it does not verify.
    Verify {
        file: PathBuf,
        /// did:key of the province root.
        #[arg(long)]
        root: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Initialize (first time) and start the private PostgreSQL; reuse it if already running.
    Start,
    /// Stop the private PostgreSQL.
    Stop,
    /// Show whether it is initialized and running, its data folder, port and log.
    Status,
    /// Print the database URL the gateway uses (contains the password: handle with care).
    Url,
    /// Take a base backup of the running private PostgreSQL into an empty folder (with the
    /// superuser password); with `wal_archive_dir` set, it is the start of a point-in-time
    /// restore (docs/backup.md).
    Backup {
        /// Destination folder (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a base backup into the configured base directory (which must hold no cluster),
    /// replay the WAL archive up to --to-time, start it, and hold the transparency log's
    /// signing until the parent confirmed it (docs/backup.md).
    Restore {
        /// A folder written by `gateway db backup`.
        #[arg(long)]
        from: PathBuf,
        /// Replay up to this instant (RFC 3339, e.g. 2026-11-25T09:30:00+08:00); default:
        /// everything archived.
        #[arg(long)]
        to_time: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// The WAL archive; default `database.embedded.wal_archive_dir`.
        #[arg(long)]
        archive: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PkiCommand {
    /// Create a dev CA, the node's server certificate and client certificates for the dev
    /// principals, and register those principals in the database.
    Init {
        /// Output folder (git-ignored under certs/).
        #[arg(long, default_value = "certs/dev")]
        out: PathBuf,
        /// Replace an existing CA in --out.
        #[arg(long)]
        force: bool,
        /// Only write files; do not touch the database.
        #[arg(long)]
        no_register: bool,
        /// Create a whole network instead: one CA, and a folder per node of the topology file
        /// (JSON: network_base_url, nodes with region, name, exchange, web, parent) holding its
        /// certificates, signing key, dev clients, the shared trust bundle and a gateway.toml.
        #[arg(long)]
        topology: Option<PathBuf>,
    },
    /// Renew a principal's client certificate (a new key, valid for --days) from the
    /// intermediate CA of its role; the node records the new end date on first use.
    Renew {
        /// The principal (registered on this node: its role picks the CA).
        #[arg(long)]
        principal: String,
        /// The folder holding `roles/{role}.key` (default: the PKI folder, or its parent for a
        /// node of a `--topology` network).
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        #[arg(long, default_value_t = crate::pki::CLIENT_CERT_DAYS)]
        days: i64,
    },
    /// Revoke a client or node certificate (at the province): re-sign the role CAs' CRLs and
    /// publish them as reference data; every node refuses the certificate at the TLS handshake.
    Revoke(crate::crl::RevokeArgs),
    /// Re-issue the CRLs with a new nextUpdate (at the province), or `--show` those in force.
    Crl(crate::crl::CrlArgs),
}

#[derive(Subcommand, Debug)]
pub enum PrincipalsCommand {
    /// Register a principal.
    Add(AddPrincipal),
    /// Suspend a principal: its requests are refused from the next one on.
    Suspend { id: String },
    /// Re-activate a suspended principal.
    Resume { id: String },
    /// Retire a principal for good (its certificate is refused from the next request on, on
    /// every listener and process of the node; it cannot be resumed).
    Retire { id: String },
    /// List principals.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Register (or update) the principals listed in a principals.json written by `pki init`.
    Import { file: PathBuf },
}

#[derive(Args, Debug)]
pub struct AddPrincipal {
    /// Principal id, as in the certificate's SAN URI urn:gateway:principal:{id}.
    pub id: String,
    /// system | approver | operator | supervisor | peer | public
    #[arg(long)]
    pub role: String,
    /// Department id (required for systems), e.g. market_regulation.
    #[arg(long)]
    pub department: Option<String>,
    /// 12-digit region code: the subtree this principal may act for.
    #[arg(long)]
    pub region: String,
    /// Display name.
    #[arg(long, default_value = "")]
    pub name: String,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add an account; the password (at least 10 characters) is read from standard input.
    Add {
        username: String,
        /// approver | operator | supervisor
        #[arg(long)]
        role: String,
        /// 12-digit region code the account acts for.
        #[arg(long)]
        region: String,
        #[arg(long)]
        department: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Suspend an account and end its sessions.
    Suspend { username: String },
    /// Re-activate an account.
    Resume { username: String },
    /// List accounts.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum QuarantineCommand {
    /// List quarantined records (open ones unless --all).
    List {
        #[arg(long)]
        adapter: Option<String>,
        /// Include records that a replay has since stored.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-run quarantined records against the reference data in force now (e.g. after a
    /// catalog or mapping fix). Records that pass are stored once and leave the quarantine.
    Replay {
        /// Quarantine ids to replay (repeatable); default: every open one (or --adapter's).
        #[arg(long = "id")]
        ids: Vec<uuid::Uuid>,
        #[arg(long)]
        adapter: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdaptersCommand {
    /// List adapters with their department and native format.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Set up logging; what it returns must live until the process exits (it writes what is
/// left). `serve` logs through [`crate::log_writer`]: a request never waits on stderr. Other
/// commands write warnings straight to stderr.
fn init_logging(config: &Config, serving: bool) -> Option<crate::log_writer::Guard> {
    use tracing_subscriber::EnvFilter;
    // Commands other than `serve` log warnings only, in text, to stderr; their output is stdout.
    let level = if serving {
        config.log.level.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("GATEWAY_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    if !serving {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return None;
    }
    let (writer, guard) = crate::log_writer::start(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if config.log.format == "json" {
        builder
            .fmt_fields(crate::log_format::JsonMembers)
            .event_format(crate::log_format::JsonLines)
            .init();
    } else {
        builder.init();
    }
    Some(guard)
}

/// Run a command; most report failure as an error, `verify` decides its own exit code.
pub async fn main(cli: Cli) -> std::process::ExitCode {
    if let Command::Verify(args) = cli.command {
        let config_file = cli.config.clone();
        let default_root = move || Config::load(config_file.as_deref())?.trust_root();
        return crate::offline::verify(args, default_root);
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    // The payload-shape limits the adapters apply are process-wide: set once, for `serve` and
    // `quarantine replay` alike.
    adapters::limits::configure(adapters::limits::Limits {
        max_depth: config.limits.max_depth,
        max_string_bytes: config.limits.max_string_bytes,
    });
    let _log = init_logging(&config, matches!(cli.command, Command::Serve { .. }));
    match cli.command {
        Command::Serve { ready_file } => crate::serve::run(config, ready_file).await,
        Command::Migrate => {
            crate::db::connect(&config).await?;
            println!(
                "migrations applied (latest {})",
                crate::db::migrate::latest()
            );
            Ok(())
        }
        Command::Db(cmd) => db(cmd, &config).await,
        Command::Pki(PkiCommand::Renew {
            principal,
            ca_dir,
            days,
        }) => {
            let pool = crate::db::connect(&config).await?;
            let db = pool.get().await?;
            let p = principals::get(&db, &principal)
                .await?
                .with_context(|| format!("no principal '{principal}' on this node"))?;
            let ca_dir = ca_dir.unwrap_or_else(|| {
                let own = config.pki_dir.join("roles").join(format!("{}.key", p.role));
                if own.exists() {
                    config.pki_dir.clone()
                } else {
                    config.pki_dir.join("..")
                }
            });
            let until = crate::pki::renew(&ca_dir, &config.pki_dir, &principal, &p.role, days)?;
            println!(
                "renewed {principal}: {} valid until {until}",
                config
                    .pki_dir
                    .join("clients")
                    .join(format!("{principal}.crt"))
                    .display()
            );
            Ok(())
        }
        Command::Pki(PkiCommand::Revoke(args)) => crate::crl::revoke_cmd(args, &config).await,
        Command::Pki(PkiCommand::Crl(args)) => crate::crl::crl_cmd(args, &config).await,
        Command::Pki(PkiCommand::Init {
            out,
            force,
            no_register,
            topology: Some(topology),
        }) => {
            let _ = no_register;
            let text = std::fs::read(&topology)
                .with_context(|| format!("cannot read {}", topology.display()))?;
            let topology: crate::pki::Topology =
                serde_json::from_slice(&text).context("not a topology file")?;
            crate::pki::init_network(
                &out,
                &topology,
                &domain::regions::RegionTable::bundled()?,
                force,
            )?;
            println!(
                "wrote a network of {} nodes to {}",
                topology.nodes.len(),
                out.display()
            );
            Ok(())
        }
        Command::Pki(PkiCommand::Init {
            out,
            force,
            no_register,
            topology: None,
        }) => {
            let dev = crate::pki::default_principals();
            let regions = domain::regions::RegionTable::bundled()?;
            let region = domain::codes::region::RegionCode::parse(&config.node.region)?;
            let level = regions.level(&region).ok_or_else(|| {
                anyhow::anyhow!("node.region {region} is not in the region table")
            })?;
            let host = match config.exchange.listen.ip() {
                ip if ip.is_loopback() || ip.is_unspecified() => "localhost".to_owned(),
                ip => ip.to_string(),
            };
            let node = crate::pki::NodeSpec {
                region: config.node.region.clone(),
                name: config.node.name.clone(),
                tier: level.tier(),
                exchange_url: format!("https://{host}:{}", config.exchange.listen.port()),
            };
            crate::pki::init(&out, &node, &dev, force)?;
            println!(
                "wrote CA, node and {} client certificates to {}",
                dev.len(),
                out.display()
            );
            if !no_register {
                let pool = crate::db::connect(&config).await?;
                let db = pool.get().await?;
                for p in &dev {
                    principals::add(&db, &to_principal(p.clone()), true).await?;
                }
                println!(
                    "registered principals: {}",
                    dev.iter()
                        .map(|p| p.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(())
        }
        Command::Principals(cmd) => principals_cmd(cmd, &config).await,
        Command::Users(cmd) => users_cmd(cmd, &config).await,
        Command::Quarantine(cmd) => quarantine_cmd(cmd, &config).await,
        Command::Push(args) => crate::push::run(args, &config).await,
        Command::Reference(cmd) => crate::reference::cli::run(cmd, &config).await,
        Command::Log(cmd) => crate::transparency::audit::run(cmd, &config).await,
        Command::Keys(cmd) => crate::keys::run(cmd, &config).await,
        Command::Grants(cmd) => crate::grants::run(cmd, &config).await,
        Command::Audit(cmd) => crate::audit::verify::run(cmd, &config).await,
        Command::LogFork(cmd) => crate::transparency::fork::run(cmd, &config).await,
        Command::Archive(cmd) => crate::archive::cli::run(cmd, &config).await,
        Command::Demo(args) => crate::demo::run(args, &config).await,
        Command::Verify(_) => unreachable!("handled in main"),
        Command::Trust(TrustCommand::Show { file }) => crate::offline::show(&file),
        Command::Trust(TrustCommand::Verify { file, root }) => {
            let bundle = crate::offline::load_bundle(&file, &root)?;
            println!(
                "{}: signed by {root}, version {}, {} node(s)",
                file.display(),
                bundle.version,
                bundle.nodes.len()
            );
            Ok(())
        }
        Command::Adapters(AdaptersCommand::List { json }) => {
            let list: Vec<_> = crate::serve::load_adapters(&config)?
                .iter()
                .map(|a| serde_json::json!({"id": a.id(), "department": a.department(), "format": a.format()}))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for a in &list {
                    println!(
                        "{:<20} {:<20} {}",
                        a["id"].as_str().unwrap_or(""),
                        a["department"].as_str().unwrap_or(""),
                        a["format"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}

fn to_principal(p: crate::pki::DevPrincipal) -> Principal {
    Principal {
        id: p.id,
        role: p.role,
        department: p.department,
        region_code: p.region,
        status: "active".into(),
        display_name: p.name,
        cert_not_after: None,
    }
}

async fn db(cmd: DbCommand, config: &Config) -> anyhow::Result<()> {
    if config.database.url.is_some() && !matches!(cmd, DbCommand::Url) {
        anyhow::bail!("database.url is configured: the embedded PostgreSQL is not used");
    }
    let pg = crate::db::embedded::pg_config(&config.database.embedded);
    let name = config.database.embedded.database.clone();
    let restored = matches!(cmd, DbCommand::Restore { .. });
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        match cmd {
            DbCommand::Backup { out } => {
                let b = pgembed::base_backup(&pg, &out)?;
                println!(
                    "base backup in {} (password: {})",
                    b.base.display(),
                    b.password.display()
                );
            }
            DbCommand::Restore {
                from,
                to_time,
                archive,
            } => {
                let archive = archive.or_else(|| pg.wal_archive_dir.clone()).context(
                    "no WAL archive: give --archive or set database.embedded.wal_archive_dir",
                )?;
                let target = to_time.map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string());
                let s = pgembed::restore(&pg, &from, &archive, target.as_deref())?;
                println!(
                    "restored to {}: running, pid {:?}, port {}, data {}",
                    target.as_deref().unwrap_or("the end of the archive"),
                    s.pid,
                    s.port,
                    s.data_dir.display()
                );
            }
            DbCommand::Start => {
                let s = pgembed::start(&pg)?;
                pgembed::ensure_database(&pg, &name)?;
                println!(
                    "running: pid {:?}, port {}, data {}",
                    s.pid,
                    s.port,
                    s.data_dir.display()
                );
            }
            DbCommand::Stop => {
                pgembed::stop(&pg)?;
                println!("stopped");
            }
            DbCommand::Status => {
                let s = pgembed::status(&pg)?;
                println!(
                    "initialized: {}\nrunning: {}\npid: {}\nport: {}\ndata: {}\nlog: {}",
                    s.initialized,
                    s.running,
                    s.pid.map_or("-".into(), |p| p.to_string()),
                    s.port,
                    s.data_dir.display(),
                    s.log_file.display()
                );
            }
            DbCommand::Url => println!("{}", pgembed::url(&pg, &name)?),
        }
        Ok(())
    })
    .await?
    .or_else(|e| {
        if let Some(url) = &config.database.url {
            println!("{url}");
            return Ok(());
        }
        Err(e)
    })?;
    if restored {
        // The restored log may be behind what the parent cosigned: sign nothing until the
        // parent confirmed it (transparency::fork).
        let pool = crate::db::connect(config).await?;
        let db = pool.get().await?;
        let size = crate::transparency::store::size(&db).await?;
        crate::transparency::fork::record(
            &db,
            "hold",
            None,
            Some(size),
            None,
            "restored from a backup by `gateway db restore`",
        )
        .await?;
        println!("transparency log: signing held at size {size} until the parent confirms it");
    }
    Ok(())
}

async fn principals_cmd(cmd: PrincipalsCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    match cmd {
        PrincipalsCommand::Add(a) => {
            let p = Principal {
                id: a.id,
                role: a.role,
                department: a.department,
                region_code: a.region,
                status: "active".into(),
                display_name: a.name,
                cert_not_after: None,
            };
            principals::validate(&p, &domain::regions::RegionTable::bundled()?)?;
            principals::add(&db, &p, false).await?;
            println!("added {}", p.id);
        }
        PrincipalsCommand::Import { file } => {
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let list: Vec<crate::pki::DevPrincipal> = serde_json::from_slice(&text)?;
            let regions = domain::regions::RegionTable::bundled()?;
            for p in &list {
                let p = to_principal(p.clone());
                principals::validate(&p, &regions)?;
                principals::add(&db, &p, true).await?;
            }
            println!("imported {} principal(s)", list.len());
        }
        PrincipalsCommand::Suspend { id } => status(&db, &id, "suspended").await?,
        PrincipalsCommand::Resume { id } => status(&db, &id, "active").await?,
        PrincipalsCommand::Retire { id } => status(&db, &id, "retired").await?,
        PrincipalsCommand::List { json } => {
            let list = principals::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for p in list {
                    println!(
                        "{:<24} {:<10} {:<20} {} {:<9} {}",
                        p.id,
                        p.role,
                        p.department.as_deref().unwrap_or("-"),
                        p.region_code,
                        p.status,
                        p.display_name
                    );
                }
            }
        }
    }
    Ok(())
}

async fn status(db: &deadpool_postgres::Client, id: &str, status: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        principals::set_status(db, id, status).await?,
        "no principal '{id}', or it is retired (retirement is final)"
    );
    println!("{id}: {status}");
    Ok(())
}

async fn users_cmd(cmd: UsersCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    match cmd {
        UsersCommand::Add {
            username,
            role,
            region,
            department,
            name,
        } => {
            let regions = domain::regions::RegionTable::bundled()?;
            let code = domain::codes::region::RegionCode::parse(&region)?;
            anyhow::ensure!(
                regions.get(&code).is_some(),
                "region {code} is not in the region table"
            );
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let account = crate::accounts::Account {
                username: username.clone(),
                role,
                department,
                region_code: region,
                status: "active".into(),
                display_name: name,
            };
            crate::accounts::add(&db, &account, password).await?;
            println!("added {username}");
        }
        UsersCommand::Suspend { username } => {
            anyhow::ensure!(
                crate::accounts::set_status(&db, &username, "suspended").await?,
                "no user '{username}'"
            );
            println!("{username}: suspended");
        }
        UsersCommand::Resume { username } => {
            anyhow::ensure!(
                crate::accounts::set_status(&db, &username, "active").await?,
                "no user '{username}'"
            );
            println!("{username}: active");
        }
        UsersCommand::List { json } => {
            let list = crate::accounts::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for a in list {
                    println!(
                        "{:<20} {:<10} {} {:<9} {}",
                        a.username, a.role, a.region_code, a.status, a.display_name
                    );
                }
            }
        }
    }
    Ok(())
}

async fn quarantine_cmd(cmd: QuarantineCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    match cmd {
        QuarantineCommand::List { adapter, all, json } => {
            let db = pool.get().await?;
            let rows = db
                .query(
                    "SELECT id, received_at, adapter, principal_id, position, source_location, case_no, reason, errors,
                            replay_attempts, replayed_at, replay_record_id
                     FROM quarantine
                     WHERE ($1::text IS NULL OR adapter = $1) AND ($2 OR replayed_at IS NULL)
                     ORDER BY received_at, position",
                    &[&adapter, &all],
                )
                .await?;
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.get::<_, uuid::Uuid>(0), "received_at": r.get::<_, chrono::DateTime<chrono::Utc>>(1),
                        "adapter": r.get::<_, String>(2), "principal": r.get::<_, String>(3),
                        "position": r.get::<_, Option<i32>>(4), "location": r.get::<_, Option<String>>(5),
                        "case_no": r.get::<_, Option<String>>(6), "reason": r.get::<_, String>(7),
                        "errors": r.get::<_, serde_json::Value>(8), "replay_attempts": r.get::<_, i32>(9),
                        "replayed_at": r.get::<_, Option<chrono::DateTime<chrono::Utc>>>(10),
                        "replay_record_id": r.get::<_, Option<uuid::Uuid>>(11),
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for q in &list {
                    let first = &q["errors"][0];
                    println!(
                        "{} {:<20} {:<28} {:<16} {} {}",
                        q["id"].as_str().unwrap_or(""),
                        q["adapter"].as_str().unwrap_or(""),
                        q["case_no"].as_str().unwrap_or("-"),
                        q["reason"].as_str().unwrap_or(""),
                        first["code"].as_str().unwrap_or(""),
                        first["path"].as_str().unwrap_or("")
                    );
                }
                eprintln!("{} record(s)", list.len());
            }
        }
        QuarantineCommand::Replay { ids, adapter, json } => {
            let reference = {
                let db = pool.get().await?;
                crate::reference::Reference::load(config, &db).await?
            };
            let node_region = domain::codes::region::RegionCode::parse(&config.node.region)?;
            let issuer = crate::certificates::Issuer::load(config, &node_region)?;
            issuer.select(reference.trust());
            let filter = crate::ingest::replay::Filter {
                ids,
                adapter,
                forward: config.federation.parent.is_some(),
            };
            let adapters = crate::serve::load_adapters(config)?;
            let results = crate::ingest::replay::replay(
                &pool,
                &adapters,
                &reference,
                &issuer,
                &node_region,
                &filter,
                config.ingest.max_records_per_batch,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            }
            let count = |o: &str| results.iter().filter(|r| r.outcome == o).count();
            eprintln!(
                "{} replayed: {} stored, {} duplicate, {} still rejected, {} conflict, {} unavailable",
                results.len(),
                count("stored"),
                count("duplicate"),
                count("still_rejected"),
                count("conflict"),
                count("unavailable")
            );
        }
    }
    Ok(())
}
