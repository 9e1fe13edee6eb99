//! The nftables backend (feature `nft`): thin, synchronous effects over the `nft` program. The server
//! calls it from `spawn_blocking`.
//!
//! Batches are libnftables JSON documents, type-checked against the `nftables` crate's schema
//! ([`nftables::schema::Nftables`]) and piped to `nft -j -f -`; kernel listings are parsed with the
//! same schema. Nothing is ever built by concatenating user text into a command line: the only text
//! given to `nft -f` is the renderer's own output or nft's own listing (for snapshots).
//!
//! The process is run here rather than with `nftables::helper` because its helpers (0.6.3) drop nft's
//! stderr — the error message Warden must show — and cannot prefix a command such as
//! `ip netns exec NS nft`.
//!
//! Only the table `inet warden` is touched.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use nftables::schema::{NfListObject, NfObject, Nftables};
use nftables::stmt::{Counter, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod listing;

pub use crate::capability::Capability;
pub use listing::fingerprint_listing;
use listing::{ban_from_element, ban_set_element, ban_set_name, element_object, set_declaration};

use crate::model::{Ban, Family};
use crate::network::ban_network;
use crate::render::{
    ban_key, rule_id_from_comment, RenderedRuleset, BAN_SET_V4, BAN_SET_V6, TABLE_FAMILY,
    TABLE_NAME,
};

/// Errors of the nftables backend. `Display` includes nft's own message.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// The program could not be started (e.g. nft is not installed).
    #[error("cannot run {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// nft ran and failed; `stderr` is its own message. The kernel state is unchanged.
    #[error("nft failed while {action}: {}", stderr.trim())]
    Failed {
        /// What Warden was doing.
        action: &'static str,
        /// Exit code, if any.
        status: Option<i32>,
        /// nft's standard error.
        stderr: String,
    },
    /// nft's output could not be understood.
    #[error("unexpected nft output while {action}: {detail}")]
    Output {
        /// What Warden was doing.
        action: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A batch does not match the libnftables JSON schema (a renderer bug).
    #[error("the nft batch does not match the libnftables JSON schema: {0}")]
    Schema(String),
}

/// Packet and byte counts of one user rule (summed over its nft rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleCounters {
    /// Packets matched.
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
}

/// The live table as nft lists it, for commit-confirm rollback. `table: None` means "no Warden
/// table": restoring it deletes the table. Serializable so it can be stored durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Output of `nft list table inet warden`, or `None` if the table did not exist.
    pub table: Option<String>,
}

/// Runs `nft` (or a wrapper such as `ip netns exec NS nft`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftBackend {
    command: Vec<OsString>,
}

impl Default for NftBackend {
    fn default() -> Self {
        NftBackend::new("nft")
    }
}

const NO_SUCH_FILE: &str = "No such file or directory";

impl NftBackend {
    /// A backend running `nft_program` (a path or a name looked up in `PATH`).
    pub fn new(nft_program: impl Into<OsString>) -> NftBackend {
        NftBackend {
            command: vec![nft_program.into()],
        }
    }

