//! Edits of the saved rules (they take effect at the next apply): add, change, move, delete, presets,
//! the default inbound policy and the one-click expose of a service port. Each public edit records
//! its outcome in the audit log.

use warden_firewall::{FieldError, Policy, Protocol, Rule, RuleInput, RulePatch};

use super::record::{EditError, FirewallRecord};
use super::{FirewallError, FirewallHandle};

impl FirewallHandle {
    async fn edit<T>(
        &self,
        f: impl FnOnce(&mut FirewallRecord) -> Result<T, EditError>,
    ) -> Result<T, FirewallError> {
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        let out = f(&mut record)?;
        self.save(&record).await?;
        drop(guard);
        self.publish().await;
        Ok(out)
    }

    /// Adds a rule (appended unless `position` is given).
    async fn add_rule_unaudited(&self, input: RuleInput) -> Result<Rule, FirewallError> {
        self.edit(|r| r.add_rule(input)).await
    }

    /// Changes a rule.
    async fn patch_rule_unaudited(
        &self,
        id: &str,
        patch: RulePatch,
    ) -> Result<Rule, FirewallError> {
        self.edit(|r| r.patch_rule(id, &patch)).await
    }

    /// Moves a rule to `position` (clamped to the end).
    async fn move_rule_unaudited(&self, id: &str, position: u32) -> Result<Rule, FirewallError> {
        self.edit(|r| r.move_rule(id, position)).await
    }

    /// Deletes a rule.
    async fn delete_rule_unaudited(&self, id: &str) -> Result<Rule, FirewallError> {
        self.edit(|r| r.remove_rule(id)).await
    }

    /// Opens a preset; returns the rules added (or re-enabled).
    async fn open_preset_unaudited(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        self.edit(|r| r.open_preset(name)).await
    }

    /// Closes a preset; returns the rules removed.
    async fn close_preset_unaudited(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        self.edit(|r| r.close_preset(name)).await
    }

    /// Sets the saved default inbound policy (an edit: takes effect at the next apply).
    async fn set_default_inbound_policy_unaudited(
        &self,
        policy: Policy,
    ) -> Result<(), FirewallError> {
        self.edit(|r| {
            if r.default_inbound_policy != policy {
                r.default_inbound_policy = policy;
                r.saved_revision += 1;
            }
            Ok(())
        })
        .await
    }

    /// One-click expose: an accept rule for `port` of the service, at the top.
    pub async fn expose(&self, service_id: &str, port: u16) -> Result<Rule, FirewallError> {
        let services = (self.inner.services)();
        let service = services
            .iter()
            .find(|s| s.service_id == service_id)
            .ok_or_else(|| FirewallError::NotFound(format!("service {service_id:?}")))?;
        if !service.ports.contains(&port) {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "port",
                format!("service {service_id:?} does not reserve port {port}"),
            )]));
        }
        let input = RuleInput {
            position: Some(0),
            protocol: Some(Protocol::Any),
            ports: Some(vec![port.to_string()]),
            annotation: Some(format!("expose service {service_id} port {port}")),
            ..RuleInput::default()
        };
        self.add_rule(input).await
    }

    /// Adds a rule (appended unless `position` is given).
    pub async fn add_rule(&self, input: RuleInput) -> Result<Rule, FirewallError> {
        let result = self.add_rule_unaudited(input).await;
        let target = result.as_ref().map(|r| r.id.clone()).unwrap_or_default();
        self.audit("firewall.rule.create", &target, &result).await;
        result
    }

    /// Changes a rule.
    pub async fn patch_rule(&self, id: &str, patch: RulePatch) -> Result<Rule, FirewallError> {
        let result = self.patch_rule_unaudited(id, patch).await;
        self.audit("firewall.rule.update", id, &result).await;
        result
    }

    /// Moves a rule to `position` (clamped to the end).
    pub async fn move_rule(&self, id: &str, position: u32) -> Result<Rule, FirewallError> {
        let result = self.move_rule_unaudited(id, position).await;
        self.audit(
            "firewall.rule.move",
            &format!("{id} to {position}"),
            &result,
        )
        .await;
        result
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, id: &str) -> Result<Rule, FirewallError> {
        let result = self.delete_rule_unaudited(id).await;
        self.audit("firewall.rule.delete", id, &result).await;
        result
    }

    /// Opens a preset; returns the rules added (or re-enabled).
    pub async fn open_preset(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        let result = self.open_preset_unaudited(name).await;
        self.audit("firewall.preset.open", name, &result).await;
        result
    }

    /// Closes a preset; returns the rules removed.
    pub async fn close_preset(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        let result = self.close_preset_unaudited(name).await;
        self.audit("firewall.preset.close", name, &result).await;
        result
    }

    /// Sets the saved default inbound policy (takes effect at the next apply).
    pub async fn set_default_inbound_policy(&self, policy: Policy) -> Result<(), FirewallError> {
        let result = self.set_default_inbound_policy_unaudited(policy).await;
        self.audit(
            "firewall.policy",
            &format!("{policy:?}").to_lowercase(),
            &result,
        )
        .await;
        result
    }
}
