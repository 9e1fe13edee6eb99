//! `GET /api/v1/services/{id}/logs/file` (the log panel's download link) against the real binary: auth
//! required, unknown ids are 404 in the error shape, and the file comes as a named attachment holding the
//! service's real output.

use std::time::Duration;

use warden_tests::{api_error, poll, Api, Warden};

#[tokio::test]
async fn log_file_download() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let svc = api
        .create_service(&serde_json::json!({
            "name": "log-file", "command": "echo hello-from-the-log; exec sleep 600"
        }))
        .await;
    let id = svc["id"].as_str().unwrap();
    let path = format!("/services/{id}/logs/file");

    // No credentials: 401.
    let anonymous = w.client().get(api.url(&path)).send().await.unwrap();
    assert_eq!(api_error(anonymous).await.0, 401);
    // Unknown id: 404 with the error shape.
    let (status, code, _) = api_error(api.get("/services/no-such-id/logs/file").await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    let body = poll("the line in the file", Duration::from_secs(10), || {
        let (api, path) = (api.clone(), path.clone());
        async move {
            let resp = api.get(&path).await;
            assert_eq!(resp.status(), 200);
            let disposition = resp
                .headers()
                .get("content-disposition")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            assert_eq!(
                disposition.as_deref(),
                Some("attachment; filename=\"log-file.log\"")
            );
            let text = resp.text().await.unwrap();
            // The output line itself (the start line quotes the command, which contains the text too).
            text.lines()
                .any(|l| l.ends_with(" out hello-from-the-log"))
                .then_some(text)
        }
    })
    .await;
    assert!(
        body.lines().any(|l| l.contains(" warden started pid ")),
        "{body}"
    );
    assert!(body.lines().any(|l| l.contains(" warden ")), "{body}");
}
