//! Importing service definitions from other supervisors (supervisord, systemd, PM2): the shapes the
//! Import page, the CLI's `warden import` and the server's converters share — what to convert, the
//! services it became, and the report of every key that was not carried over (and why).

use serde::{Deserialize, Serialize};

use super::service::ServiceInput;

/// Where the definitions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// supervisord `[program:x]` sections (`supervisord.conf`, `conf.d/*.conf`).
    Supervisord,
    /// systemd `.service` units.
    Systemd,
    /// PM2 ecosystem files (`ecosystem.config.js`, `process.json`, `.yml`).
    Pm2,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 3] = [
        ImportFormat::Supervisord,
        ImportFormat::Systemd,
        ImportFormat::Pm2,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Supervisord => "supervisord",
            ImportFormat::Systemd => "systemd",
            ImportFormat::Pm2 => "pm2",
        }
    }

    pub fn parse(text: &str) -> Option<ImportFormat> {
        Self::ALL.into_iter().find(|f| f.as_str() == text.trim())
    }

    /// What the user sees in the format picker.
    pub fn label(self) -> &'static str {
        match self {
            ImportFormat::Supervisord => "supervisord ([program:x] sections)",
            ImportFormat::Systemd => "systemd (.service units)",
            ImportFormat::Pm2 => "PM2 (ecosystem file)",
        }
    }
}

/// One file to convert: its name (for the report, and a unit's name for systemd) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFile {
    pub name: String,
    pub text: String,
}

/// The largest text one import accepts (all files together): half the API's request body limit, so
/// the browser's request (the text as JSON) always fits.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024;

/// How a note bears on the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportNoteKind {
    /// The key has no counterpart in Warden and was left out.
    Unmapped,
    /// The key was carried over with a difference the operator should know about.
    Approximated,
    /// The whole program/unit/app was not imported.
    Refused,
    /// The input could not be read (syntax, missing file).
    Error,
}

impl ImportNoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportNoteKind::Unmapped => "unmapped",
            ImportNoteKind::Approximated => "approximated",
            ImportNoteKind::Refused => "refused",
            ImportNoteKind::Error => "error",
        }
    }
}

/// One line of the import report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportNote {
    pub kind: ImportNoteKind,
    /// The file the key came from.
    pub file: String,
    /// Its 1-based line, where the format has lines.
    pub line: Option<u32>,
    /// The service it concerns (its Warden name), if any.
    pub service: Option<String>,
    /// The source key (`stopasgroup`, `ProtectSystem`, `watch`…), or the section.
    pub key: String,
    pub message: String,
}

/// What an import produced: the services (ready for `POST /api/v1/services` or a desired-state
/// document) and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    pub services: Vec<ServiceInput>,
    pub notes: Vec<ImportNote>,
}

impl ImportOutcome {
    /// Notes of one kind.
    pub fn notes_of(&self, kind: ImportNoteKind) -> impl Iterator<Item = &ImportNote> {
        self.notes.iter().filter(move |n| n.kind == kind)
    }
}
