//! Walkers' notifications, delivered by the hub: the runtime's `Notifier` on a tenant's
//! `Hub` (the runtime and the hub do not know each other).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use walker_hub::Hub;
use walker_runtime::{Notifier, Target};

pub struct HubNotifier(pub Arc<Hub>);

impl Notifier for HubNotifier {
    fn notify(&self, target: Target<'_>, payload: String) {
        let payload = Utf8Bytes::from(payload);
        match target {
            Target::Caller(id) => self.0.send_own(id, payload),
            Target::Clients(ids) => self.0.send_clients(ids, &payload),
            Target::Users(roots) => self.0.send_users(roots, &payload),
            Target::Channels(ids) => self.0.send_channels(ids, &payload),
        }
    }
}
