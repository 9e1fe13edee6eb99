//! Client-side navigation in headless Chromium, in both builds (the debug build most tests drive and the
//! release build `make run` serves): every route reached from every other route through the links on
//! its page, without a page load, and the list → detail → back and dashboard → detail paths after a full
//! load of the first page. Any console error, uncaught exception (a WASM panic logs one, then throws) or
//! "stopped working" banner fails the step that caused it. This is the release build's smoke test: it
//! shows every page and follows every link between them.

use std::time::Duration;

use warden_tests::browser::{self, Browser};
use warden_tests::{gate, poll, Api, Build, Launch, ManagedWarden, ADMIN_PASSWORD};

const SERVICE: &str = "nav-svc";

/// One page: its address, its title and an element that shows it rendered its data (not "Loading…").
struct Route {
    path: &'static str,
    title: &'static str,
    ready: &'static str,
}

const ROUTES: [Route; 8] = [
    Route {
        path: "/",
        title: "Dashboard",
        ready: "[data-testid=dash-service-link]",
    },
    Route {
        path: "/services",
        title: "Services",
        ready: "tr[data-service=nav-svc] [data-state]",
    },
    Route {
        path: "/services/nav-svc",
        title: SERVICE,
        ready: "[data-testid=status-card] [data-testid=restarts]",
    },
    Route {
        path: "/firewall",
        title: "Firewall",
        ready: "[data-testid=fw-capability]",
    },
    Route {
        path: "/logs",
        title: "Logs",
        ready: "[data-testid=log-service]",
    },
    Route {
        path: "/settings",
        title: "Settings",
        ready: "[data-testid=tls-status]",
    },
    Route {
        path: "/audit",
        title: "Audit log",
        ready: "[data-testid=audit-row]",
    },
    Route {
        path: "/users",
        title: "Users",
        ready: "[data-testid=users-table]",
    },
];

/// A page that links to `path`, for pages that do not link to it themselves (every page links to the
/// main navigation's pages).
fn linked_from(path: &str) -> &'static str {
    match path {
        "/audit" => "/logs",
        _ => "/services",
    }
}

/// A walk through `n` pages that takes every ordered pair (i, j), i ≠ j, exactly once, from page
/// `start` (an Eulerian circuit of the complete directed graph, by Hierholzer's algorithm).
fn every_pair_walk(n: usize, start: usize) -> Vec<usize> {
    let mut next: Vec<Vec<usize>> = (0..n)
        .map(|i| (0..n).rev().filter(|&j| j != i).collect())
        .collect();
    let (mut stack, mut walk) = (vec![start], Vec::new());
    while let Some(&v) = stack.last() {
        match next[v].pop() {
            Some(w) => stack.push(w),
            None => {
                walk.push(v);
                stack.pop();
            }
        }
    }
    walk.reverse();
    walk
}

#[test]
fn the_walk_takes_every_pair_once() {
    let walk = every_pair_walk(ROUTES.len(), 1);
    assert_eq!(walk.len(), ROUTES.len() * (ROUTES.len() - 1) + 1);
    assert_eq!(walk.first(), Some(&1));
    let mut pairs: Vec<(usize, usize)> = walk.windows(2).map(|w| (w[0], w[1])).collect();
    assert!(pairs.iter().all(|(a, b)| a != b));
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(pairs.len(), ROUTES.len() * (ROUTES.len() - 1));
}

/// A Warden of `build` with one running service, and a browser logged in to it.
async fn start(build: Build) -> Option<(ManagedWarden, Browser)> {
    if !gate(
        &format!("headless Chromium and the {} build", build.name()),
        browser::available_for(build),
    ) {
        return None;
    }
    let w = ManagedWarden(Launch::new().build(build).start());
    let api = Api::login(&w).await;
    api.create_service(&serde_json::json!({"name": SERVICE, "command": "exec sleep 600"}))
        .await;
    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    Some((w, b))
}

/// Clicks the first link to `path` on the current page.
async fn click_link(b: &Browser, path: &str) {
    b.find(&format!("a[href='{path}']"))
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click the link to {path}: {e}"));
}