    /// A backend running a command line ending in nft, e.g.
    /// `["ip", "netns", "exec", "wdn-s-1", "nft"]`; nft's own arguments are appended. An empty
    /// vector means `nft`.
    pub fn with_command<I, S>(argv: I) -> NftBackend
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let command: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        if command.is_empty() {
            return NftBackend::default();
        }
        NftBackend { command }
    }

    fn program(&self) -> &OsStr {
        self.command
            .first()
            .map(OsString::as_os_str)
            .unwrap_or_else(|| OsStr::new("nft"))
    }

    /// Runs nft with `args`, feeding `stdin`; returns stdout.
    fn run(
        &self,
        action: &'static str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NftError> {
        let mut command = Command::new(self.program());
        command
            .args(self.command.iter().skip(1))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |source| NftError::Spawn {
            program: self.program().to_string_lossy().into_owned(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A write error means nft exited early; its status and stderr tell why.
            let _ = pipe.write_all(input.as_bytes());
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if stderr.trim().is_empty() {
                stderr = format!("exited with {}", output.status);
            }
            Err(NftError::Failed {
                action,
                status: output.status.code(),
                stderr,
            })
        }
    }

    /// Checks that nft runs and may read and change the ruleset (root or CAP_NET_ADMIN).
    pub fn probe(&self) -> Capability {
        match self.run("probing nft", &["list", "tables"], None) {
            Ok(_) => Capability {
                available: true,
                reason: None,
            },
            Err(NftError::Spawn { program, source }) => Capability {
                available: false,
                reason: Some(if source.kind() == std::io::ErrorKind::NotFound {
                    format!("{program:?} was not found: install the nftables package")
                } else {
                    format!("{program:?} cannot be run: {source}")
                }),
            },
            Err(NftError::Failed { stderr, .. })
                if stderr.contains("Operation not permitted") || stderr.contains("EPERM") =>
            {
                Capability {
                    available: false,
                    reason: Some(format!(
                        "nft needs root or CAP_NET_ADMIN to manage the firewall ({})",
                        stderr.trim()
                    )),
                }
            }
            Err(other) => Capability {
                available: false,
                reason: Some(other.to_string()),
            },
        }
    }

    /// Type-checks a JSON batch against the `nftables` crate's schema and serializes it. The batch
    /// itself is sent, not the crate's re-serialization of it: the crate (0.6.3) writes unit
    /// statements such as `notrack` as bare strings, which nft refuses (`{"notrack": null}` is the
    /// libnftables form, and the one nft lists).
    fn typed_batch(batch: &Value) -> Result<String, NftError> {
        let _typed: Nftables<'static> =
            serde_json::from_value(batch.clone()).map_err(|e| NftError::Schema(e.to_string()))?;
        Ok(batch.to_string())
    }

    fn run_batch(&self, action: &'static str, batch: &Value, check: bool) -> Result<(), NftError> {
        let json = Self::typed_batch(batch)?;
        let args: &[&str] = if check {
            &["-c", "-j", "-f", "-"]
        } else {
            &["-j", "-f", "-"]
        };
        self.run(action, args, Some(&json)).map(drop)
    }

    /// Replaces the `inet warden` table with `rendered` in one transaction. On error the previous
    /// state is untouched and the error carries nft's message.
    pub fn apply(&self, rendered: &RenderedRuleset) -> Result<(), NftError> {
        self.run_batch("applying the firewall", &rendered.batch, false)
    }

    /// Asks nft whether the batch would apply (`nft -c`), changing nothing.
    pub fn check(&self, rendered: &RenderedRuleset) -> Result<(), NftError> {
        self.run_batch("checking the firewall", &rendered.batch, true)
    }

    /// Asks nft whether the text form would apply (`nft -c -f`), changing nothing.
    pub fn check_text(&self, rendered: &RenderedRuleset) -> Result<(), NftError> {
        self.run(
            "checking the firewall text",
            &["-c", "-f", "-"],
            Some(&rendered.nft_script()),
        )
        .map(drop)
    }

    fn table_exists(&self) -> Result<bool, NftError> {
        let out = self.run("listing tables", &["-j", "list", "tables"], None)?;
        let value: Value = serde_json::from_str(&out).map_err(|e| NftError::Output {
            action: "listing tables",
            detail: e.to_string(),
        })?;
        Ok(value["nftables"].as_array().is_some_and(|objects| {
            objects
                .iter()
                .any(|o| o["table"]["family"] == TABLE_FAMILY && o["table"]["name"] == TABLE_NAME)
        }))
    }

    /// Runs a `list ...` command; `Ok(None)` if the table does not exist.
    fn list(&self, action: &'static str, args: &[&str]) -> Result<Option<String>, NftError> {
        match self.run(action, args, None) {
            Ok(out) => Ok(Some(out)),
            Err(NftError::Failed { stderr, .. })
                if stderr.contains(NO_SUCH_FILE) && !self.table_exists()? =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The live `inet warden` table as nft text, or `None` if it does not exist.
    pub fn live_table_text(&self) -> Result<Option<String>, NftError> {
        self.list(
            "listing the firewall table",
            &["list", "table", TABLE_FAMILY, TABLE_NAME],
        )
    }

    /// The live `inet warden` table as nft JSON (parsed with the `nftables` schema), or `None`.
    pub fn live_table(&self) -> Result<Option<Nftables<'static>>, NftError> {
        let action = "listing the firewall table";
        let Some(out) = self.list(action, &["-j", "list", "table", TABLE_FAMILY, TABLE_NAME])?
        else {
            return Ok(None);
        };
        serde_json::from_str(&out)
            .map(Some)
            .map_err(|e| NftError::Output {
                action,
                detail: e.to_string(),
            })
    }

    /// A fingerprint of the live table's structure (chains, rules, sets; without handles, counter
    /// values and ban elements), or `None` if there is no table. Store it right after
    /// [`apply`](Self::apply); a later different value means drift (someone changed or flushed the
    /// table).
    pub fn fingerprint(&self) -> Result<Option<String>, NftError> {
        let action = "listing the firewall table";
        let Some(out) = self.list(action, &["-j", "list", "table", TABLE_FAMILY, TABLE_NAME])?
        else {
            return Ok(None);
        };
        let value: Value = serde_json::from_str(&out).map_err(|e| NftError::Output {
            action,
            detail: e.to_string(),
        })?;
        Ok(Some(fingerprint_listing(&value)))
    }

    /// The current state, to roll back to with [`restore`](Self::restore).
    pub fn snapshot(&self) -> Result<Snapshot, NftError> {
        Ok(Snapshot {
            table: self.live_table_text()?,
        })
    }

    /// Puts a [`Snapshot`] back in one transaction: the table exactly as it was (or no table).
    /// Bans are the exception: the bans live now are kept (with their remaining timeouts) rather
    /// than those of the snapshot's time.
    pub fn restore(&self, snapshot: &Snapshot) -> Result<(), NftError> {
        let Some(text) = &snapshot.table else {
            return self.delete_table();
        };
        let current_bans = self.bans().unwrap_or_default();
        let mut script = format!(
            "table {TABLE_FAMILY} {TABLE_NAME}\ndelete table {TABLE_FAMILY} {TABLE_NAME}\n{text}\n"
        );
        for (set, family) in [(BAN_SET_V4, Family::Ipv4), (BAN_SET_V6, Family::Ipv6)] {
            let Some(declaration) = set_declaration(text, set) else {
                continue;
            };
            // A snapshot taken by an older Warden may hold interval sets (elements are prefixes);
            // the current ones are hash sets keyed by address.
            let interval = declaration.contains("interval");
            script.push_str(&format!("flush set {TABLE_FAMILY} {TABLE_NAME} {set}\n"));
            let elements: Vec<String> = current_bans
                .iter()
                .filter(|b| b.network.family() == family)
                .map(|b| {
                    let element = if interval {
                        b.network.to_string()
                    } else {
                        ban_key(&b.network).to_string()
                    };
                    match b.expires_in_secs {
                        Some(secs) => format!("{element} timeout {}s", secs.max(1)),
                        None => element,
                    }
                })
                .collect();
            if !elements.is_empty() {
                script.push_str(&format!(
                    "add element {TABLE_FAMILY} {TABLE_NAME} {set} {{ {} }}\n",
                    elements.join(", ")
                ));
            }
        }
        self.run("restoring the firewall", &["-f", "-"], Some(&script))
            .map(drop)
    }

    /// Deletes the `inet warden` table (and with it every Warden rule and ban); no error if absent.
    pub fn delete_table(&self) -> Result<(), NftError> {
        let table = json!({"family": TABLE_FAMILY, "name": TABLE_NAME});
        let batch = json!({"nftables": [
            {"add": {"table": table}},
            {"delete": {"table": table}},
        ]});
        self.run_batch("deleting the firewall table", &batch, false)
    }

    /// Packet/byte counters per user rule id, read from the live table (empty if there is none).
    pub fn counters(&self) -> Result<HashMap<String, RuleCounters>, NftError> {
        let mut counters: HashMap<String, RuleCounters> = HashMap::new();
        let Some(table) = self.live_table()? else {
            return Ok(counters);
        };
        for object in table.objects.iter() {
            let NfObject::ListObject(NfListObject::Rule(rule)) = object else {
                continue;
            };
            let Some(id) = rule.comment.as_deref().and_then(rule_id_from_comment) else {
                continue;
            };
            let entry = counters.entry(id.to_string()).or_default();
            for statement in rule.expr.iter() {
                if let Statement::Counter(Counter::Anonymous(Some(c))) = statement {
                    entry.packets += c.packets.unwrap_or(0) as u64;
                    entry.bytes += c.bytes.unwrap_or(0) as u64;
                }
            }
        }
        Ok(counters)
    }

    /// The bans in the kernel, with their remaining time (empty if there is no table).
    pub fn bans(&self) -> Result<Vec<Ban>, NftError> {
        let mut bans = Vec::new();
        let Some(table) = self.live_table()? else {
            return Ok(bans);
        };
        for object in table.objects.iter() {
            let NfObject::ListObject(NfListObject::Set(set)) = object else {
                continue;
            };
            if set.name != BAN_SET_V4 && set.name != BAN_SET_V6 {
                continue;
            }
            for element in set.elem.iter().flat_map(|e| e.iter()) {
                if let Some(ban) = ban_from_element(element) {
                    bans.push(ban);
                }
            }
        }
        bans.sort_by_key(|b| b.network);
        Ok(bans)
    }

    /// Bans `addr` (IPv6: its /64) for `timeout_secs` (at least 1 s), replacing the timeout of an
    /// existing ban of it. Fails if the table is not applied. The caller must not ban an
    /// anti-lockout address.
    pub fn ban(&self, addr: IpAddr, timeout_secs: u64) -> Result<(), NftError> {
        let network = ban_network(addr);
        let secs = u32::try_from(timeout_secs.max(1)).unwrap_or(u32::MAX);
        let plain = ban_set_element(&network, None);
        let timed = ban_set_element(&network, Some(secs));
        let set = ban_set_name(&network);
        let batch = json!({"nftables": [
            {"add": {"element": element_object(set, plain.clone())}},
            {"delete": {"element": element_object(set, plain)}},
            {"add": {"element": element_object(set, timed)}},
        ]});
        self.run_batch("banning an address", &batch, false)
    }

    /// Lifts the ban covering `addr` (IPv6: its /64); no error if it was not banned.
    pub fn unban(&self, addr: IpAddr) -> Result<(), NftError> {
        let network = ban_network(addr);
        let plain = ban_set_element(&network, None);
        let set = ban_set_name(&network);
        let batch = json!({"nftables": [
            {"add": {"element": element_object(set, plain.clone())}},
            {"delete": {"element": element_object(set, plain)}},
        ]});
        self.run_batch("lifting a ban", &batch, false)
    }
}
