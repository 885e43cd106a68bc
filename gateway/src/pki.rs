//! Development PKI (`gateway pki init`): a CA, the node's server certificate and client
//! certificates for a few departmental systems and staff, in a folder git ignores. Keys are
//! generated here and never committed. Production nodes get their certificates from the
//! network's CA instead; the gateway only needs the three PEM files named in the config.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::tls::{NODE_URI_PREFIX, PRINCIPAL_URI_PREFIX, ROLE_CA_URI_PREFIX};

/// Roles that hold client certificates, each with its own intermediate CA.
pub const CA_ROLES: &[&str] = &["system", "approver", "operator", "supervisor", "peer"];

/// A principal to issue a client certificate for and register.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevPrincipal {
    pub id: String,
    pub role: String,
    pub department: Option<String>,
    pub region: String,
    pub name: String,
}

fn p(id: &str, role: &str, department: Option<&str>, region: &str, name: &str) -> DevPrincipal {
    DevPrincipal {
        id: id.into(),
        role: role.into(),
        department: department.map(Into::into),
        region: region.into(),
        name: name.into(),
    }
}

/// The dev network's principals under Qingyang city (621000000000): systems of two departments
/// in two counties and at the city, plus an approver and an operator.
pub fn default_principals() -> Vec<DevPrincipal> {
    vec![
        p(
            "xifeng-amr-system",
            "system",
            Some("market_regulation"),
            "621002000000",
            "西峰区市场监管业务系统",
        ),
        p(
            "huanxian-psb-system",
            "system",
            Some("public_security"),
            "621022000000",
            "环县公安人口管理系统",
        ),
        p(
            "qingyang-psb-system",
            "system",
            Some("public_security"),
            "621000000000",
            "庆阳市公安业务系统",
        ),
        // City-level systems of the other departmental networks (any county of the city).
        p(
            "qingyang-mz-system",
            "system",
            Some("civil_affairs"),
            "621000000000",
            "庆阳市民政婚姻登记系统",
        ),
        p(
            "qingyang-rs-system",
            "system",
            Some("human_resources"),
            "621000000000",
            "庆阳市人社业务系统",
        ),
        p(
            "qingyang-wj-system",
            "system",
            Some("health"),
            "621000000000",
            "庆阳市卫健出生医学证明系统",
        ),
        p(
            "qingyang-sw-system",
            "system",
            Some("tax"),
            "621000000000",
            "庆阳市税务征管系统",
        ),
        p(
            "qingyang-sthj-system",
            "system",
            Some("ecology_environment"),
            "621000000000",
            "庆阳市生态环境排污许可系统",
        ),
        p(
            "xifeng-approver",
            "approver",
            None,
            "621002000000",
            "西峰区政务服务中心审批员",
        ),
        p(
            "qingyang-operator",
            "operator",
            None,
            "621000000000",
            "庆阳市交换网络运维",
        ),
        p(
            "qingyang-supervisor",
            "supervisor",
            None,
            "621000000000",
            "庆阳市电子监察室",
        ),
    ]
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, "exchange-gateway dev network");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn uri(s: String) -> anyhow::Result<SanType> {
    Ok(SanType::URI(Ia5String::try_from(s)?))
}

/// The node a dev PKI is for.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub region: String,
    pub name: String,
    /// GB/T 39046 tier of the node's region (2 province ... 5 township).
    pub tier: u8,
    /// Where the node's exchange listener is reached, e.g. `https://localhost:8443`.
    pub exchange_url: String,
}

