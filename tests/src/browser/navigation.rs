//! Client-side navigation helpers of [`Browser`]: following the main menu, and reading what a step
//! fetched through the page's Resource Timing.

use super::Browser;

impl Browser {
    /// A client-side navigation by the main menu: clicks its link to `path`, then waits until the
    /// router is there and the page is hydrated.
    pub async fn follow_menu_link(&self, path: &str) {
        self.find(&format!("nav.nav a[href='{path}']"))
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click the menu link to {path}: {e}"));
        self.wait_for_path(path).await;
        self.wait_hydrated().await;
    }

    /// Forgets the page's Resource Timing entries, so the next ones are what follows.
    pub async fn clear_resource_timings(&self) {
        self.client
            .execute("performance.clearResourceTimings();", vec![])
            .await
            .expect("clear the resource entries");
    }
}
