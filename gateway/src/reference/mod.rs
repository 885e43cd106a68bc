//! Reference data a node validates against: the catalog, the region table and the trust
//! bundle (and the purposes, grants and the CA's CRLs), each as a list of versions.
//!
//! Version 0 of the catalog and the region table is the node's baseline (the bundled files or
//! `ingest.catalog`), in force since forever and never propagated; the trust bundle's baseline
//! is the node's bundle file under its own version number. The province publishes versions 1,
//! 2, … ([`envelope`]), signed by the trust root; children pull what they lack from their
//! parent ([`sync`]) and keep every version ([`store`]).
//!
//! The version in force at an instant is the highest-numbered one whose effective date is at
//! or before it. A record is checked against the catalog and region table in force at its
//! `occurred` time; a version not marked retroactive cannot take effect before it was
//! published, so only a retroactive correction changes how past records validate. Arrival
//! order never matters and an older version never displaces a newer one.

pub mod cli;
pub mod envelope;
pub mod store;
pub mod sync;

use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset, Utc};
use domain::catalog::Catalog;
use domain::purposes::PurposeList;
use domain::regions::RegionTable;
use domain::schema::JsonSchema;
use domain::sharing::GrantList;
use serde::Serialize;
use vc::trust::TrustBundle;

use crate::config::Config;
use crate::crl::CrlSet;
use envelope::{Envelope, EnvelopeError};

/// What is known about one version a node holds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Meta {
    pub kind: String,
    pub version: i64,
    /// `None` for a baseline: in force since forever.
    pub effective_from: Option<DateTime<FixedOffset>>,
    pub retroactive: bool,
    pub published_at: Option<DateTime<Utc>>,
    pub content_hash: Option<String>,
    /// `baseline` (the node's own files) or `published` (an envelope from the province).
    pub source: &'static str,
}

pub struct Version<T> {
    pub meta: Meta,
    pub data: Arc<T>,
}

/// The versions of one kind, ascending by number.
pub struct Versions<T> {
    list: Vec<Version<T>>,
}

impl<T> Versions<T> {
    fn baseline(kind: &str, version: i64, data: T) -> Self {
        let meta = Meta {
            kind: kind.to_owned(),
            version,
            effective_from: None,
            retroactive: false,
            published_at: None,
            content_hash: None,
            source: "baseline",
        };
        Versions {
            list: vec![Version {
                meta,
                data: Arc::new(data),
            }],
        }
    }

    fn add(&mut self, meta: Meta, data: Arc<T>) {
        // A published version replaces a baseline of the same number (the trust bundle file
        // is usually version 1 of what the province publishes).
        self.list.retain(|v| v.meta.version != meta.version);
        self.list.push(Version { meta, data });
        self.list.sort_by_key(|v| v.meta.version);
    }

    /// The version in force at `at`: the highest number already effective. The baseline is
    /// always effective, so there is one.
    pub fn at(&self, at: DateTime<FixedOffset>) -> &Version<T> {
        self.list
            .iter()
            .rev()
            .find(|v| v.meta.effective_from.is_none_or(|e| e <= at))
            .expect("the baseline is always in force")
    }

    pub fn now(&self) -> &Version<T> {
        self.at(Utc::now().fixed_offset())
    }

    pub fn metas(&self) -> impl Iterator<Item = &Meta> {
        self.list.iter().map(|v| &v.meta)
    }
}

/// A published body, loaded as its kind.
pub enum Loaded {
    Catalog(Catalog),
    Regions(RegionTable),
    Trust(TrustBundle),
    Purposes(PurposeList),
    Grants(GrantList),
    Crl(CrlSet),
}

impl Loaded {
    pub fn from_envelope(env: &Envelope, root_did: &str) -> Result<Loaded, EnvelopeError> {
        let bad = |why: String| EnvelopeError::Body {
            kind: env.kind.clone(),
            why,
        };
        let bytes = serde_json::to_vec(&env.body).expect("serializes");
        match env.kind.as_str() {
            "catalog" => Catalog::from_json(&bytes)
                .map(Loaded::Catalog)
                .map_err(|e| bad(e.to_string())),
            "regions" => RegionTable::from_json(&bytes)
                .map(Loaded::Regions)
                .map_err(|e| bad(e.to_string())),
            "purposes" => PurposeList::from_json(&bytes)
                .map(Loaded::Purposes)
                .map_err(|e| bad(e.to_string())),
            "grants" => GrantList::from_json(&bytes)
                .map(Loaded::Grants)
                .map_err(bad),
            "crl" => CrlSet::from_json(&bytes).map(Loaded::Crl).map_err(bad),
            "trust_bundle" => {
                let bundle = vc::trust::verify_bundle(&env.body, root_did)
                    .map_err(|e| bad(e.to_string()))?;
                if bundle.version as i64 != env.version {
                    return Err(bad(format!(
                        "the bundle's version {} is not the envelope's {}",
                        bundle.version, env.version
                    )));
                }
                Ok(Loaded::Trust(bundle))
            }
            other => Err(EnvelopeError::Kind(other.to_owned())),
        }
    }
}