/// The dev CA: a root and one intermediate per role, able to issue node and client
/// certificates. Certificates it issues are written with their chain (leaf, then intermediate).
struct DevCa {
    roles: Vec<(&'static str, CertificateParams, KeyPair, String)>,
}

impl DevCa {
    /// Create the root and the role intermediates, writing `ca.crt`/`ca.key` and
    /// `roles/{role}.crt|key` into `out`.
    fn create(out: &Path, label: &str) -> anyhow::Result<DevCa> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name = dn(&format!("exchange-gateway dev CA {label}"));
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut ca, 3 * 365);
        fs::create_dir_all(out.join("roles"))?;
        fs::write(out.join("ca.crt"), ca.self_signed(&ca_key)?.pem())?;
        write_secret(&out.join("ca.key"), &ca_key.serialize_pem())?;
        let root = Issuer::from_params(&ca, &ca_key);
        // One intermediate CA per role: the CA that issued a client certificate says which role
        // it may be used for, and the gateway refuses a principal whose role differs.
        let mut roles = Vec::new();
        for role in CA_ROLES {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.distinguished_name = dn(&format!("exchange-gateway dev {role} CA {label}"));
            params
                .subject_alt_names
                .push(uri(format!("{ROLE_CA_URI_PREFIX}{role}"))?);
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            validity(&mut params, 2 * 365);
            let pem = params.signed_by(&key, &root)?.pem();
            fs::write(out.join("roles").join(format!("{role}.crt")), &pem)?;
            write_secret(
                &out.join("roles").join(format!("{role}.key")),
                &key.serialize_pem(),
            )?;
            roles.push((*role, params, key, pem));
        }
        Ok(DevCa { roles })
    }

    /// Issue a certificate from `role`'s intermediate; writes `{stem}.crt` (with chain) and `{stem}.key`.
    fn issue(
        &self,
        role: &str,
        mut params: CertificateParams,
        dir: &Path,
        stem: &str,
    ) -> anyhow::Result<()> {
        let (_, ca_params, ca_key, ca_pem) = self
            .roles
            .iter()
            .find(|r| r.0 == role)
            .context("no CA for that role")?;
        let key = KeyPair::generate()?;
        // Client certificates are short-lived (renewed with `gateway pki renew`); a node's
        // certificate serves its listeners for a year.
        let days = if role == "peer" {
            365
        } else {
            CLIENT_CERT_DAYS
        };
        validity(&mut params, days);
        let cert = params.signed_by(&key, &Issuer::from_params(ca_params, ca_key))?;
        fs::create_dir_all(dir)?;
        fs::write(dir.join(format!("{stem}.crt")), cert.pem() + ca_pem)?;
        write_secret(&dir.join(format!("{stem}.key")), &key.serialize_pem())
    }

    /// The node's certificate serves its listeners and, as a client, talks to its parent: it is
    /// a peer's, naming the node's region.
    fn issue_node(&self, region: &str, dir: &Path) -> anyhow::Result<()> {
        let mut node = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        node.subject_alt_names
            .push(uri(format!("{NODE_URI_PREFIX}{region}"))?);
        node.distinguished_name = dn(&format!("node {region}"));
        node.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.issue("peer", node, dir, "node")
    }

    fn issue_clients(&self, principals: &[DevPrincipal], dir: &Path) -> anyhow::Result<()> {
        for principal in principals {
            let params = client_params(&principal.id)?;
            self.issue(&principal.role, params, &dir.join("clients"), &principal.id)?;
        }
        fs::write(
            dir.join("principals.json"),
            serde_json::to_string_pretty(principals)? + "\n",
        )?;
        Ok(())
    }
}

/// How long a client certificate lives: short, so a lost one stops working soon; renewed with
/// `gateway pki renew`, and listed by `GET /v1/ops/expiring` ahead of time.
pub const CLIENT_CERT_DAYS: i64 = 30;

fn client_params(principal: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .subject_alt_names
        .push(uri(format!("{PRINCIPAL_URI_PREFIX}{principal}"))?);
    params.distinguished_name = dn(principal);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// Renew a principal's client certificate with a new key, from the intermediate CA of its
/// role found in `ca_dir/roles/` (where `gateway pki init` keeps the CA keys), into
/// `out/clients/{principal}.crt|key`. Returns the new certificate's end.
pub fn renew(
    ca_dir: &Path,
    out: &Path,
    principal: &str,
    role: &str,
    days: i64,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let read = |name: &str| {
        let path = ca_dir.join("roles").join(name);
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let (ca_pem, ca_key) = (read(&format!("{role}.crt"))?, read(&format!("{role}.key"))?);
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&ca_key)?)?;
    let mut params = client_params(principal)?;
    validity(&mut params, days);
    let not_after = params.not_after;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let dir = out.join("clients");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(format!("{principal}.crt")), cert.pem() + &ca_pem)?;
    write_secret(&dir.join(format!("{principal}.key")), &key.serialize_pem())?;
    chrono::DateTime::from_timestamp(not_after.unix_timestamp(), 0).context("validity")
}

fn refuse_overwrite(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.join("ca.key").exists() && !force {
        anyhow::bail!(
            "{} already holds a CA; pass --force to replace it (existing certificates stop working)",
            out.display()
        );
    }
    Ok(())
}

