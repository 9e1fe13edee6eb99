//! The failure patterns shipped with Warden, one preset per program (`sshd`, `nginx-http-auth`,
//! `nginx-limit-req`, `postfix-sasl`, `dovecot`, `vsftpd`) plus `generic`, which has no patterns of
//! its own (the jail's `patterns` are used). Each preset is tested on real log lines of its program
//! (`fixtures/`, see the README there).
//!
//! The patterns are not anchored at the start, so the same preset matches a syslog file
//! (`Mar  3 00:17:22 host sshd[123]: …`), the journal's message, sshd's own `-e` stderr and a Warden
//! service log (`2026-… err …`). They are anchored at the end (`$`), after the address: text an
//! attacker controls (a user name) comes before the address in these messages, so a user name that
//! contains `from 192.0.2.1` cannot make a jail ban somebody else. Only single-line messages count:
//! fail2ban's multi-line rules (a preauth disconnect tied to an earlier line by the process id) are
//! not reproduced.

/// A preset: its name, what it is for, and its patterns (with `<HOST>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Slug (the jail's `preset`).
    pub name: &'static str,
    /// One sentence.
    pub description: &'static str,
    /// The log a jail with it usually watches (a hint for the UI).
    pub typical_source: &'static str,
    /// Failure patterns.
    pub patterns: &'static [&'static str],
}

/// OpenSSH's sshd (Debian): failed passwords and keyboard-interactive logins, invalid users, users
/// refused by Allow/Deny rules, too many attempts, disconnects before authentication, scanners.
const SSHD: &[&str] = &[
    r"Failed (?:password|keyboard-interactive(?:/pam)?|hostbased|none|unknown|gssapi-with-mic|challenge-response) for (?:invalid user )?.* from <HOST>(?: port \d+)?(?: ssh\d*)?(?:: [A-Z0-9-]+ \S+(?:, client user .*, client host .*)?)?$",
    r"Failed publickey for invalid user .* from <HOST>(?: port \d+)?(?: ssh\d*)?(?:: [A-Z0-9-]+ \S+)?$",
    r"(?:[iI]nvalid|[iI]llegal) user .* from <HOST>(?: port \d+)?$",
    r"User .+ from <HOST> not allowed because (?:not listed in \w+|listed in \w+|none of user's groups are listed in \w+|a group is listed in \w+|not in any group)$",
    r"ROOT LOGIN REFUSED FROM <HOST>(?: port \d+)?(?: \[preauth\])?$",
    r"refused connect from \S+ \(<HOST>\)$",
    r"(?:error: )?PAM: (?:[aA]uthentication (?:failure|error)|User not known to the underlying authentication module) for .* from <HOST>(?: via \S+)?$",
    r"maximum authentication attempts exceeded for (?:invalid user )?.* from <HOST> port \d+(?: ssh\d*)?(?: \[preauth\])?$",
    r"Received disconnect from <HOST>(?: port \d+)?:\s*(?:3: .*: Auth fail|11: .*|14: No (?:supported )?authentication methods available)(?: \[preauth\])?$",
    r"(?:Connection (?:closed|reset) by|Disconnected from)(?: (?:invalid|authenticating) user .*)? <HOST>(?: port \d+)? \[preauth\]$",
    r"Unable to negotiate with <HOST> port \d+: no matching .* found\.",
    r"Did not receive identification string from <HOST>(?: port \d+)?$",
    r"Bad protocol version identification '.*' from <HOST>(?: port \d+)?$",
    r"banner exchange: Connection from <HOST> port \d+: invalid format$",
    r"ssh_dispatch_run_fatal: Connection from <HOST> port \d+: .* \[preauth\]$",
    r"Timeout before authentication for (?:connection from )?<HOST>(?: port \d+| to \S+, pid = \d+)$",
];

/// nginx's basic authentication (`auth_basic`) and `auth_pam` failures in its error log.
const NGINX_HTTP_AUTH: &[&str] = &[
    r#"\[error\] \d+#\d+: \*\d+ (?:user ".*":? (?:password mismatch|was not found in ".*")|PAM: user '.*' - not authenticated: .*), client: <HOST>, server: \S*, request: "[^"]*", host: "[^"]*"(?:, referrer: "[^"]*")?$"#,
];