/// Reference data a node validates against; one snapshot is shared read-only by requests,
/// replaced as a whole when a new version arrives.
pub struct Reference {
    pub catalogs: Versions<Catalog>,
    pub region_tables: Versions<RegionTable>,
    pub trust_bundles: Versions<TrustBundle>,
    pub purpose_lists: Versions<PurposeList>,
    pub grant_lists: Versions<GrantList>,
    /// The network CA's CRLs (none until the province publishes some).
    pub crl_sets: Versions<CrlSet>,
    pub schema: Arc<JsonSchema>,
    pub legacy_credit_prefixes: Vec<String>,
    pub max_clock_skew: chrono::Duration,
    /// The trust root's did:key, which signs trust bundles and reference versions.
    pub root_did: String,
}

impl Reference {
    /// The node's baseline: bundled or configured files, and the trust bundle file.
    pub fn baseline(config: &Config) -> anyhow::Result<Reference> {
        let catalog = match &config.ingest.catalog {
            Some(path) => Catalog::from_json(
                &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            )?,
            None => Catalog::bundled()?,
        };
        let trust = crate::certificates::load_trust_bundle(config)?;
        Ok(Reference {
            catalogs: Versions::baseline("catalog", 0, catalog),
            region_tables: Versions::baseline("regions", 0, RegionTable::bundled()?),
            trust_bundles: Versions::baseline("trust_bundle", trust.version as i64, trust),
            purpose_lists: Versions::baseline("purposes", 0, PurposeList::bundled()?),
            // No grants until the province publishes some: conditional data is closed.
            grant_lists: Versions::baseline("grants", 0, GrantList::default()),
            crl_sets: Versions::baseline("crl", 0, CrlSet::default()),
            schema: Arc::new(JsonSchema::case_record()),
            legacy_credit_prefixes: config.ingest.legacy_credit_prefixes.clone(),
            max_clock_skew: chrono::Duration::seconds(config.ingest.max_clock_skew_secs),
            root_did: config.trust_root()?,
        })
    }

    /// The baseline plus every version stored in the database.
    pub async fn load(config: &Config, db: &tokio_postgres::Client) -> anyhow::Result<Reference> {
        let mut reference = Reference::baseline(config)?;
        for env in store::envelopes(db).await? {
            reference.add(&env);
        }
        Ok(reference)
    }

    /// Add a stored version. Stored versions were verified on the way in; they are checked
    /// again here so a row edited in the database is not trusted.
    fn add(&mut self, env: &Envelope) {
        let json = serde_json::to_value(env).expect("serializes");
        let Ok(env) = Envelope::verify(&json, &self.root_did) else {
            tracing::error!(kind = %env.kind, version = env.version, "stored reference version does not verify; ignored");
            return;
        };
        let meta = Meta {
            kind: env.kind.clone(),
            version: env.version,
            effective_from: Some(env.effective_from),
            retroactive: env.retroactive,
            published_at: Some(env.published_at),
            content_hash: Some(env.content_hash.clone()),
            source: "published",
        };
        match Loaded::from_envelope(&env, &self.root_did) {
            Ok(Loaded::Catalog(c)) => self.catalogs.add(meta, Arc::new(c)),
            Ok(Loaded::Regions(r)) => self.region_tables.add(meta, Arc::new(r)),
            Ok(Loaded::Trust(t)) => self.trust_bundles.add(meta, Arc::new(t)),
            Ok(Loaded::Purposes(p)) => self.purpose_lists.add(meta, Arc::new(p)),
            Ok(Loaded::Grants(g)) => self.grant_lists.add(meta, Arc::new(g)),
            Ok(Loaded::Crl(c)) => self.crl_sets.add(meta, Arc::new(c)),
            Err(e) => {
                tracing::error!(kind = %env.kind, version = env.version, error = %e, "stored reference version does not load; ignored")
            }
        }
    }

    /// The catalog in force at `at` (a record's `occurred`).
    pub fn catalog_at(&self, at: DateTime<FixedOffset>) -> &Catalog {
        &self.catalogs.at(at).data
    }

    /// The region table in force at `at`.
    pub fn regions_at(&self, at: DateTime<FixedOffset>) -> &RegionTable {
        &self.region_tables.at(at).data
    }

    /// The region table in force now (routing, authorization).
    pub fn regions(&self) -> &RegionTable {
        &self.region_tables.now().data
    }

    /// The trust bundle in force now.
    pub fn trust(&self) -> &TrustBundle {
        &self.trust_bundles.now().data
    }

