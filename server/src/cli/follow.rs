//! `warden services logs -f`: new log lines as they come, over the service's live log stream; when the
//! stream ends (Warden restarted) it reconnects with backoff and first prints what was logged meanwhile.

use std::time::Duration;

use http::Method;
use http_body_util::BodyExt;

use super::render::{paint, DIM};
use super::{CliError, Client};

/// How long to wait before reconnecting, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Prints new log lines as they come; when the stream ends (Warden restarted), reconnects and prints
/// what was logged meanwhile (the lines after the last one shown). Runs until interrupted.
pub async fn follow_logs(
    client: &Client,
    id: &str,
    mut last: Option<String>,
) -> Result<(), CliError> {
    let mut backoff = Duration::from_millis(250);
    let mut reconnecting = false;
    loop {
        if reconnecting {
            // Catch up from the file: the lines after the last one printed.
            if let Ok(reply) = client
                .call(
                    Method::GET,
                    &format!("/services/{id}/logs?lines=10000"),
                    None,
                )
                .await
            {
                let text = reply.text();
                let lines: Vec<&str> = text.lines().collect();
                let start = last
                    .as_deref()
                    .and_then(|l| lines.iter().rposition(|x| *x == l))
                    .map_or(0, |i| i + 1);
                for line in &lines[start..] {
                    println!("{line}");
                }
                if let Some(l) = lines.last() {
                    last = Some((*l).to_string());
                }
            }
        }
        match client
            .endpoint
            .open_stream(&format!("/services/{id}/logs/stream"))
            .await
        {
            Ok(response) if response.status().is_success() => {
                backoff = Duration::from_millis(250);
                let mut body = response.into_body();
                let mut buffer = String::new();
                while let Some(Ok(frame)) = body.frame().await {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    buffer.push_str(&String::from_utf8_lossy(&data));
                    while let Some(end) = buffer.find("\n\n") {
                        let event: String = buffer.drain(..end + 2).collect();
                        if let Some(line) = sse_data(&event) {
                            println!("{line}");
                            last = Some(line);
                        }
                    }
                }
            }
            Ok(response) if response.status() == http::StatusCode::NOT_FOUND => {
                return Err(CliError::Refused {
                    status: response.status(),
                    message: format!("the service {id} is gone"),
                });
            }
            Ok(_) | Err(CliError::Unreachable(_)) => {}
            Err(e) => return Err(e),
        }
        anstream::eprintln!("{}", paint(DIM, "(the log stream ended; reconnecting…)"));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        reconnecting = true;
    }
}

/// The data of one server-sent event (its `data:` lines joined), or `None` for a keep-alive.
fn sse_data(event: &str) -> Option<String> {
    let data: Vec<&str> = event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    (!data.is_empty()).then(|| data.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_are_read() {
        assert_eq!(sse_data("data: hello\n\n").as_deref(), Some("hello"));
        assert_eq!(sse_data("data:a\ndata: b\n\n").as_deref(), Some("a\nb"));
        assert_eq!(sse_data(": keep-alive\n\n"), None);
    }
}
