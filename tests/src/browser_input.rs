//! Input in the browser the way a user gives it: typing into a field, clicking a control.

use crate::browser::Browser;

impl Browser {
    /// Sets an input's value the way typing does (an `input` event), replacing what was there.
    pub async fn set_input(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                 el.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![serde_json::json!(css), serde_json::json!(value)],
            )
            .await
            .unwrap_or_else(|e| panic!("set {css}: {e}"));
    }

    /// Clicks `css`, scrolled to the centre first: a toast in the corner must not take a click meant
    /// for a button under it.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'}); return true;",
                vec![serde_json::json!(css)],
            )
            .await
            .unwrap_or_else(|e| panic!("scroll to {css}: {e}"));
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }
}
