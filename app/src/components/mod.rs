//! Small UI pieces shared by several pages (toasts; more as pages need them). Each piece owns one file.

pub mod toast;
