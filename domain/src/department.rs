//! Departmental private networks (部门业务专网). Each has one adapter; a source system may push
//! only through its own department's adapter.

/// The departments the bundled adapters serve. Departments onboarded later by a mapping file use
/// the same id pattern (`^[a-z][a-z0-9_]{1,39}$`), so the id, not this list, is what is stored.
pub const KNOWN: &[(&str, &str)] = &[
    ("public_security", "公安"),
    ("civil_affairs", "民政"),
    ("human_resources", "人力资源和社会保障"),
    ("health", "卫生健康"),
    ("market_regulation", "市场监督管理"),
    ("tax", "税务"),
    ("ecology_environment", "生态环境"),
];

/// True when `id` has the shape of a department id.
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Chinese name of a known department.
pub fn name_zh(id: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(k, _)| *k == id).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(KNOWN.iter().all(|(id, _)| is_valid_id(id)));
        assert!(!is_valid_id("Tax"));
        assert!(!is_valid_id("1tax"));
        assert!(!is_valid_id("t"));
        assert_eq!(name_zh("tax"), Some("税务"));
    }
}
