//! Notification destinations, shared by the UI and the server: a webhook (an HTTP(S) URL that receives a
//! JSON POST) or e-mail (an SMTP server and recipients), each with the events it wants; the delivery log
//! entries; the known event names; and the pure validation both sides run, so the Settings form shows the
//! same field errors the API returns. The SMTP password is input only: answers say `password_set`.

use serde::{Deserialize, Serialize};

use super::FieldError;

mod addresses;
pub use addresses::{validate_address, validate_url};

/// Every event a destination can subscribe to, with the sentence the UI shows for it.
pub const EVENTS: &[(&str, &str)] = &[
    (
        SERVICE_DISABLED,
        "A service was disabled (crash loop, or it daemonized)",
    ),
    (SERVICE_HEALTH_FAILING, "A service's monitoring check fails"),
    (
        SERVICE_HEALTH_RECOVERED,
        "A service's monitoring check passes again",
    ),
    (
        SERVICE_MEMORY_RESTART,
        "A service was restarted for exceeding its memory limit",
    ),
    (
        FIREWALL_ROLLED_BACK,
        "A firewall apply was rolled back (not confirmed in time)",
    ),
    (
        FIREWALL_DRIFT,
        "The live firewall differs from the applied rule set",
    ),
    (
        ADDRESS_BANNED,
        "An address was banned (failed logins to Warden, or a jail)",
    ),
    (
        WARDEN_UNCLEAN_RESTART,
        "Warden started after an unclean stop (crash, kill, power loss)",
    ),
];

pub const SERVICE_DISABLED: &str = "service_disabled";
pub const SERVICE_HEALTH_FAILING: &str = "service_health_failing";
pub const SERVICE_HEALTH_RECOVERED: &str = "service_health_recovered";
pub const SERVICE_MEMORY_RESTART: &str = "service_memory_restart";
pub const FIREWALL_ROLLED_BACK: &str = "firewall_rolled_back";
pub const FIREWALL_DRIFT: &str = "firewall_drift";
pub const ADDRESS_BANNED: &str = "address_banned";
pub const WARDEN_UNCLEAN_RESTART: &str = "warden_unclean_restart";
/// The event of a "send test" delivery (not subscribable).
pub const TEST_EVENT: &str = "test";

/// The most destinations Warden keeps.
pub const MAX_DESTINATIONS: usize = 50;
/// The most recipients of one e-mail destination.
pub const MAX_RECIPIENTS: usize = 20;
/// Longest URL, host, name and credential texts.
pub const MAX_URL_CHARS: usize = 2048;
const MAX_NAME_CHARS: usize = 64;
const MAX_HOST_CHARS: usize = 253;
const MAX_CREDENTIAL_CHARS: usize = 512;
const MAX_ADDRESS_CHARS: usize = 254;

/// Where a destination delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// An HTTP POST of the JSON payload to `url`.
    #[default]
    Webhook,
    /// A plain-text e-mail through `smtp` to `to`.
    Email,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required: no mail is sent unencrypted). Usually port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS). Usually port 465.
    Tls,
    /// No encryption (a relay on this host or a trusted network only). Usually port 25.
    None,
}

/// The SMTP server of an e-mail destination, as sent (`password` is write-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SmtpInput {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    /// The sender address (`From:`).
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Stored, never returned. On `PATCH` (and in a desired-state document), leaving it out keeps the
    /// stored one; `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The SMTP server of an e-mail destination, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SmtpView {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Whether a password is stored (the password itself is never returned).
    pub password_set: bool,
}

/// The body of `POST /api/v1/notifications/destinations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// A label for people (optional).
    #[serde(default)]
    pub name: String,
    pub kind: DestinationKind,
    /// Webhook: the `http://` or `https://` URL that receives the POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// E-mail: the SMTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpInput>,
    /// E-mail: the recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The event names this destination receives (see the README for the list).
    pub events: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A webhook URL as a read-only credential sees it: scheme and host (with port), without user
/// information, path, query or fragment (`https://hooks.slack.com/…`).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let hidden = rest.len() > host.len();
    let mut out = if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    };
    if hidden {
        out.push_str("/…");
    }
    out
}

impl Destination {
    /// This destination as a read-only credential sees it (see [`redact_url`]).
    pub fn redacted(mut self) -> Destination {
        if let Some(url) = self.url.take() {
            self.url = Some(redact_url(&url));
            self.url_redacted = true;
        }
        self
    }
}