/// Create `out/` with `ca.crt`/`ca.key`, `roles/`, `node.crt`/`node.key`, `clients/{id}.crt|key`,
/// `principals.json`, and the certificate-signing material: the node's Ed25519 signing key
/// (`signing-key.pk8`), a dev province root key (`root-key.pk8`, `trust-root.did`) and a trust
/// bundle listing the node's key signed by that root (`trust-bundle.json`). Refuses to
/// overwrite an existing CA unless `force`.
pub fn init(
    out: &Path,
    spec: &NodeSpec,
    principals: &[DevPrincipal],
    force: bool,
) -> anyhow::Result<()> {
    refuse_overwrite(out, force)?;
    let ca = DevCa::create(out, &spec.region)?;
    ca.issue_node(&spec.region, out)?;
    ca.issue_clients(principals, out)?;
    let (root, root_pk8) = vc::SigningKey::generate()?;
    write_secret_bytes(&out.join("root-key.pk8"), &root_pk8)?;
    let node = signing_key(out, spec, &spec.exchange_url)?;
    write_bundle(&[out.to_path_buf()], &root, &spec.exchange_url, vec![node])
}

pub fn write_secret_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Generate a node's Ed25519 signing key into `dir/signing-key.pk8` and its transparency-log
/// checkpoint key into `dir/checkpoint-key.pk8`; returns its bundle entry.
fn signing_key(
    dir: &Path,
    spec: &NodeSpec,
    base_url: &str,
) -> anyhow::Result<vc::trust::TrustedNode> {
    let (signing, pk8) = vc::SigningKey::generate()?;
    write_secret_bytes(&dir.join("signing-key.pk8"), &pk8)?;
    let (checkpoint, pk8) = vc::SigningKey::generate()?;
    write_secret_bytes(&dir.join("checkpoint-key.pk8"), &pk8)?;
    let region = domain::codes::region::RegionCode::parse(&spec.region)?;
    Ok(vc::trust::TrustedNode {
        region: region.clone(),
        tier: spec.tier,
        name: spec.name.clone(),
        urls: vc::trust::NodeUrls {
            exchange: spec.exchange_url.clone(),
            web: None,
        },
        keys: vec![vc::trust::NodeKey {
            did: signing.did(),
            verification_method: None,
            valid_from: chrono::Utc::now() - chrono::Duration::hours(1),
            valid_until: None,
            status: vc::trust::KeyStatus::Active,
        }],
        log: Some(vc::trust::NodeLog {
            origin: vc::trust::log_origin(base_url, &region),
            key: checkpoint.did(),
        }),
    })
}

/// A trust bundle listing `nodes`, signed by the province root, written with the root's did
/// into every folder of `dirs`. In a real network the province issues the bundle.
fn write_bundle(
    dirs: &[std::path::PathBuf],
    root: &vc::SigningKey,
    base_url: &str,
    nodes: Vec<vc::trust::TrustedNode>,
) -> anyhow::Result<()> {
    let mut bundle = vc::trust::TrustBundle::new(1, chrono::Utc::now(), base_url.to_owned());
    bundle.nodes = nodes;
    let signed = serde_json::to_string_pretty(&vc::trust::sign_bundle(&bundle, root)?)? + "\n";
    for dir in dirs {
        fs::write(dir.join("trust-bundle.json"), &signed)?;
        fs::write(dir.join("trust-root.did"), root.did() + "\n")?;
    }
    Ok(())
}

/// A network of nodes (`gateway pki init --topology FILE`): who each node is, where it listens,
/// and which node is its parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Network-wide base URL under which status lists are named (the province's web URL).
    pub network_base_url: String,
    pub nodes: Vec<TopologyNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyNode {
    pub region: String,
    pub name: String,
    /// `host:port` of the exchange listener (mTLS), e.g. `127.0.0.1:9441`.
    pub exchange: std::net::SocketAddr,
    /// `host:port` of the web listener.
    pub web: std::net::SocketAddr,
    /// The parent node's region; absent for the root (province) node.
    #[serde(default)]
    pub parent: Option<String>,
}

impl Topology {
    /// Check regions, the parent relation (each parent listed, an ancestor in the region table,
    /// one root) and unique addresses.
    pub fn validate(&self, regions: &domain::regions::RegionTable) -> anyhow::Result<()> {
        use domain::codes::region::RegionCode;
        let mut roots = 0;
        for n in &self.nodes {
            let region =
                RegionCode::parse(&n.region).with_context(|| format!("node {}", n.region))?;
            anyhow::ensure!(
                regions.get(&region).is_some(),
                "node {} is not in the region table",
                n.region
            );
            anyhow::ensure!(
                self.nodes.iter().filter(|m| m.region == n.region).count() == 1,
                "node {} is listed twice",
                n.region
            );
            match &n.parent {
                None => roots += 1,
                Some(parent) => {
                    anyhow::ensure!(
                        self.nodes.iter().any(|m| &m.region == parent),
                        "node {}'s parent {parent} is not listed",
                        n.region
                    );
                    let parent = RegionCode::parse(parent)?;
                    anyhow::ensure!(
                        regions.is_within(&parent, &region) && parent != region,
                        "node {}'s parent {parent} is not an ancestor",
                        n.region
                    );
                }
            }
        }
        anyhow::ensure!(
            roots == 1,
            "a network has exactly one root node (no parent), found {roots}"
        );
        Ok(())
    }

