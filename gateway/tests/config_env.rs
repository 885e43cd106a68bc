//! `GATEWAY_*` environment overrides. Environment variables are process-global, so everything
//! that sets them lives in this one test binary, in one test function (tests of one binary run
//! in parallel threads).

use gateway::config::Config;

fn set(key: &str, value: &str) {
    // SAFETY: this binary has a single test, and nothing else reads or writes the environment
    // while it runs.
    unsafe { std::env::set_var(key, value) };
}

fn unset(key: &str) {
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var(key) };
}

#[test]
fn environment_overrides_defaults_and_keeps_strings() {
    // A region code is all digits, but `node.region` is a string and must stay one.
    set("GATEWAY_NODE__REGION", "621002000000");
    set(
        "GATEWAY_DATABASE__URL",
        "postgres://gateway@db.example:5432/gateway",
    );
    set("GATEWAY_DATABASE__EMBEDDED__PORT", "55433");
    set(
        "GATEWAY_DATABASE__EMBEDDED__SETTINGS__SHARED_BUFFERS",
        "2GB",
    );
    set("GATEWAY_PKI_DIR", "/etc/exchange-gateway/pki");
    set(
        "GATEWAY_INGEST__LEGACY_CREDIT_PREFIXES",
        r#"["91620000", "5262"]"#,
    );
    set("GATEWAY_INGEST__MAX_CLOCK_SKEW_SECS", "-5");
    set("GATEWAY_LOG__LEVEL", "gateway=debug,info");
    // Read by the command line (`--config`) and the log filter; not configuration keys.
    set("GATEWAY_CONFIG", "/nonexistent/gateway.toml");
    set("GATEWAY_LOG", "debug");
    let vars = [
        "GATEWAY_NODE__REGION",
        "GATEWAY_DATABASE__URL",
        "GATEWAY_DATABASE__EMBEDDED__PORT",
        "GATEWAY_DATABASE__EMBEDDED__SETTINGS__SHARED_BUFFERS",
        "GATEWAY_PKI_DIR",
        "GATEWAY_INGEST__LEGACY_CREDIT_PREFIXES",
        "GATEWAY_INGEST__MAX_CLOCK_SKEW_SECS",
        "GATEWAY_LOG__LEVEL",
        "GATEWAY_CONFIG",
        "GATEWAY_LOG",
    ];
    let loaded = Config::load(None);
    for key in vars {
        unset(key);
    }
    let config = loaded.expect("configuration loads from the environment");
    assert_eq!(config.node.region, "621002000000");
    assert_eq!(
        config.database.url.as_deref(),
        Some("postgres://gateway@db.example:5432/gateway")
    );
    assert_eq!(config.database.embedded.port, 55433);
    // A server setting of the embedded PostgreSQL, after (over) the sized defaults.
    let settings = gateway::db::embedded::pg_config(&config.database.embedded).settings;
    let shared: Vec<&str> = settings
        .iter()
        .filter(|(name, _)| name == "shared_buffers")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(shared.len(), 2, "{settings:?}");
    assert_eq!(shared.last(), Some(&"2GB"));
    assert_eq!(
        config.pki_dir,
        std::path::Path::new("/etc/exchange-gateway/pki")
    );
    assert_eq!(config.ingest.legacy_credit_prefixes, ["91620000", "5262"]);
    assert_eq!(config.ingest.max_clock_skew_secs, -5);
    assert_eq!(config.log.level, "gateway=debug,info");
    // Untouched keys keep their defaults.
    assert_eq!(config.database.embedded.database, "gateway");
    assert_eq!(config.node.name, Config::default().node.name);
    assert_eq!(config.log.format, "json");

    // A value that cannot be read as the key's type is an error naming the variable's key.
    set("GATEWAY_DATABASE__EMBEDDED__PORT", "fivefivefour");
    let err = Config::load(None).expect_err("a port must be a number");
    unset("GATEWAY_DATABASE__EMBEDDED__PORT");
    assert!(err.to_string().contains("PORT"), "{err}");
}