/// The body of `PATCH /api/v1/notifications/destinations/{id}`: each field present is changed (the kind
/// cannot change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DestinationPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// The whole SMTP block; a left-out `password` keeps the stored one.
    #[serde(default)]
    pub smtp: Option<SmtpInput>,
    #[serde(default)]
    pub to: Option<Vec<String>>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One delivery attempt, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryRecord {
    /// RFC 3339 UTC, when the attempt ended.
    pub at: String,
    /// The event delivered (`test` for "send test").
    pub event: String,
    pub ok: bool,
    /// 1 for the first attempt; retries count up.
    pub attempt: u32,
    /// Webhook: the HTTP status answered, if any.
    #[serde(default)]
    pub status: Option<u16>,
    /// What went wrong (or, for e-mail, the server's answer).
    #[serde(default)]
    pub error: Option<String>,
}

/// A destination, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Destination {
    pub id: String,
    pub name: String,
    pub kind: DestinationKind,
    /// Webhook: the URL. Shown in full to admin credentials only: a webhook URL is often the
    /// credential itself (Slack, Discord, Matrix hooks), so a read-only one sees scheme and host
    /// (`url_redacted: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether `url` was shortened to its scheme and host for a read-only credential.
    #[serde(default, skip_serializing_if = "is_false")]
    pub url_redacted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpView>,
    #[serde(default)]
    pub to: Vec<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The newest delivery attempt, if any.
    #[serde(default)]
    pub last_delivery: Option<DeliveryRecord>,
    /// The newest failed attempt, if any.
    #[serde(default)]
    pub last_error: Option<DeliveryRecord>,
}

/// `GET /api/v1/notifications/destinations/{id}/log`: the newest attempts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryLog {
    pub entries: Vec<DeliveryRecord>,
}

/// Whether `name` is a known (subscribable) event.
pub fn is_known_event(name: &str) -> bool {
    EVENTS.iter().any(|(known, _)| *known == name)
}

fn default_port(security: SmtpSecurity) -> u16 {
    match security {
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    }
}

impl SmtpSecurity {
    /// The usual port for this security.
    pub fn usual_port(self) -> u16 {
        default_port(self)
    }
}

/// Checks an SMTP host name or address.
fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the SMTP server's host is required".into());
    }
    let ok = host.len() <= MAX_HOST_CHARS
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if !ok {
        return Err("not a host name or IP address".into());
    }
    Ok(())
}

fn validate_text(errors: &mut Vec<FieldError>, field: &str, text: &str, max: usize) {
    if text.chars().count() > max {
        errors.push(FieldError::new(field, format!("at most {max} characters")));
    } else if text.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

/// Checks the SMTP block.
pub fn validate_smtp(smtp: &SmtpInput) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = validate_host(&smtp.host) {
        errors.push(FieldError::new("smtp.host", e));
    }
    if smtp.port == 0 {
        errors.push(FieldError::new(
            "smtp.port",
            format!(
                "a port 1-65535 is required (usually {} for {:?})",
                smtp.security.usual_port(),
                smtp.security
            ),
        ));
    }
    if let Err(e) = validate_address(&smtp.from) {
        errors.push(FieldError::new("smtp.from", e));
    }
    if let Some(username) = &smtp.username {
        validate_text(&mut errors, "smtp.username", username, MAX_CREDENTIAL_CHARS);
    }
    if let Some(password) = &smtp.password {
        if password.chars().count() > MAX_CREDENTIAL_CHARS {
            errors.push(FieldError::new(
                "smtp.password",
                format!("at most {MAX_CREDENTIAL_CHARS} characters"),
            ));
        }
    }
    if smtp.password.as_deref().is_some_and(|p| !p.is_empty())
        && smtp.username.as_deref().unwrap_or_default().is_empty()
    {
        errors.push(FieldError::new(
            "smtp.username",
            "a user name is required with a password",
        ));
    }
    errors
}

fn validate_events(errors: &mut Vec<FieldError>, events: &[String]) {
    if events.is_empty() {
        errors.push(FieldError::new("events", "choose at least one event"));
    }
    for (i, event) in events.iter().enumerate() {
        if !is_known_event(event) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                format!(
                    "unknown event {event:?}; known: {}",
                    EVENTS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        } else if events[..i].contains(event) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("{event} is listed twice"),
            ));
        }
    }
}

fn validate_recipients(errors: &mut Vec<FieldError>, to: &[String]) {
    if to.is_empty() {
        errors.push(FieldError::new("to", "at least one recipient is required"));
    }
    if to.len() > MAX_RECIPIENTS {
        errors.push(FieldError::new(
            "to",
            format!("at most {MAX_RECIPIENTS} recipients"),
        ));
    }
    for (i, address) in to.iter().enumerate() {
        if let Err(e) = validate_address(address) {
            errors.push(FieldError::new(format!("to[{i}]"), e));
        }
    }
}

