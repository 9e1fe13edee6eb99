//! The stored form of a destination (sled tree `notifications`, JSON): everything the API takes, the
//! SMTP password included (the store's files are Warden's own, mode 0600), and its conversions to and
//! from the wire shapes — the answer never carries the password, only whether one is set.

use serde::{Deserialize, Serialize};

use app::model::notifications::{
    DeliveryRecord, Destination, DestinationInput, DestinationKind, DestinationPatch, SmtpInput,
    SmtpSecurity, SmtpView,
};

/// The SMTP server of a stored e-mail destination.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSmtp {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The secret: stored, never answered nor logged (see the `Debug` impl).
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for StoredSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSmtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password_set", &self.password.is_some())
            .finish()
    }
}

/// One destination as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDestination {
    pub id: String,
    pub name: String,
    pub kind: DestinationKind,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub smtp: Option<StoredSmtp>,
    #[serde(default)]
    pub to: Vec<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
}

fn stored_smtp(input: &SmtpInput, keep_password: Option<&String>) -> StoredSmtp {
    let password = match &input.password {
        // Left out: keep the stored one. Empty: remove it.
        None => keep_password.cloned(),
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p.clone()),
    };
    StoredSmtp {
        host: input.host.trim().to_string(),
        port: input.port,
        security: input.security,
        from: input.from.trim().to_string(),
        username: input
            .username
            .as_ref()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty()),
        password,
    }
}

impl StoredDestination {
    /// A new destination from a (validated) input.
    pub fn create(id: String, input: &DestinationInput, created_at: String) -> StoredDestination {
        StoredDestination {
            id,
            name: input.name.trim().to_string(),
            kind: input.kind,
            url: input.url.as_ref().map(|u| u.trim().to_string()),
            smtp: input.smtp.as_ref().map(|s| stored_smtp(s, None)),
            to: input.to.iter().map(|a| a.trim().to_string()).collect(),
            events: input.events.clone(),
            enabled: input.enabled,
            created_at,
        }
    }

    /// This destination as an input (the password left out: it is kept), for validation after a patch.
    pub fn as_input(&self) -> DestinationInput {
        DestinationInput {
            name: self.name.clone(),
            kind: self.kind,
            url: self.url.clone(),
            smtp: self.smtp.as_ref().map(|s| SmtpInput {
                host: s.host.clone(),
                port: s.port,
                security: s.security,
                from: s.from.clone(),
                username: s.username.clone(),
                password: None,
            }),
            to: self.to.clone(),
            events: self.events.clone(),
            enabled: self.enabled,
        }
    }

    /// The input the patch leads to (to validate), and the record to store.
    pub fn patched(&self, patch: &DestinationPatch) -> (DestinationInput, StoredDestination) {
        let mut input = self.as_input();
        if let Some(name) = &patch.name {
            input.name = name.clone();
        }
        if let Some(url) = &patch.url {
            input.url = Some(url.clone());
        }
        if let Some(smtp) = &patch.smtp {
            input.smtp = Some(smtp.clone());
        }
        if let Some(to) = &patch.to {
            input.to = to.clone();
        }
        if let Some(events) = &patch.events {
            input.events = events.clone();
        }
        if let Some(enabled) = patch.enabled {
            input.enabled = enabled;
        }
        let mut next = StoredDestination::create(self.id.clone(), &input, self.created_at.clone());
        let kept = self.smtp.as_ref().and_then(|s| s.password.as_ref());
        next.smtp = input.smtp.as_ref().map(|s| stored_smtp(s, kept));
        (input, next)
    }

    /// Whether this destination wants `event` now.
    pub fn wants(&self, event: &str) -> bool {
        self.enabled && self.events.iter().any(|e| e == event)
    }

    /// The answer's shape, with the newest attempt and the newest failure.
    pub fn view(
        &self,
        last_delivery: Option<DeliveryRecord>,
        last_error: Option<DeliveryRecord>,
    ) -> Destination {
        Destination {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            url: self.url.clone(),
            url_redacted: false,
            smtp: self.smtp.as_ref().map(|s| SmtpView {
                host: s.host.clone(),
                port: s.port,
                security: s.security,
                from: s.from.clone(),
                username: s.username.clone(),
                password_set: s.password.is_some(),
            }),
            to: self.to.clone(),
            events: self.events.clone(),
            enabled: self.enabled,
            created_at: self.created_at.clone(),
            last_delivery,
            last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> DestinationInput {
        DestinationInput {
            name: "ops".into(),
            kind: DestinationKind::Email,
            smtp: Some(SmtpInput {
                host: "mail.example.org".into(),
                port: 587,
                security: SmtpSecurity::Starttls,
                from: "warden@example.org".into(),
                username: Some("warden".into()),
                password: Some("s3cret-pass".into()),
            }),
            to: vec!["ops@example.org".into()],
            events: vec!["service_disabled".into()],
            enabled: true,
            url: None,
        }
    }

    #[test]
    fn the_password_is_kept_unless_replaced_or_cleared_and_never_shown() {
        let stored = StoredDestination::create("a".into(), &email(), "t".into());
        assert!(!format!("{stored:?}").contains("s3cret-pass"));
        let view = serde_json::to_string(&stored.view(None, None)).unwrap_or_default();
        assert!(
            !view.contains("s3cret-pass") && view.contains("\"password_set\":true"),
            "{view}"
        );

        let mut smtp = email().smtp.unwrap_or_default();
        smtp.password = None;
        smtp.port = 2525;
        let patch = DestinationPatch {
            smtp: Some(smtp.clone()),
            ..DestinationPatch::default()
        };
        let (_, kept) = stored.patched(&patch);
        assert_eq!(kept.smtp.as_ref().map(|s| s.port), Some(2525));
        assert_eq!(
            kept.smtp.as_ref().and_then(|s| s.password.as_deref()),
            Some("s3cret-pass")
        );
        smtp.password = Some(String::new());
        let (_, cleared) = stored.patched(&DestinationPatch {
            smtp: Some(smtp),
            ..DestinationPatch::default()
        });
        assert_eq!(cleared.smtp.and_then(|s| s.password), None);
    }

    #[test]
    fn wants_only_its_events_while_enabled() {
        let mut stored = StoredDestination::create("a".into(), &email(), "t".into());
        assert!(stored.wants("service_disabled"));
        assert!(!stored.wants("firewall_drift"));
        stored.enabled = false;
        assert!(!stored.wants("service_disabled"));
    }
}
