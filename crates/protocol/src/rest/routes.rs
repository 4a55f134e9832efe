//! Which walker a request path names: its routes as jac-cloud serves them,
//! `/walker/<name>` or its custom path (an absolute one, or a relative one under
//! `/walker/<name>/`), each also followed by `/<node>` for a node entry, as its entry
//! type allows.
//!
//! A default route is found by name; custom paths are tried one by one. When several
//! routes match, the one with the most literal segments wins (a custom
//! `/walker/legacy/latest` over walker `legacy`'s node route `/walker/legacy/{node}`),
//! and on a tie the default route.

use walker_runtime::catalog::{Snapshot, Walker};

/// A request resolved to a walker.
pub struct Route {
    pub walker: Walker,
    /// The entry node, for a node route.
    pub node: Option<String>,
    /// Values of the custom path's `{name}` segments.
    pub path_values: Vec<(String, String)>,
}

pub fn resolve(snapshot: &Snapshot, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let by_name = match segments.as_slice() {
        ["walker", name] | ["walker", name, _] => snapshot.walker(&decode(name)),
        _ => None,
    };
    let candidates = by_name.filter(|walker| walker.spec().path.is_none()).into_iter();
    let mut best: Option<(usize, Route)> = None;
    for walker in candidates.chain(snapshot.with_custom_paths()) {
        for (pattern, node_route) in &walker.spec().routes {
            let Some((literals, mut path_values)) = matches(pattern, &segments) else { continue };
            if best.as_ref().is_some_and(|(best, _)| *best >= literals) {
                continue;
            }
            let node = if *node_route { path_values.pop().map(|(_, node)| node) } else { None };
            best = Some((literals, Route { walker: walker.clone(), node, path_values }));
        }
    }
    best.map(|(_, route)| route)
}

/// Whether `segments` fit `pattern`: how many of its segments are literal, and the
/// values of its `{param}`s in order.
fn matches(pattern: &str, segments: &[&str]) -> Option<(usize, Vec<(String, String)>)> {
    if pattern.split('/').skip(1).count() != segments.len() {
        return None;
    }
    let (mut literals, mut values) = (0, Vec::new());
    for (expected, actual) in pattern.split('/').skip(1).zip(segments) {
        match expected.strip_prefix('{').and_then(|param| param.strip_suffix('}')) {
            Some(param) => values.push((param.to_string(), decode(actual))),
            None if expected == *actual => literals += 1,
            None => return None,
        }
    }
    Some((literals, values))
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}
