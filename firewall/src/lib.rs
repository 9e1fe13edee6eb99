//! Warden's firewall crate: the rule model, validation, the pure evaluator and renderer (all of which
//! compile to WASM so the UI shares them) and, behind the `nft` feature, the nftables backend.
//!
//! Typical server flow for `POST /api/v1/firewall/apply`:
//! 1. resolve [`RuleSet::hostnames`] into an [`ApplyContext::resolved_hosts`] map and read the live
//!    bans with [`backend::NftBackend::bans`] into [`ApplyContext::bans`];
//! 2. [`render_ruleset`] (errors name the rule and field, e.g. an unresolvable host);
//! 3. [`backend::NftBackend::snapshot`] (for commit-confirm rollback), then
//!    [`backend::NftBackend::apply`], then store [`backend::NftBackend::fingerprint`] for drift checks;
//! 4. on timeout without confirmation, [`backend::NftBackend::restore`] the snapshot.
//!
//! The UI and API use [`evaluate()`] / [`exposure()`] to explain what a rule set does, and
//! [`presets()`] for one-click rules.
//!
//! Module graph (no cycles; each arrow is "uses"): [`field_error`], [`network`] (addresses, hosts),
//! [`ports`] and [`capability`] are leaves; [`model`] (plain data) uses network and ports;
//! [`validate`] (checks, validated builders of the model) uses the model; [`ruleset`] (the ordered,
//! edited rule set) uses validate; [`mod@compile`] → [`render`] / [`mod@evaluate`]; [`mod@presets`] use the
//! model and the rule set; `backend` (feature `nft`) uses render.

// Production code never panics on a failed `expect` (tests may: `clippy.toml` allows it there).
#![cfg_attr(not(test), deny(clippy::expect_used))]

pub mod capability;
pub mod compile;
pub mod evaluate;
pub mod field_error;
pub mod model;
pub mod network;
pub mod ports;
pub mod presets;
pub mod render;
pub mod ruleset;
pub mod validate;

#[cfg(feature = "nft")]
pub mod backend;

pub use capability::Capability;
pub use compile::{compile, compile_lenient, CompiledRuleset, RenderError};
pub use evaluate::{
    evaluate, evaluate_compiled, exposure, exposure_compiled, exposure_hostnames, DecidedBy,
    Exposure, Packet, PacketProtocol, Verdict,
};
pub use field_error::FieldError;
pub use model::{
    Action, ApplyContext, Ban, Direction, FirewallConfig, IpVersion, Policy, Protocol,
    ResolvedHosts, Rule, RuleInput, RulePatch, DEFAULT_SERVICE_PORTS, SSH_PORT,
};
pub use network::{ban_network, Family, HostSpec, IpNetwork};
pub use ports::PortRange;
pub use presets::{preset, preset_is_open, preset_rule_ids, presets, Preset};
pub use render::{render_bans_only, render_ruleset, RenderedRuleset};
pub use ruleset::{RuleSet, RuleSetError};
pub use validate::validate_rule;
