//! [`Capability`]: whether Warden can drive nftables on this host, and why not. Outside the `nft`
//! feature so the UI (WASM) can show it; the backend's probe produces it.

use serde::{Deserialize, Serialize};

/// Whether the backend can manage the firewall on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capability {
    /// `true` if nft runs and may change the ruleset.
    pub available: bool,
    /// Why not, in a human sentence.
    pub reason: Option<String>,
}
