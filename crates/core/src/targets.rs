//! Notification targets: each named once, and at most so many of them.

use crate::ids::parse_root;

/// Targets in first-seen order with repeats removed, each under `key` (a root in either
/// wire form is one user): a target named twice is sent one copy. More than `max`
/// distinct targets give `ids` back as an error, so that one message cannot fan out past
/// the limit. A list without repeats (the usual one) is returned as it is, uncopied.
pub fn distinct_targets(
    mut ids: Vec<String>,
    key: impl Fn(&str) -> String,
    max: usize,
) -> Result<Vec<String>, Vec<String>> {
    if ids.len() <= 1 {
        return if ids.len() <= max { Ok(ids) } else { Err(ids) };
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len().min(max + 1));
    for id in &ids {
        if seen.insert(key(id)) && seen.len() > max {
            return Err(ids);
        }
    }
    if seen.len() < ids.len() {
        let mut kept = std::collections::HashSet::with_capacity(seen.len());
        ids.retain(|id| kept.insert(key(id)));
    }
    Ok(ids)
}

/// The key under which two ids name one user: its 24 hex, or the id as it is when
/// malformed (it matches nobody either way).
pub fn user_key(id: &str) -> String {
    parse_root(id).unwrap_or_else(|| id.to_string())
}