/// nginx's `limit_req` and `limit_conn` refusals in its error log.
const NGINX_LIMIT_REQ: &[&str] = &[
    r#"(?:limiting requests, excess: [\d.]+ by zone "[^"]*"|delaying request, excess: [\d.]+, by zone "[^"]*"|limiting connections by zone "[^"]*"), client: <HOST>, "#,
];

/// Postfix's failed SMTP AUTH (SASL) logins.
const POSTFIX_SASL: &[&str] = &[
    r"warning: [-._\w]+\[<HOST>\](?::\d+)?: SASL (?i:LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed:(?: [A-Za-z0-9+/]+={0,2}| authentication failure| Password:)?$",
];

/// Dovecot's failed IMAP/POP3/submission/sieve logins and its authentication back-ends' refusals.
const DOVECOT: &[&str] = &[
    r"-login: (?:Info: )?(?:Aborted login|Disconnected|Login aborted|Client has quit the connection|Remote closed connection)(?:: [^()]*(?:\([^()]*\)[^()]*)*)? \((?:auth failed, \d+ attempts(?: in \d+ secs)?|tried to use (?:disabled|disallowed) \w+ auth|proxy dest auth failed)\)(?: \(\w+\))?: (?:user=<[^>]*>, )?(?:method=\S+, )?rip=<HOST>(?:[,\s]|$)",
    r"(?:pam|passwd-file|sql|ldap|passwd|shadow|bsdauth|checkpassword)\([^,)]*,<HOST>(?:,[^)]*)?\): (?:unknown user|invalid credentials|Password mismatch|pam_authenticate\(\) failed: (?:User not known|Authentication failure|Permission denied))",
    r"auth\([^,)]*,<HOST>,[^)]*\)(?:<[^>]*>)?: (?:Info: )?\w+: (?:unknown user|invalid credentials|Password mismatch)",
    r"pam_unix\(dovecot:auth\): authentication failure; logname=\S* uid=\d* euid=\d* tty=\S* ruser=\S* rhost=<HOST>(?:\s+user=\S*)?$",
];

/// vsftpd's failed logins (its own log and PAM's).
const VSFTPD: &[&str] = &[
    r#"FAIL LOGIN: Client "<HOST>"(?:, ".*")?$"#,
    r"(?:pam_unix\(vsftpd:auth\): )?authentication failure; logname=\S* uid=\d* euid=\d* tty=\S* ruser=\S* rhost=<HOST>(?:\s+user=\S*)?$",
];

/// Every preset, in the order the UI lists them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "sshd",
        description: "OpenSSH: failed passwords, invalid users, refused users, too many attempts, disconnects before authentication, scanners",
        typical_source: "journal: ssh.service, or file: /var/log/auth.log",
        patterns: SSHD,
    },
    Preset {
        name: "nginx-http-auth",
        description: "nginx: failed HTTP basic authentication (user not found, password mismatch, PAM)",
        typical_source: "file: /var/log/nginx/error.log",
        patterns: NGINX_HTTP_AUTH,
    },
    Preset {
        name: "nginx-limit-req",
        description: "nginx: requests and connections refused or delayed by limit_req / limit_conn",
        typical_source: "file: /var/log/nginx/error.log",
        patterns: NGINX_LIMIT_REQ,
    },
    Preset {
        name: "postfix-sasl",
        description: "Postfix: failed SMTP AUTH (SASL) logins",
        typical_source: "journal: postfix@-.service, or file: /var/log/mail.log",
        patterns: POSTFIX_SASL,
    },
    Preset {
        name: "dovecot",
        description: "Dovecot: failed IMAP/POP3/submission/sieve logins and refused credentials",
        typical_source: "journal: dovecot.service, or file: /var/log/mail.log",
        patterns: DOVECOT,
    },
    Preset {
        name: "vsftpd",
        description: "vsftpd: failed FTP logins",
        typical_source: "file: /var/log/vsftpd.log",
        patterns: VSFTPD,
    },
    Preset {
        name: "generic",
        description: "Your own patterns only: regular expressions with <HOST> where the address is",
        typical_source: "a service's log",
        patterns: &[],
    },
];

/// The preset called `name`.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Every preset's name.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}
