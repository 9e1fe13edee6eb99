//! The ordered [`RuleSet`] (index 0 = top; the first matching rule wins) and its editing
//! operations. Edits validate through [`crate::validate`]; positions are kept equal to indices.

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::model::{Rule, RulePatch};
use crate::network::{parse_host, HostSpec};

/// Errors of [`RuleSet`] editing operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleSetError {
    /// No rule has this id.
    #[error("no firewall rule has the id {0:?}")]
    NotFound(String),
    /// A rule with this id already exists.
    #[error("a firewall rule with the id {0:?} already exists")]
    DuplicateId(String),
    /// The patch did not validate.
    #[error("invalid rule")]
    Invalid(Vec<FieldError>),
}

/// The ordered rule set (index 0 = top; the first matching rule wins). Positions are kept equal to
/// indices by every method here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RuleSet {
    /// The rules, top first.
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// A rule set from rules in order (positions are renumbered).
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let mut set = RuleSet { rules };
        set.renumber();
        set
    }

    /// Sets every rule's `position` to its index.
    pub fn renumber(&mut self) {
        for (index, rule) in self.rules.iter_mut().enumerate() {
            rule.position = u32::try_from(index).unwrap_or(u32::MAX);
        }
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    fn index_of(&self, id: &str) -> Result<usize, RuleSetError> {
        self.rules
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| RuleSetError::NotFound(id.to_string()))
    }

    /// Inserts `rule` at `position` (clamped; `None` appends) and returns its final position.
    pub fn insert(&mut self, rule: Rule, position: Option<u32>) -> Result<u32, RuleSetError> {
        if self.get(&rule.id).is_some() {
            return Err(RuleSetError::DuplicateId(rule.id));
        }
        let index = clamp_index(position, self.rules.len());
        self.rules.insert(index, rule);
        self.renumber();
        Ok(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// Moves a rule to `position` (clamped to the last index) and returns its final position.
    pub fn move_rule(&mut self, id: &str, position: u32) -> Result<u32, RuleSetError> {
        let from = self.index_of(id)?;
        let rule = self.rules.remove(from);
        let index = clamp_index(Some(position), self.rules.len());
        self.rules.insert(index, rule);
        self.renumber();
        Ok(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// Removes a rule and returns it.
    pub fn remove(&mut self, id: &str) -> Result<Rule, RuleSetError> {
        let index = self.index_of(id)?;
        let rule = self.rules.remove(index);
        self.renumber();
        Ok(rule)
    }

    /// Applies a validated patch (and its `position`, if any); on error nothing changes.
    pub fn patch(&mut self, id: &str, patch: &RulePatch) -> Result<&Rule, RuleSetError> {
        let index = self.index_of(id)?;
        let next = self.rules[index]
            .patched(patch)
            .map_err(RuleSetError::Invalid)?;
        self.rules[index] = next;
        let index = match patch.position {
            Some(position) => {
                let rule = self.rules.remove(index);
                let to = clamp_index(Some(position), self.rules.len());
                self.rules.insert(to, rule);
                to
            }
            None => index,
        };
        self.renumber();
        Ok(&self.rules[index])
    }

    /// Every hostname (lower-cased, without a trailing dot) used by an **enabled** rule: the server
    /// resolves these right before rendering and passes the result in [`ApplyContext::resolved_hosts`](crate::model::ApplyContext::resolved_hosts).
    pub fn hostnames(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.enabled)
            .flat_map(|r| r.hosts.iter())
            .filter_map(|h| match parse_host(h) {
                Ok(HostSpec::Hostname(name)) => Some(name),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn clamp_index(position: Option<u32>, len: usize) -> usize {
    match position {
        Some(p) => usize::try_from(p).unwrap_or(usize::MAX).min(len),
        None => len,
    }
}