/// Checks a whole destination as it would be stored (after a patch is applied, too).
pub fn validate_destination(input: &DestinationInput) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_text(&mut errors, "name", &input.name, MAX_NAME_CHARS);
    match input.kind {
        DestinationKind::Webhook => {
            match &input.url {
                None => errors.push(FieldError::new(
                    "url",
                    "a webhook needs the URL it posts to",
                )),
                Some(url) => {
                    if let Err(e) = validate_url(url) {
                        errors.push(FieldError::new("url", e));
                    }
                }
            }
            if input.smtp.is_some() {
                errors.push(FieldError::new(
                    "smtp",
                    "only an e-mail destination has an SMTP server",
                ));
            }
            if !input.to.is_empty() {
                errors.push(FieldError::new(
                    "to",
                    "only an e-mail destination has recipients",
                ));
            }
        }
        DestinationKind::Email => {
            match &input.smtp {
                None => errors.push(FieldError::new(
                    "smtp",
                    "an e-mail destination needs its SMTP server",
                )),
                Some(smtp) => errors.extend(validate_smtp(smtp)),
            }
            validate_recipients(&mut errors, &input.to);
            if input.url.is_some() {
                errors.push(FieldError::new("url", "only a webhook has a URL"));
            }
        }
    }
    validate_events(&mut errors, &input.events);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_url_keeps_scheme_and_host_only() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("http://user:pass@[2001:db8::1]:8080/hook?token=x"),
            "http://[2001:db8::1]:8080/…"
        );
        assert_eq!(redact_url("https://example.org"), "https://example.org");
        assert_eq!(redact_url("https://u@example.org"), "https://example.org/…");
    }

    fn webhook(url: &str) -> DestinationInput {
        DestinationInput {
            kind: DestinationKind::Webhook,
            url: Some(url.into()),
            events: vec![SERVICE_DISABLED.into()],
            enabled: true,
            ..DestinationInput::default()
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn webhook_urls() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "https://hooks.slack.com/services/T/B/X",
            "http://[::1]:9000/",
            "HTTPS://example.org",
        ] {
            assert!(validate_destination(&webhook(ok)).is_empty(), "{ok}");
        }
        for bad in [
            "ftp://example.org",
            "example.org/hook",
            "http://",
            "http:///path",
            "http://host:0/",
            "http://host:99999/",
            "http://exa mple.org",
        ] {
            assert_eq!(
                fields(&validate_destination(&webhook(bad))),
                ["url"],
                "{bad}"
            );
        }
    }

    #[test]
    fn events_must_be_known_and_distinct() {
        let mut d = webhook("http://h/");
        d.events = vec![
            SERVICE_DISABLED.into(),
            "nonsense".into(),
            SERVICE_DISABLED.into(),
        ];
        assert_eq!(
            fields(&validate_destination(&d)),
            ["events[1]", "events[2]"]
        );
        d.events.clear();
        assert_eq!(fields(&validate_destination(&d)), ["events"]);
        assert!(EVENTS.iter().all(|(n, _)| is_known_event(n)));
        assert!(!is_known_event(TEST_EVENT));
    }

    #[test]
    fn email_destinations() {
        let mut d = DestinationInput {
            kind: DestinationKind::Email,
            smtp: Some(SmtpInput {
                host: "127.0.0.1".into(),
                port: 2525,
                security: SmtpSecurity::None,
                from: "warden@example.org".into(),
                username: None,
                password: None,
            }),
            to: vec!["ops@example.org".into(), "root@localhost".into()],
            events: vec![FIREWALL_DRIFT.into()],
            ..DestinationInput::default()
        };
        assert!(validate_destination(&d).is_empty());
        d.to = vec!["not-an-address".into(), "a@b@".into()];
        if let Some(smtp) = d.smtp.as_mut() {
            smtp.port = 0;
            smtp.host = "bad host".into();
            smtp.password = Some("secret".into());
        }
        assert_eq!(
            fields(&validate_destination(&d)),
            ["smtp.host", "smtp.port", "smtp.username", "to[0]", "to[1]"]
        );
        d.to.clear();
        d.smtp = None;
        d.url = Some("http://h/".into());
        assert_eq!(fields(&validate_destination(&d)), ["smtp", "to", "url"]);
    }

    #[test]
    fn kinds_do_not_mix_and_answers_hide_the_password() {
        let mut d = webhook("http://h/");
        d.to = vec!["a@b.c".into()];
        assert_eq!(fields(&validate_destination(&d)), ["to"]);
        let view = SmtpView {
            password_set: true,
            ..SmtpView::default()
        };
        let json = serde_json::to_value(&view).unwrap_or_default();
        assert_eq!(json["password_set"], true);
        assert!(json.get("password").is_none());
    }
}