    /// The purpose codes in force now.
    pub fn purposes(&self) -> &PurposeList {
        &self.purpose_lists.now().data
    }

    /// The sharing grants in force now.
    pub fn grants(&self) -> &GrantList {
        &self.grant_lists.now().data
    }

    /// The CA's CRLs in force now.
    pub fn crls(&self) -> &CrlSet {
        &self.crl_sets.now().data
    }

    /// The version number of the CRLs in force now (0: none published).
    pub fn crl_version(&self) -> i64 {
        self.crl_sets.now().meta.version
    }

    /// Every version held, by kind and number.
    pub fn held(&self) -> Vec<Meta> {
        self.catalogs
            .metas()
            .chain(self.region_tables.metas())
            .chain(self.trust_bundles.metas())
            .chain(self.purpose_lists.metas())
            .chain(self.grant_lists.metas())
            .chain(self.crl_sets.metas())
            .cloned()
            .collect()
    }

    /// The version of each kind in force now.
    pub fn in_force_now(&self) -> serde_json::Value {
        serde_json::json!({
            "catalog": self.catalogs.now().meta.version,
            "regions": self.region_tables.now().meta.version,
            "trust_bundle": self.trust_bundles.now().meta.version,
            "purposes": self.purpose_lists.now().meta.version,
            "grants": self.grant_lists.now().meta.version,
            "crl": self.crl_sets.now().meta.version,
        })
    }
}

/// The node's current reference snapshot, replaced when the stored versions change (in this
/// process or another process of the node).
pub struct Shared {
    current: RwLock<Arc<Reference>>,
    /// What the database held when `current` was built.
    fingerprint: Mutex<String>,
}

impl Shared {
    pub fn new(reference: Reference) -> Shared {
        Shared {
            current: RwLock::new(Arc::new(reference)),
            fingerprint: Mutex::new(String::new()),
        }
    }

    pub fn get(&self) -> Arc<Reference> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuild the snapshot when the database holds other versions than it was built from.
    pub async fn refresh(
        &self,
        config: &Config,
        db: &tokio_postgres::Client,
    ) -> anyhow::Result<bool> {
        let now = store::fingerprint(db).await?;
        if *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) == now {
            return Ok(false);
        }
        let reference = Reference::load(config, db).await?;
        if let serde_json::Value::Object(in_force) = reference.in_force_now() {
            for (kind, version) in in_force {
                let version = version.as_f64().unwrap_or_default();
                metrics::gauge!("gateway_reference_version", "kind" => kind).set(version);
            }
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(reference);
        *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = now;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn meta(version: i64, effective: &str) -> Meta {
        Meta {
            kind: "catalog".into(),
            version,
            effective_from: Some(at(effective)),
            retroactive: false,
            published_at: None,
            content_hash: None,
            source: "published",
        }
    }

    #[test]
    fn the_highest_version_already_effective_is_in_force_whatever_the_arrival_order() {
        let mut versions = Versions::baseline("catalog", 0, "v0");
        // Arrive out of order: 3 (a correction back to 2026-03-01), 1, then 2 (from June).
        versions.add(meta(3, "2026-03-01T00:00:00+08:00"), Arc::new("v3"));
        versions.add(meta(1, "2026-02-01T00:00:00+08:00"), Arc::new("v1"));
        versions.add(meta(2, "2026-06-01T00:00:00+08:00"), Arc::new("v2"));
        let in_force = |t: &str| *versions.at(at(t)).data;
        assert_eq!(in_force("2025-12-31T23:59:59+08:00"), "v0");
        assert_eq!(in_force("2026-02-01T00:00:00+08:00"), "v1");
        assert_eq!(in_force("2026-03-01T00:00:00+08:00"), "v3");
        // Version 3 was published after version 2: the newer word wins from its date on.
        assert_eq!(in_force("2026-07-01T00:00:00+08:00"), "v3");
        let numbers: Vec<i64> = versions.metas().map(|m| m.version).collect();
        assert_eq!(numbers, [0, 1, 2, 3]);
    }

    #[test]
    fn a_version_not_yet_effective_is_held_but_not_in_force() {
        let mut versions = Versions::baseline("catalog", 0, "v0");
        versions.add(meta(1, "2100-01-01T00:00:00+08:00"), Arc::new("v1"));
        assert_eq!(*versions.now().data, "v0");
        assert_eq!(versions.metas().count(), 2);
    }

    #[test]
    fn a_published_version_replaces_a_baseline_of_the_same_number() {
        let mut versions = Versions::baseline("trust_bundle", 1, "file");
        versions.add(meta(1, "2020-01-01T00:00:00+08:00"), Arc::new("published"));
        assert_eq!(*versions.now().data, "published");
        assert_eq!(versions.metas().count(), 1);
    }
}
