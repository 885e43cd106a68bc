//! Configuration: built-in defaults, then a TOML file, then `GATEWAY_*` environment variables
//! (nested keys joined by `__`, e.g. `GATEWAY_DATABASE__URL`). See `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    /// Folder of the node's PKI files (`gateway pki init --out`); the certificate paths below
    /// default to files in it.
    pub pki_dir: PathBuf,
    pub exchange: ExchangeConfig,
    pub web: WebConfig,
    pub mllp: MllpConfig,
    pub database: DatabaseConfig,
    pub ingest: IngestConfig,
    pub certificates: CertificatesConfig,
    pub federation: FederationConfig,
    pub audit: AuditConfig,
    pub transparency: TransparencyConfig,
    pub supervision: SupervisionConfig,
    pub ops: OpsConfig,
    pub archive: ArchiveConfig,
    pub log: LogConfig,
    pub limits: LimitsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's 12-digit region code; it must be in the region table.
    pub region: String,
    pub name: String,
}

/// The exchange listener: HTTPS with client certificates required (systems and peer nodes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeConfig {
    pub listen: SocketAddr,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// CA certificate(s) that client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    /// Folder of the per-role intermediate CA certificates (`{role}.crt`); a client
    /// certificate's issuing intermediate must be its principal's role's.
    pub role_cas: Option<PathBuf>,
    /// A TLS handshake or the request headers must arrive within this many seconds.
    pub handshake_timeout_secs: u64,
    /// In-flight requests get this long to finish on shutdown.
    pub shutdown_grace_secs: u64,
}

/// The MLLP listener for HL7 v2 messages (health network): TLS, client certificates required.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MllpConfig {
    /// Address to listen on; absent: no MLLP listener (HL7 can still be posted over HTTPS).
    pub listen: Option<SocketAddr>,
}

