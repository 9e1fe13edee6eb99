//! The kernel side of the firewall: the synchronous `NftBackend` of the `warden-firewall` crate run on
//! tokio's blocking pool, behind the capability probed at start. Every call first checks that Warden
//! may drive nft here; if not, it fails with [`FirewallError::Unavailable`] naming why.

use std::sync::Arc;

use warden_firewall::backend::{Capability, NftBackend, NftError};

use super::FirewallError;

/// The nft backend and whether it can be used.
#[derive(Clone, Debug)]
pub struct Kernel {
    backend: Arc<NftBackend>,
    capability: Capability,
}

impl Kernel {
    /// Probes `backend` (runs `nft list tables`).
    pub async fn probe(backend: NftBackend) -> Kernel {
        let backend = Arc::new(backend);
        let probing = backend.clone();
        let capability = tokio::task::spawn_blocking(move || probing.probe())
            .await
            .unwrap_or_else(|e| Capability {
                available: false,
                reason: Some(format!("probing nft failed: {e}")),
            });
        Kernel {
            backend,
            capability,
        }
    }

    /// A kernel Warden must never touch (`--firewall off`): nothing is probed or run.
    pub fn off(backend: NftBackend) -> Kernel {
        Kernel {
            backend: Arc::new(backend),
            capability: Capability {
                available: false,
                reason: Some(
                    "firewall management is off (--firewall off): Warden leaves the host firewall alone"
                        .to_string(),
                ),
            },
        }
    }

    /// Whether the firewall can be managed here, and why not.
    pub fn capability(&self) -> &Capability {
        &self.capability
    }

    /// Runs `f` with the backend on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, FirewallError>
    where
        T: Send + 'static,
        F: FnOnce(&NftBackend) -> Result<T, NftError> + Send + 'static,
    {
        if !self.capability.available {
            return Err(FirewallError::Unavailable(
                self.capability
                    .reason
                    .clone()
                    .unwrap_or_else(|| "nft cannot be used here".to_string()),
            ));
        }
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || f(&backend))
            .await
            .map_err(|e| FirewallError::Internal(format!("the nft task failed: {e}")))?
            .map_err(FirewallError::Nft)
    }
}
