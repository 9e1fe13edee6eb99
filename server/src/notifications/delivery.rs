//! One delivery attempt to one destination: the webhook's JSON payload POSTed with reqwest (rustls, the
//! system's CA roots, a timeout, no redirects), or a plain-text e-mail through the destination's SMTP
//! server with lettre (tokio, rustls). The outcome says what happened in words an operator can act on;
//! it never holds the SMTP password, and a webhook error names no URL (a Slack URL is itself a secret).

use std::time::Duration;

use serde_json::{Map, Value};

use app::model::notifications::SmtpSecurity;

use super::record::{StoredDestination, StoredSmtp};
use crate::alerts::Alert;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// Webhook: the HTTP status answered.
    pub status: Option<u16>,
    /// What went wrong, or (e-mail) the server's answer.
    pub error: Option<String>,
}

impl Outcome {
    fn failed(status: Option<u16>, error: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            status,
            error: Some(error.into()),
        }
    }
}

/// The webhook body: `event`, `at`, `host`, `subject`, `text` (what Slack and Matrix hooks show), then the
/// event's details (never overriding those five).
pub fn payload(alert: &Alert, host: &str) -> Value {
    let mut map = Map::new();
    map.insert("event".into(), alert.event.into());
    map.insert("at".into(), alert.at.clone().into());
    map.insert("host".into(), host.into());
    map.insert(
        "subject".into(),
        format!("[{host}] {}", alert.subject).into(),
    );
    map.insert("text".into(), format!("[{host}] {}", alert.text).into());
    for (key, value) in &alert.details {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(map)
}

/// The e-mail body: the text, the details one per line, and where it came from.
pub fn mail_body(alert: &Alert, host: &str) -> String {
    let mut body = format!("{}\n\n", alert.text);
    for (key, value) in &alert.details {
        let shown = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        body.push_str(&format!("{key}: {shown}\n"));
    }
    body.push_str(&format!(
        "event: {}\nat: {}\n\n-- \nWarden on {host}\n",
        alert.event, alert.at
    ));
    body
}

/// The error and its causes in one line (reqwest and hyper nest the useful part, e.g. "connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The HTTP client for webhooks.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| chain(&e))
}

/// POSTs the payload; any 2xx is a delivery.
pub async fn webhook(client: &reqwest::Client, url: &str, body: &Value) -> Outcome {
    match client.post(url).json(body).send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Outcome {
                    ok: true,
                    status: Some(status.as_u16()),
                    error: None,
                }
            } else {
                Outcome::failed(
                    Some(status.as_u16()),
                    format!("the receiver answered HTTP {status}"),
                )
            }
        }
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            Outcome::failed(None, format!("{what}: {}", chain(&e.without_url())))
        }
    }
}

/// Sends the e-mail through `smtp` to `to`.
pub async fn email(
    smtp: &StoredSmtp,
    to: &[String],
    subject: &str,
    body: String,
    hello: &str,
    timeout: Duration,
) -> Outcome {
    match tokio::time::timeout(
        timeout * 3,
        send_mail(smtp, to, subject, body, hello, timeout),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Outcome::failed(
            None,
            format!(
                "the SMTP server did not finish within {} s",
                (timeout * 3).as_secs()
            ),
        ),
    }
}

async fn send_mail(
    smtp: &StoredSmtp,
    to: &[String],
    subject: &str,
    body: String,
    hello: &str,
    timeout: Duration,
) -> Outcome {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::transport::smtp::extension::ClientId;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let from = match smtp.from.parse::<lettre::message::Mailbox>() {
        Ok(from) => from,
        Err(e) => return Outcome::failed(None, format!("the sender address is not usable: {e}")),
    };
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for address in to {
        match address.parse::<lettre::message::Mailbox>() {
            Ok(mailbox) => builder = builder.to(mailbox),
            Err(e) => {
                return Outcome::failed(None, format!("the recipient {address} is not usable: {e}"))
            }
        }
    }
    let message = match builder.body(body) {
        Ok(m) => m,
        Err(e) => return Outcome::failed(None, format!("cannot build the e-mail: {e}")),
    };
    let tls = match smtp.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls | SmtpSecurity::Tls => match TlsParameters::new(smtp.host.clone()) {
            Ok(params) if smtp.security == SmtpSecurity::Tls => Tls::Wrapper(params),
            Ok(params) => Tls::Required(params),
            Err(e) => return Outcome::failed(None, format!("cannot set up TLS: {}", chain(&e))),
        },
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain(hello.to_string()));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    match transport.build::<Tokio1Executor>().send(message).await {
        Ok(response) => Outcome {
            ok: response.is_positive(),
            status: None,
            error: (!response.is_positive()).then(|| {
                format!(
                    "the SMTP server answered {}: {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )
            }),
        },
        Err(e) => Outcome::failed(
            None,
            format!("SMTP {}:{}: {}", smtp.host, smtp.port, chain(&e)),
        ),
    }
}

/// One attempt of `alert` to `destination`.
pub async fn attempt(
    client: &reqwest::Client,
    destination: &StoredDestination,
    alert: &Alert,
    host: &str,
    timeout: Duration,
) -> Outcome {
    match (&destination.url, &destination.smtp) {
        (Some(url), _) => webhook(client, url, &payload(alert, host)).await,
        (None, Some(smtp)) => {
            let subject = format!("[{host}] {}", alert.subject);
            email(
                smtp,
                &destination.to,
                &subject,
                mail_body(alert, host),
                host,
                timeout,
            )
            .await
        }
        (None, None) => {
            Outcome::failed(None, "the destination has neither a URL nor an SMTP server")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_has_the_fixed_fields_first_and_the_details() {
        let alert = Alert::service_disabled("ab", "web", "5 failures within 60 s");
        let p = payload(&alert, "box1");
        assert_eq!(p["event"], "service_disabled");
        assert_eq!(p["host"], "box1");
        assert_eq!(p["service"], "web");
        assert_eq!(p["reason"], "5 failures within 60 s");
        assert!(p["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[box1] Service web"));
        assert!(time::OffsetDateTime::parse(
            p["at"].as_str().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok());
        let body = mail_body(&alert, "box1");
        assert!(
            body.contains("service: web\n") && body.contains("Warden on box1"),
            "{body}"
        );
    }
}
