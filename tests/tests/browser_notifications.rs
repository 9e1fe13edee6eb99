//! Settings → Notifications in headless Chromium against the real binary and a real webhook receiver:
//! an invalid URL gets its field error from the shared validation, a webhook destination added in the
//! form appears (and over REST), "Send test" reaches the receiver and the row says it was delivered,
//! the delivery log shows it; a destination that cannot be reached shows its failure. Screenshots go
//! to target/artifacts/.

use std::time::Duration;

use warden_tests::browser::{self, Browser};
use warden_tests::receivers::{free_port, WebhookReceiver};
use warden_tests::{gate, poll, Api, Warden, ADMIN_PASSWORD};

const T: Duration = Duration::from_secs(20);

async fn text_of(b: &Browser, css: &str) -> String {
    b.find(css).await.text().await.unwrap_or_default()
}

#[tokio::test]
async fn a_webhook_added_in_the_ui_passes_send_test() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let receiver = WebhookReceiver::start().await;
    let w = Warden::start();
    let rest = Api::login(&w).await;
    let b = Browser::start(1280, 1200).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.open(&w.url, "/settings").await;
    b.wait_for_path("/settings").await;
    b.find("[data-testid=notify-form]:not([inert])").await;
    b.find("[data-testid=no-destinations]").await;

    // The shared validation names the field before anything is sent.
    b.set_input("[data-testid=notify-name]", "chat").await;
    b.set_input("[data-testid=notify-url]", "ftp://nowhere")
        .await;
    b.click("[data-testid=notify-save]").await;
    let error = text_of(&b, "[data-testid=error-url]").await;
    assert!(error.contains("http://"), "{error}");

    b.set_input("[data-testid=notify-url]", &receiver.url("ui"))
        .await;
    b.click("[data-testid=notify-event-firewall_drift]").await;
    b.click("[data-testid=notify-save]").await;
    b.find("[data-testid=notify-row][data-name=chat]").await;
    let listed = rest.get_json("/notifications/destinations").await;
    assert_eq!(listed[0]["url"], receiver.url("ui").as_str(), "{listed}");
    assert_eq!(
        listed[0]["events"],
        serde_json::json!(["service_disabled", "firewall_drift"])
    );

    // Send test: delivered to the receiver, and the row says so.
    b.click("[data-testid=notify-row][data-name=chat] [data-testid=notify-test]")
        .await;
    // The row's result may be rendered before its text: poll until it says so.
    poll("the send-test result", T, || async {
        let result = b
            .find("[data-testid=notify-test-result][data-ok=true]")
            .await;
        let shown = result.text().await.unwrap_or_default();
        shown.contains("Delivered (HTTP 200)").then_some(())
    })
    .await;
    let got = receiver.wait_event("ui", "test", T).await;
    assert!(
        got["text"]
            .as_str()
            .is_some_and(|t| t.contains("test notification")),
        "{got}"
    );
    b.click("[data-testid=notify-row][data-name=chat] [data-testid=notify-log-open]")
        .await;
    b.wait_count("a delivery log row", "[data-testid=notify-log-row]", |n| {
        n >= 1
    })
    .await;
    b.screenshot("notifications-sent").await;

    // An unreachable destination: the failure is shown in its row.
    b.set_input("[data-testid=notify-name]", "dead").await;
    b.set_input(
        "[data-testid=notify-url]",
        &format!("http://127.0.0.1:{}/x", free_port()),
    )
    .await;
    b.click("[data-testid=notify-save]").await;
    b.find("[data-testid=notify-row][data-name=dead]").await;
    b.click("[data-testid=notify-row][data-name=dead] [data-testid=notify-test]")
        .await;
    // As above: the result may be rendered before its text.
    let said = poll("the failed send-test result", T, || async {
        let failed = b
            .find("[data-testid=notify-test-result][data-ok=false]")
            .await;
        let shown = failed.text().await.unwrap_or_default();
        shown.starts_with("Test: Failed").then_some(shown)
    })
    .await;
    assert!(said.contains("Failed: cannot connect"), "{said}");
    poll("the last error in the row", T, || async {
        let n = b
            .count("[data-testid=notify-row][data-name=dead] [data-testid=notify-last-error]")
            .await;
        (n == 1).then_some(())
    })
    .await;
    b.screenshot("notifications-failed").await;
    b.assert_no_page_errors("notifications").await;
    b.close().await;
}