    pub fn children(&self, region: &str) -> impl Iterator<Item = &TopologyNode> {
        self.nodes
            .iter()
            .filter(move |n| n.parent.as_deref() == Some(region))
    }
}

/// Dev principals for one node: its region's systems for every department with a bundled
/// adapter, and a staff member of each role.
pub fn node_principals(region: &str) -> Vec<DevPrincipal> {
    let mut out: Vec<DevPrincipal> = domain::department::KNOWN
        .iter()
        .map(|(dept, zh)| {
            p(
                &format!("n{region}-{}", dept.replace('_', "-")),
                "system",
                Some(dept),
                region,
                &format!("{zh}业务系统 {region}"),
            )
        })
        .collect();
    for role in ["approver", "operator", "supervisor"] {
        out.push(p(
            &format!("n{region}-{role}"),
            role,
            None,
            region,
            &format!("{role} {region}"),
        ));
    }
    out
}

/// A whole network: one CA for all, a folder per node (`out/{region}/`) holding what that node
/// needs (CA and role certificates, its node certificate, signing key, dev clients, the shared
/// trust bundle and a `gateway.toml` naming its parent and children).
pub fn init_network(
    out: &Path,
    topology: &Topology,
    regions: &domain::regions::RegionTable,
    force: bool,
) -> anyhow::Result<()> {
    use domain::codes::region::RegionCode;
    topology.validate(regions)?;
    refuse_overwrite(out, force)?;
    let ca = DevCa::create(out, "network")?;
    let (root, root_pk8) = vc::SigningKey::generate()?;
    write_secret_bytes(&out.join("root-key.pk8"), &root_pk8)?;
    let mut dirs = Vec::new();
    let mut nodes = Vec::new();
    for n in &topology.nodes {
        let dir = out.join(&n.region);
        fs::create_dir_all(dir.join("roles"))?;
        fs::copy(out.join("ca.crt"), dir.join("ca.crt"))?;
        for role in CA_ROLES {
            fs::copy(
                out.join(format!("roles/{role}.crt")),
                dir.join(format!("roles/{role}.crt")),
            )?;
        }
        ca.issue_node(&n.region, &dir)?;
        ca.issue_clients(&node_principals(&n.region), &dir)?;
        let level = regions
            .level(&RegionCode::parse(&n.region)?)
            .context("region level")?;
        let spec = NodeSpec {
            region: n.region.clone(),
            name: n.name.clone(),
            tier: level.tier(),
            exchange_url: format!("https://localhost:{}", n.exchange.port()),
        };
        nodes.push(signing_key(&dir, &spec, &topology.network_base_url)?);
        fs::write(dir.join("gateway.toml"), node_config(topology, n, &dir))?;
        dirs.push(dir);
    }
    write_bundle(&dirs, &root, &topology.network_base_url, nodes)
}

/// The `gateway.toml` of one node of the network.
fn node_config(topology: &Topology, n: &TopologyNode, dir: &Path) -> String {
    let url = |m: &TopologyNode| format!("https://localhost:{}", m.exchange.port());
    let mut out = format!(
        "# Generated by `gateway pki init --topology`: node {region} ({name}).\n\
         pki_dir = {dir:?}\n\n[node]\nregion = \"{region}\"\nname = \"{name}\"\n\n\
         [exchange]\nlisten = \"{exchange}\"\n\n[web]\nlisten = \"{web}\"\n\n\
         [database.embedded]\ndatabase = \"gw_{region}\"\n\n[federation]\n",
        region = n.region,
        name = n.name,
        dir = dir.display().to_string(),
        exchange = n.exchange,
        web = n.web,
    );
    if let Some(parent) = n
        .parent
        .as_ref()
        .and_then(|p| topology.nodes.iter().find(|m| &m.region == p))
    {
        out.push_str(&format!(
            "parent = {{ region = \"{}\", url = \"{}\" }}\n",
            parent.region,
            url(parent)
        ));
    }
    let children: Vec<String> = topology
        .children(&n.region)
        .map(|c| format!("{{ region = \"{}\", url = \"{}\" }}", c.region, url(c)))
        .collect();
    out.push_str(&format!("children = [{}]\n", children.join(", ")));
    out
}