/// The web listener: HTTPS, client certificates optional (staff accounts log in; public routes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// The base URL browsers reach this listener at (`https://host[:port]`, no path), for links
    /// the node hands out: the QR codes of `/v1/certificates/{id}/qr.svg` point to
    /// `{public_url}/verify?id=…`. Absent: the scheme `https` and the host the request named.
    pub public_url: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8444".parse().expect("valid address"),
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…`. When absent, the embedded private PostgreSQL is used (started if needed).
    pub url: Option<String>,
    pub embedded: EmbeddedConfig,
    pub pool_size: usize,
    /// Seconds to wait for a pooled connection before answering 503.
    pub pool_wait_secs: u64,
    /// Seconds a pooled connection may stay unused before it is closed (0: never).
    pub pool_idle_secs: u64,
    pub statement_timeout_ms: u64,
    /// Keep principals, certificate statuses and the latest checkpoints in memory, kept current by PostgreSQL
    /// notifications (`db/row_cache.rs`); false reads them on every request.
    pub row_cache: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Default: /var/lib/exchange-gateway/pg as root, /var/tmp/exchange-gateway-<uid>/pg otherwise.
    pub base_dir: Option<PathBuf>,
    pub port: u16,
    pub database: String,
    /// PostgreSQL binaries; default: the newest /usr/lib/postgresql/*/bin.
    pub bin_dir: Option<PathBuf>,
    /// OS user that runs PostgreSQL; default `postgres` when the gateway runs as root.
    pub os_user: Option<String>,
    /// WAL archive folder: when set, the server archives every WAL segment there
    /// (point-in-time restore, docs/backup.md).
    pub wal_archive_dir: Option<PathBuf>,
    /// PostgreSQL server settings (`shared_buffers = "2GB"`), over the defaults
    /// (`pgembed::default_settings`); applied at the server's next start.
    pub settings: std::collections::BTreeMap<String, SettingValue>,
}

/// A PostgreSQL setting's value as the configuration writes it: a string, a number or a
/// boolean (`shared_buffers = "2GB"`, `max_connections = 300`, `jit = false`), kept as the text
/// PostgreSQL reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SettingValue(pub String);

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Bool(bool),
            Int(i64),
            Float(f64),
        }
        Ok(SettingValue(match Written::deserialize(d)? {
            Written::Text(s) => s,
            Written::Bool(b) => (if b { "on" } else { "off" }).to_owned(),
            Written::Int(i) => i.to_string(),
            Written::Float(f) => f.to_string(),
        }))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    pub max_body_bytes: usize,
    pub max_records_per_batch: usize,
    /// Credit-code prefixes of genuine pilot-era codes whose check digit fails: warn, not reject.
    pub legacy_credit_prefixes: Vec<String>,
    /// How far ahead of the gateway's clock a source timestamp may be.
    pub max_clock_skew_secs: i64,
    /// Pushes of at most this many records share transactions with concurrent ones (group
    /// commit, `ingest/group.rs`); 0 commits every push alone.
    pub group_commit_records: usize,
    /// Committer tasks per process writing those groups.
    pub group_commit_workers: usize,
    /// A transaction inserting at least this many new records writes them with binary `COPY`
    /// instead of `INSERT` (`ingest/store.rs`); 0 never does.
    pub copy_from_rows: usize,
    /// A catalog file to use instead of the bundled `schemas/catalog/catalog.json`.
    pub catalog: Option<PathBuf>,
    /// A folder of mapping files (`mapping/v1`, see adapters/mappings/README.md): one more
    /// adapter per file, onboarding a department without code.
    pub mappings: Option<PathBuf>,
}

/// This node's place in the network of tiers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// The parent node, to which every accepted record and certificate is forwarded.
    pub parent: Option<PeerNode>,
    /// Child nodes: the only nodes allowed to forward to this one.
    pub children: Vec<PeerNode>,
    /// Items (records, certificates, status changes) sent per request to the parent, at most:
    /// whole outbox rows of up to 100 items, at least one (`federation::outbox`).
    pub forward_batch: usize,
    /// Forwarding requests kept in flight to the parent, per gateway process.
    pub forward_concurrency: usize,
    /// Ignored (a warning at start): sent outbox rows were kept this many hours until
    /// migration 0031; they are now deleted when the parent acknowledges them. Still accepted
    /// so configuration files that set it load.
    pub outbox_keep_hours: Option<u64>,
    /// Pause between forwarding rounds when the outbox is empty, in milliseconds.
    pub forward_interval_ms: u64,
    /// Memory for the bodies of records just queued for the parent, per process, in MiB:
    /// the drainers send them from there instead of reading them back (federation/recent.rs).
    /// 0 reads every body from the database.
    pub recent_bodies_mb: usize,
    /// How long a routed query waits for the next tier before answering 504, in milliseconds.
    pub query_timeout_ms: u64,
    /// How often a node asks its parent for newer reference data, in milliseconds.
    pub reference_interval_ms: u64,
    /// At the province only: the trust root's PKCS#8 key, with which the grants admin API
    /// publishes grant changes. Absent: grants change only through `gateway grants --root-key`.
    pub publisher_key: Option<PathBuf>,
    /// The exchange protocol version this node announces (`major.minor`, docs/federation.md);
    /// absent: the newest this build speaks. Pin an older minor during a rolling upgrade.
    pub protocol: Option<String>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            parent: None,
            children: Vec::new(),
            forward_batch: 500,
            forward_concurrency: 4,
            outbox_keep_hours: None,
            forward_interval_ms: 500,
            recent_bodies_mb: 64,
            query_timeout_ms: 10_000,
            reference_interval_ms: 30_000,
            publisher_key: None,
            protocol: None,
        }
    }
}

/// Another node: its 12-digit region (its certificate must name it) and exchange URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerNode {
    pub region: String,
    pub url: String,
}

/// Signing certificates (电子证照) and trusting other nodes' signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificatesConfig {
    /// The node's Ed25519 signing key (PKCS#8 DER). Default: `<pki_dir>/signing-key.pk8`.
    pub signing_key: Option<PathBuf>,
    /// The network's trust bundle, signed by the province root. Default:
    /// `<pki_dir>/trust-bundle.json`.
    pub trust_bundle: Option<PathBuf>,
    /// The province root key (`did:key:z6Mk…`) the bundle must be signed by. Default: the
    /// contents of `<pki_dir>/trust-root.did`.
    pub trust_root: Option<String>,
    /// How long a status list credential this node signs stays valid (`validUntil`), in
    /// seconds: verifiers holding an older copy must fetch a fresh one.
    pub status_list_ttl_secs: u64,
}

impl Default for CertificatesConfig {
    fn default() -> Self {
        CertificatesConfig {
            signing_key: None,
            trust_bundle: None,
            trust_root: None,
            status_list_ttl_secs: 86_400,
        }
    }
}

/// The tamper-evident audit trail: chaining rows, and sending the chain's head to the parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Pause between rounds of the chainer (linking committed audit rows), in milliseconds.
    pub chain_interval_ms: u64,
    /// How often each process sends the chain's head to the parent, in milliseconds.
    pub head_interval_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            chain_interval_ms: 1_000,
            head_interval_ms: 30_000,
        }
    }
}

/// The node's transparency log of issued certificates and status changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransparencyConfig {
    /// The Ed25519 checkpoint key (PKCS#8 DER), separate from the signing key. Default:
    /// `<pki_dir>/checkpoint-key.pk8`.
    pub checkpoint_key: Option<PathBuf>,
    /// Pause between sequencing rounds (appending new leaves, signing a checkpoint), in ms.
    pub sequence_interval_ms: u64,
    /// Pause between sending new checkpoints to the witnesses, in ms.
    pub witness_interval_ms: u64,
}

impl Default for TransparencyConfig {
    fn default() -> Self {
        TransparencyConfig {
            checkpoint_key: None,
            sequence_interval_ms: 1_000,
            witness_interval_ms: 5_000,
        }
    }
}

/// Electronic supervision (电子监察): deadlines, warnings and alarms of cases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionConfig {
    /// Pause between rounds of the evaluator, which moves cases to `warning` and `overdue` as
    /// time passes (one process at a time), in milliseconds.
    pub evaluate_interval_ms: u64,
    /// Least time between two counts of the alerts for `gateway_supervision_alerts`, in
    /// milliseconds. A count reads every alert row (late entries stay alerts for good):
    /// ~0.1 ms of PostgreSQL per thousand, taken from the pushes of that moment.
    pub alerts_gauge_interval_ms: u64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            evaluate_interval_ms: 60_000,
            alerts_gauge_interval_ms: 300_000,
        }
    }
}

/// Archiving of completed cases into segment files (`gateway archive`, docs/archive.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Folder of the archive segments (cold storage, e.g. a mounted volume). Unset: nothing
    /// is archived and `gateway archive run` refuses.
    pub dir: Option<PathBuf>,
    /// Cases completed, rejected or withdrawn more than this many days ago are archived.
    pub after_days: u32,
    /// How often `gateway serve` archives on its own, in seconds; 0: only `gateway archive run`.
    pub interval_secs: u64,
    /// At most this many records per segment file.
    pub segment_records: u32,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            dir: None,
            after_days: 1_095,
            interval_secs: 0,
            segment_records: 10_000,
        }
    }
}

/// Operator totals (`ops_minutes`) and the `/ops` page's forwarding alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// How often each process adds its in-memory per-minute counts to the node's totals in the
    /// database, in milliseconds.
    pub flush_interval_ms: u64,
    /// How often each process samples the outbox depth and lag (and the pool gauges), in
    /// milliseconds.
    pub sample_interval_ms: u64,
    /// Per-minute totals older than this many hours are deleted.
    pub retention_hours: u64,
    /// Forwarding lag (age of the oldest unsent outbox row) that raises a warning, in seconds.
    pub lag_warning_secs: u64,
    /// Forwarding lag that raises an alarm, in seconds.
    pub lag_alarm_secs: u64,
    /// Certificates and keys expiring within this many days raise a warning.
    pub expiry_warning_days: i64,
    /// …and within this many days an alarm.
    pub expiry_alarm_days: i64,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            flush_interval_ms: 2_000,
            sample_interval_ms: 10_000,
            retention_hours: 48,
            lag_warning_secs: 300,
            lag_alarm_secs: 1_800,
            expiry_warning_days: 30,
            expiry_alarm_days: 7,
        }
    }
}

/// Hostile-input and fairness limits (docs/limits.md): slow clients, payload shape, and
/// per-client token-bucket rate limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// A request body must arrive whole within this many seconds (408 otherwise).
    pub body_timeout_secs: u64,
    /// A handler must answer within this many seconds (503 otherwise; nothing is acknowledged).
    pub request_timeout_secs: u64,
    /// Largest request body on the web listener, in bytes (the exchange listener's is
    /// `ingest.max_body_bytes`).
    pub web_max_body_bytes: usize,
    /// Deepest nesting of a native payload (JSON objects/arrays, XML elements).
    pub max_depth: usize,
    /// Longest single string of a native payload, in bytes.
    pub max_string_bytes: usize,
    /// Token buckets by caller role (`system`, `peer`, `approver`, `operator`, `supervisor`;
    /// `public` for callers without a certificate, per IP address). A role not listed is not
    /// limited.
    pub rates: std::collections::BTreeMap<String, RateConfig>,
}

/// One token bucket: `per_second` requests refill it, up to `burst`; 0 `per_second`: unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            per_second: 0,
            burst: 1,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let rate = |per_second, burst| RateConfig { per_second, burst };
        LimitsConfig {
            body_timeout_secs: 60,
            request_timeout_secs: 120,
            web_max_body_bytes: 1024 * 1024,
            max_depth: 32,
            max_string_bytes: 64 * 1024,
            rates: [
                ("system", rate(100, 500)),
                ("peer", rate(1_000, 5_000)),
                ("approver", rate(20, 100)),
                ("operator", rate(20, 100)),
                ("supervisor", rate(20, 100)),
                ("public", rate(20, 100)),
            ]
            .into_iter()
            .map(|(role, r)| (role.to_owned(), r))
            .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (default, one object per line) or `text`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `gateway=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node: NodeConfig::default(),
            pki_dir: PathBuf::from("certs/dev"),
            exchange: ExchangeConfig::default(),
            web: WebConfig::default(),
            mllp: MllpConfig::default(),
            database: DatabaseConfig::default(),
            ingest: IngestConfig::default(),
            certificates: CertificatesConfig::default(),
            federation: FederationConfig::default(),
            audit: AuditConfig::default(),
            transparency: TransparencyConfig::default(),
            supervision: SupervisionConfig::default(),
            ops: OpsConfig::default(),
            archive: ArchiveConfig::default(),
            log: LogConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        // The dev network's default node: Qingyang city (庆阳市).
        NodeConfig {
            region: "621000000000".into(),
            name: "庆阳市政务数据交换节点".into(),
        }
    }
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            listen: "127.0.0.1:8443".parse().expect("valid address"),
            cert: None,
            key: None,
            client_ca: None,
            role_cas: None,
            handshake_timeout_secs: 10,
            shutdown_grace_secs: 20,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            embedded: EmbeddedConfig::default(),
            pool_size: 16,
            pool_wait_secs: 5,
            pool_idle_secs: 300,
            statement_timeout_ms: 30_000,
            row_cache: true,
        }
    }
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            base_dir: None,
            port: 55432,
            database: "gateway".into(),
            bin_dir: None,
            os_user: None,
            wal_archive_dir: None,
            settings: Default::default(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_records_per_batch: 5_000,
            legacy_credit_prefixes: Vec::new(),
            max_clock_skew_secs: 300,
            group_commit_records: 50,
            group_commit_workers: 2,
            copy_from_rows: crate::ingest::store::COPY_FROM_ROWS_DEFAULT,
            catalog: None,
            mappings: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    /// Defaults, then `file` (if given; missing is an error) or `gateway.toml` in the working
    /// folder (if present), then `GATEWAY_*` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "config file {} does not exist",
                    path.display()
                );
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("gateway.toml")),
        }
        // GATEWAY_CONFIG (the file, read by the command line) and GATEWAY_LOG (a tracing filter)
        // are not configuration keys.
        let env = Env::prefixed("GATEWAY_")
            .split("__")
            .ignore(&["config", "log"]);
        let env = EnvText(env);
        // Lossy: numbers and booleans are read from the text the environment holds.
        let config: Config = fig.merge(env).extract_lossy()?;
        Ok(config)
    }

    pub fn server_cert(&self) -> PathBuf {
        self.exchange
            .cert
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("node.crt"))
    }
    pub fn server_key(&self) -> PathBuf {
        self.exchange
            .key
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("node.key"))
    }
    pub fn signing_key(&self) -> PathBuf {
        self.certificates
            .signing_key
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("signing-key.pk8"))
    }
    /// The key `gateway keys rotate` made, waiting for the province's new trust bundle.
    pub fn next_signing_key(&self) -> PathBuf {
        let current = self.signing_key();
        current.with_file_name(format!(
            "{}.next.pk8",
            current
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("signing-key")
        ))
    }
    pub fn checkpoint_key(&self) -> PathBuf {
        self.transparency
            .checkpoint_key
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("checkpoint-key.pk8"))
    }
    pub fn trust_bundle(&self) -> PathBuf {
        self.certificates
            .trust_bundle
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("trust-bundle.json"))
    }
    /// The configured trust root, or the one `gateway pki init` wrote next to the bundle.
    pub fn trust_root(&self) -> anyhow::Result<String> {
        if let Some(root) = &self.certificates.trust_root {
            return Ok(root.clone());
        }
        let path = self.pki_dir.join("trust-root.did");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "no certificates.trust_root configured and cannot read {}: {e}",
                path.display()
            )
        })?;
        Ok(text.trim().to_owned())
    }

    pub fn role_cas(&self) -> PathBuf {
        self.exchange
            .role_cas
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("roles"))
    }

    pub fn client_ca(&self) -> PathBuf {
        self.exchange
            .client_ca
            .clone()
            .unwrap_or_else(|| self.pki_dir.join("ca.crt"))
    }
}

