//! The tenants file (`--tenants-file`): which tenants exist, the hosts that reach each
//! one, and the settings its walkers may read. The operator owns it, outside the walkers
//! directory, so a tenant that may write its own walkers cannot change its settings.
//!
//! ```toml
//! [tenants.acme]
//! hosts = ["acme.example.com"]
//! [tenants.acme.vars]
//! greeting = "hello"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use serde::Deserialize;
use tokio::sync::mpsc::UnboundedReceiver;

use super::quotas::{QuotaSettings, TenantQuotas};
use walker_runtime::{Vars, is_var_name};

/// The tenant that serves the top-level walkers at the root paths; a file cannot
/// declare it.
pub use walker_core::DEFAULT_TENANT;

#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsFile {
    /// Quotas of every declared tenant that its own do not set.
    #[serde(default)]
    pub defaults: QuotaSettings,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantSettings>,
}

#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Host names (no port) whose requests go to this tenant at the root paths.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Settings and secrets its walkers may read, each only if its spec declares it.
    #[serde(default)]
    pub vars: Vars,
    /// Compile its walkers into a cache of its own (`<data-dir>/tenants/<name>/compiled`)
    /// instead of the shared one, whose load times tell whether another tenant already
    /// loaded the same bytes.
    #[serde(default)]
    pub own_code_cache: bool,
    #[serde(default)]
    pub quotas: QuotaSettings,
    /// The bearer token its own metrics (`/t/<name>/metrics`) require. Unset: the
    /// operator's `--metrics-token`, if any.
    #[serde(default)]
    pub metrics_token: Option<String>,
}

impl TenantsFile {
    pub fn read(path: &Path) -> anyhow::Result<TenantsFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: TenantsFile = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        file.check().with_context(|| format!("in {}", path.display()))?;
        Ok(file)
    }

    fn check(&self) -> anyhow::Result<()> {
        let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, settings) in &self.tenants {
            check_name(name)?;
            anyhow::ensure!(name != DEFAULT_TENANT, "the tenant name {DEFAULT_TENANT:?} is reserved");
            for host in &settings.hosts {
                anyhow::ensure!(
                    !host.is_empty() && host.split('.').all(is_dns_label),
                    "tenant {name}: host {host:?} is not a lower-case host name without a port"
                );
                if let Some(owner) = owners.insert(host, name) {
                    anyhow::bail!("host {host} is claimed by tenants {owner} and {name}");
                }
            }
            TenantQuotas::resolve(&self.defaults, &settings.quotas)
                .with_context(|| format!("tenant {name}'s quotas"))?;
            if let Some(var) = settings.vars.keys().find(|var| !is_var_name(var)) {
                anyhow::bail!("tenant {name}: variable name {var:?} is not [a-z0-9_], starting with a letter");
            }
        }
        Ok(())
    }

    /// A declared tenant's quotas in effect.
    pub fn quotas(&self, settings: &TenantSettings) -> TenantQuotas {
        TenantQuotas::resolve(&self.defaults, &settings.quotas).expect("checked when read")
    }
}

/// A tenant name must be a DNS label.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(is_dns_label(name), "tenant name {name:?} is not a DNS label ([a-z0-9-], at most 63)");
    Ok(())
}

/// `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`: usable in host names, paths, schema and key names.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Keeps watching the tenants file while alive.
pub struct FileWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Starts watching the file at `path`: the receiver gets a message each time it may have
/// changed. Its directory is watched, not the file: editors and deployers replace it by
/// renaming.
pub fn watch(path: &Path, debounce: Duration) -> anyhow::Result<(FileWatcher, UnboundedReceiver<()>)> {
    let path: PathBuf = std::path::absolute(path)?;
    let dir = path.parent().context("the tenants file has no directory")?.to_path_buf();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let watched = path.clone();
    let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
        if let Ok(events) = result
            && events.iter().flat_map(|event| &event.paths).any(|changed| changed == &watched)
        {
            let _ = tx.send(());
        }
    })
    .context("watching the tenants file")?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;
    Ok((FileWatcher { _debouncer: debouncer }, rx))
}
