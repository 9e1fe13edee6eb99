//! Small UI pieces shared by several pages (toasts, live updates, the log panel, the environment editor, forms' live state). Each piece owns one file.

pub mod env_editor;
#[cfg(feature = "hydrate")]
pub mod event_stream;
pub mod exposure;
pub mod live;
pub mod live_form;
pub mod log_view;
pub mod toast;
pub mod transport_warning;