/// `GATEWAY_*` variables with `__` between nested keys. Unlike figment's `Env`, a scalar is kept
/// as the text that was set: `Env` reads `GATEWAY_NODE__REGION=621002000000` as a number, which a
/// string key refuses. `extract_lossy` reads numbers and booleans from the text where a key
/// needs one; arrays and tables (`[...]`, `{...}`) are still parsed.
struct EnvText(Env);

impl Provider for EnvText {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, text) in self.0.iter() {
            let value = match text.parse::<Value>() {
                Ok(v @ (Value::Array(..) | Value::Dict(..))) => v,
                _ => Value::from(text),
            };
            insert_dotted(&mut dict, key.as_str(), value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Insert `value` at `a.b.c`, creating (or replacing non-table values with) tables on the way.
fn insert_dotted(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_dotted(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Server settings may be written as TOML strings, integers, floats or booleans.
    #[test]
    fn embedded_settings_take_strings_numbers_and_booleans() {
        let file =
            std::env::temp_dir().join(format!("gateway-settings-test-{}.toml", std::process::id()));
        std::fs::write(
            &file,
            "[database.embedded.settings]\nshared_buffers = \"1GB\"\nmax_connections = 300\n\
             jit = false\nrandom_page_cost = 1.5\n",
        )
        .unwrap();
        let loaded = Config::load(Some(&file));
        std::fs::remove_file(&file).unwrap();
        let config = loaded.unwrap();
        let settings: Vec<(&str, &str)> = config
            .database
            .embedded
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.0.as_str()))
            .collect();
        assert_eq!(
            settings,
            [
                ("jit", "off"),
                ("max_connections", "300"),
                ("random_page_cost", "1.5"),
                ("shared_buffers", "1GB"),
            ]
        );
    }
}