/// Waits until `route` is shown and rendered its data, in the same document, without page errors.
async fn arrived(b: &Browser, route: &Route, step: &str) {
    b.wait_for_path(route.path).await;
    let title = route.title;
    poll(
        &format!("{step}: the page title {title:?}"),
        Duration::from_secs(20),
        || async {
            let shown = b
                .client
                .execute(
                    "return document.querySelector('[data-testid=page-title]')?.textContent ?? null;",
                    vec![],
                )
                .await
                .ok()?;
            (shown.as_str() == Some(title)).then_some(())
        },
    )
    .await;
    b.find(route.ready).await;
    let same = b
        .client
        .execute("return window.__sameDocument === 'yes';", vec![])
        .await
        .expect("ask the page");
    assert_eq!(
        same,
        serde_json::json!(true),
        "{step}: the page was reloaded"
    );
    b.assert_no_page_errors(step).await;
}

/// Marks the current document, so a page load (instead of a client-side navigation) is noticed.
async fn mark_document(b: &Browser) {
    b.client
        .execute("window.__sameDocument = 'yes';", vec![])
        .await
        .expect("mark the document");
}

/// From `from` to `to` through the links on the pages (via a page that links to `to` if `from` does
/// not).
async fn go(b: &Browser, from: &Route, to: &Route, build: Build) {
    let step = format!("{} build, {} -> {}", build.name(), from.path, to.path);
    let direct = b.count(&format!("a[href='{}']", to.path)).await > 0;
    if !direct {
        let via = linked_from(to.path);
        let via_route = ROUTES.iter().find(|r| r.path == via).expect("a known page");
        click_link(b, via).await;
        arrived(b, via_route, &format!("{step} (via {via})")).await;
    }
    click_link(b, to.path).await;
    arrived(b, to, &step).await;
}

async fn every_route_from_every_route(build: Build) {
    let Some((_w, b)) = start(build).await else {
        return;
    };
    let walk = every_pair_walk(ROUTES.len(), 0);
    mark_document(&b).await;
    arrived(&b, &ROUTES[walk[0]], "the dashboard after logging in").await;
    for pair in walk.windows(2) {
        go(&b, &ROUTES[pair[0]], &ROUTES[pair[1]], build).await;
    }
    b.screenshot(&format!("navigation-{}", build.name())).await;
    b.close().await;
}

/// The paths of issue 21 (a WASM panic in the release build): a full load of the list, its link to the
/// detail page, back; a full load of the dashboard, its link to the detail page.
async fn list_detail_back_after_a_full_load(build: Build) {
    let Some((w, b)) = start(build).await else {
        return;
    };
    let (dashboard, list, detail) = (&ROUTES[0], &ROUTES[1], &ROUTES[2]);
    let step = |s: &str| format!("{} build, {s}", build.name());
    b.open(&w.url, list.path).await;
    mark_document(&b).await;
    arrived(&b, list, &step("a full load of the list")).await;
    click_link(&b, detail.path).await;
    arrived(&b, detail, &step("list -> detail")).await;
    b.client.back().await.expect("history back");
    arrived(&b, list, &step("detail -> back to the list")).await;
    click_link(&b, detail.path).await;
    arrived(&b, detail, &step("list -> detail again")).await;

    b.open(&w.url, dashboard.path).await;
    mark_document(&b).await;
    arrived(&b, dashboard, &step("a full load of the dashboard")).await;
    click_link(&b, detail.path).await;
    arrived(&b, detail, &step("dashboard -> detail")).await;
    b.client.back().await.expect("history back");
    arrived(&b, dashboard, &step("detail -> back to the dashboard")).await;
    b.close().await;
}

#[tokio::test]
async fn every_route_from_every_route_debug() {
    every_route_from_every_route(Build::Debug).await;
}

#[tokio::test]
async fn every_route_from_every_route_release() {
    every_route_from_every_route(Build::Release).await;
}

#[tokio::test]
async fn list_detail_back_after_a_full_load_debug() {
    list_detail_back_after_a_full_load(Build::Debug).await;
}

#[tokio::test]
async fn list_detail_back_after_a_full_load_release() {
    list_detail_back_after_a_full_load(Build::Release).await;
}
