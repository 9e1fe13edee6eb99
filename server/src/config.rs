//! Command-line and environment configuration of the `warden` binary (clap). Owns the names and defaults of
//! every flag and `WARDEN_*` variable; nothing else reads the process environment for configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The default admin listen address: loopback, so nothing is exposed by accident. Use
/// `--listen 0.0.0.0:8080` (or `[::]:8080`) to administer the machine remotely.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "Warden: supervise services and manage the firewall of one server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant (the client commands with their flags) does
// not matter, and boxing a flattened subcommand is not something clap derives.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Warden server (UI, REST API, supervisor, firewall control).
    Serve(Box<ServeArgs>),
    /// Print every server function endpoint (`METHOD PATH` per line) and exit. For the auth-coverage test.
    #[command(hide = true)]
    ServerFns {
        /// Only those a read-only API token may call.
        #[arg(long)]
        read_only: bool,
        /// Only those acting on the caller's own account (a `read` user's session may call them).
        #[arg(long, conflicts_with = "read_only")]
        own_account: bool,
    },
    /// Print the OpenAPI document of the REST API and exit.
    #[command(hide = true)]
    Openapi,
    #[command(flatten)]
    Client(crate::cli::ClientCommand),
    /// Administration on the host: as root, with Warden stopped (it opens the store directly) or
    /// running (through its control socket).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Restore a backup (`warden backup -o FILE`) into a data directory no Warden is using (stopped,
    /// or a fresh directory): everything in its store is replaced. Services start when Warden does.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data directory to restore into (as for `serve`).
        #[arg(long, env = "WARDEN_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (warden.1 and one per subcommand) into a directory.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Sets a user's password (from `WARDEN_NEW_PASSWORD`, else a generated one, printed once) and
    /// ends its sessions; `--clear-totp` also removes its second factor (the locked-out case). Audited.
    ResetPassword {
        /// Where Warden keeps its state (as for `serve`; default: ./data where it exists, else the
        /// package's /var/lib/warden).
        #[arg(long, env = "WARDEN_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Warden's control socket, when it runs (default: in the data directory, or the package's
        /// /run/warden/warden.sock).
        #[arg(long, env = "WARDEN_SOCKET")]
        socket: Option<PathBuf>,
        /// Whose password.
        #[arg(long, default_value = "admin")]
        user: String,
        /// Also remove the user's second factor (TOTP and recovery codes).
        #[arg(long)]
        clear_totp: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A TOML file whose keys are the long names of these flags (`listen = "[::]:8080"`,
    /// `data-dir = "/var/lib/warden"`, `allowed-hosts = ["panel.example.com"]`). A flag given on the
    /// command line wins over its environment variable, which wins over the file, which wins over the
    /// default. The Debian package's unit uses `/etc/warden/warden.toml`.
    #[arg(long, env = "WARDEN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print the configuration in force (each value with where it came from) and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Address and port of the admin UI and API. Port 0 picks a free port (the chosen URL is printed).
    #[arg(long, env = "WARDEN_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Where Warden keeps its state: `store/` (sled), `logs/services/`.
    #[arg(long, env = "WARDEN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The control socket for the `warden` command line on this host (root only); default
    /// `<data dir>/warden.sock`.
    #[arg(long, env = "WARDEN_SOCKET")]
    pub socket: Option<PathBuf>,

    /// The built UI assets (cargo-leptos' site dir: `pkg/` with the WASM, JS and CSS). Defaults to
    /// the site built with this binary if present (`./target/site` for a release build,
    /// `./target/site-debug` for a debug build: `make build` / `make build-debug`), else
    /// `<dir of the warden binary>/../site`.
    #[arg(long, env = "WARDEN_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

    /// On the first start, write the generated `admin` password to this file (mode 0600) instead of
    /// printing it on stderr (which systemd sends to the journal). Ignored with `WARDEN_ADMIN_PASSWORD`.
    #[arg(long, env = "WARDEN_INITIAL_PASSWORD_FILE")]
    pub initial_password_file: Option<PathBuf>,

    /// Host names Warden answers to besides its own (e.g. the DNS name it is reached by), on top of the
    /// `allowed_hosts` setting. Comma-separated in the environment variable.
    #[arg(long, env = "WARDEN_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// The `nft` program Warden drives.
    #[arg(long, env = "WARDEN_NFT", default_value = "nft")]
    pub nft: String,

    /// Serve HTTPS with a certificate generated on first start and kept in `<data-dir>/tls/`
    /// (`self-signed`), instead of plain HTTP.
    #[arg(long, env = "WARDEN_TLS", value_enum, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls: Option<TlsMode>,

    /// Serve HTTPS with this PEM certificate chain (needs `--tls-key`).
    #[arg(long, env = "WARDEN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "WARDEN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// `on` (default): Warden manages the host firewall; on the first start it installs its guard
    /// (the service range closed from outside, inbound policy accept) and restores its table at every
    /// start before any service runs. `off`: Warden never touches the host firewall (for hosts whose
    /// firewall is managed elsewhere); the Firewall page is read-only.
    #[arg(long, env = "WARDEN_FIREWALL", value_enum, default_value = "on")]
    pub firewall: FirewallMode,

    /// Seconds between retries of a firewall restore that fell back (a hostname that did not resolve,
    /// a batch the kernel refused). Hidden: tests shorten it.
    #[arg(
        long,
        env = "WARDEN_FIREWALL_RETRY_SECS",
        default_value_t = 30,
        hide = true
    )]
    pub firewall_retry_secs: u64,

    /// Most connections open at once (TLS handshakes included); beyond it new connections are closed.
    #[arg(long, env = "WARDEN_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most connections one client may have open at once (an IPv6 client counts per /64); beyond it
    /// its new connections are closed, so one address cannot take all of `--max-connections`.
    #[arg(long, env = "WARDEN_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,

    /// How long a client may take to send a request's headers, and how long an idle HTTP/1 connection
    /// stays open, in milliseconds. Hidden: for tests that must not wait the default 10 s.
    #[arg(long, env = "WARDEN_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_ms: u64,

    /// How long an HTTP/2 connection may stay open with no request in flight, in milliseconds.
    /// Hidden: for tests that must not wait the default 60 s.
    #[arg(long, env = "WARDEN_HTTP2_IDLE_TIMEOUT_MS", default_value_t = 60_000, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub http2_idle_timeout_ms: u64,

    /// The wait before a failed notification is tried again, in milliseconds (doubled on each further
    /// failure, at most 60 s; 5 attempts in all). Hidden: for tests that must not wait seconds.
    #[arg(long, env = "WARDEN_NOTIFY_RETRY_MS", default_value_t = 1_000, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub notify_retry_ms: u64,

    /// How often the live firewall is compared with the applied rules (drift alerts), in
    /// milliseconds. Hidden: for tests.
    #[arg(long, env = "WARDEN_DRIFT_CHECK_MS", default_value_t = 60_000, hide = true, value_parser = clap::value_parser!(u64).range(100..))]
    pub drift_check_ms: u64,

    /// `auto` (default): every service runs in its own cgroup (v2) under a subtree Warden owns, where a
    /// writable cgroup2 exists (else process groups, and the status says so); `process-group`: process
    /// groups only.
    #[arg(long, env = "WARDEN_CONTAINMENT", value_enum, default_value = "auto")]
    pub containment: ContainmentMode,

    /// The name of Warden's cgroup subtree, below Warden's own cgroup (default: `warden-` and a digest
    /// of the data dir, so two Wardens never share one).
    #[arg(long, env = "WARDEN_CGROUP_NAME")]
    pub cgroup_name: Option<String>,
}

/// `--containment` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ContainmentMode {
    /// A cgroup per service where a writable cgroup2 exists, else process groups.
    Auto,
    /// Process groups only.
    ProcessGroup,
}

/// `--firewall` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FirewallMode {
    /// Manage the host firewall (nftables table `inet warden`).
    On,
    /// Never touch the host firewall.
    Off,
}

/// `--tls` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// Generate a self-signed certificate on first start and reuse it afterwards.
    SelfSigned,
}

/// Where the TLS certificate comes from, if HTTPS is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    SelfSigned,
    Files { cert: PathBuf, key: PathBuf },
}

/// Where the Debian package installs the UI, relative to the binary's directory (`/usr/bin`).
const PACKAGED_SITE_ROOT: &str = "../share/warden/site";

/// Where `make build` (release) or `make build-debug` writes the UI this binary was built with.
const LOCAL_SITE_ROOT: &str = if cfg!(debug_assertions) {
    "target/site-debug"
} else {
    "target/site"
};

impl ServeArgs {
    /// The site root to serve assets from (see `--site-root`).
    pub fn resolved_site_root(&self) -> PathBuf {
        if let Some(root) = &self.site_root {
            return root.clone();
        }
        let local = PathBuf::from(LOCAL_SITE_ROOT);
        if local.join("pkg").is_dir() {
            return local;
        }
        let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf))
        else {
            return local;
        };
        site_root_near(&exe_dir).unwrap_or(local)
    }

    /// The names given with `--allowed-hosts`, without empty entries.
    pub fn extra_host_names(&self) -> Vec<String> {
        self.allowed_hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect()
    }

    /// Whether and how to serve HTTPS (clap guarantees cert and key come together and exclude `--tls`).
    pub fn tls_source(&self) -> Option<TlsSource> {
        match (&self.tls, &self.tls_cert, &self.tls_key) {
            (Some(TlsMode::SelfSigned), _, _) => Some(TlsSource::SelfSigned),
            (None, Some(cert), Some(key)) => Some(TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }

    /// The connection limits these arguments ask for (the rest at their defaults).
    pub fn connection_limits(&self) -> crate::serving::Limits {
        crate::serving::Limits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_connections_per_address: usize::try_from(self.max_connections_per_address)
                .unwrap_or(usize::MAX),
            header_read_timeout: std::time::Duration::from_millis(self.http_header_timeout_ms),
            h2_idle_timeout: std::time::Duration::from_millis(self.http2_idle_timeout_ms),
            ..crate::serving::Limits::default()
        }
    }

    /// Where the control socket goes.
    pub fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::socket::SOCKET_NAME))
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    pub fn service_logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs").join("services")
    }
}

/// The UI next to a binary in `exe_dir`: the packaged layout (`/usr/bin/warden` →
/// `/usr/share/warden/site`) if it holds a `pkg/`, else `<exe_dir>/../site` (a copied build).
pub fn site_root_near(exe_dir: &std::path::Path) -> Option<PathBuf> {
    let packaged = exe_dir.join(PACKAGED_SITE_ROOT);
    if packaged.join("pkg").is_dir() {
        return Some(packaged);
    }
    exe_dir.parent().map(|d| d.join("site"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        match cli.command {
            Command::Serve(a) => Ok(*a),
            Command::ServerFns { .. }
            | Command::Openapi
            | Command::Client(_)
            | Command::Admin(_)
            | Command::Restore { .. }
            | Command::Completions { .. }
            | Command::Manpages { .. } => {
                Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))
            }
        }
    }

    #[test]
    fn defaults() {
        // Keep the environment out of this test: clap reads WARDEN_* when flags are absent.
        if std::env::var_os("WARDEN_LISTEN").is_some()
            || std::env::var_os("WARDEN_DATA_DIR").is_some()
        {
            return;
        }
        let a = parse(&["warden", "serve"]).unwrap();
        assert_eq!(a.listen, DEFAULT_LISTEN.parse::<SocketAddr>().unwrap());
        assert_eq!(a.data_dir, PathBuf::from("./data"));
        assert_eq!(a.store_dir(), PathBuf::from("./data/store"));
        assert_eq!(a.service_logs_dir(), PathBuf::from("./data/logs/services"));
        assert_eq!(a.nft, "nft");
        if std::env::var_os("WARDEN_FIREWALL").is_none() {
            assert_eq!(a.firewall, FirewallMode::On);
        }
        assert_eq!(a.connection_limits(), crate::serving::Limits::default());
    }

    #[test]
    fn firewall_off() {
        let a = parse(&["warden", "serve", "--firewall", "off"]).unwrap();
        assert_eq!(a.firewall, FirewallMode::Off);
        assert!(parse(&["warden", "serve", "--firewall", "maybe"]).is_err());
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "warden",
            "serve",
            "--listen",
            "[::1]:0",
            "--data-dir",
            "/var/lib/warden",
            "--site-root",
            "/srv/site",
        ])
        .unwrap();
        assert_eq!(a.listen, "[::1]:0".parse::<SocketAddr>().unwrap());
        assert_eq!(a.data_dir, PathBuf::from("/var/lib/warden"));
        assert_eq!(a.resolved_site_root(), PathBuf::from("/srv/site"));
    }

    #[test]
    fn tls_flags() {
        if std::env::var_os("WARDEN_TLS").is_some() || std::env::var_os("WARDEN_TLS_CERT").is_some()
        {
            return;
        }
        assert_eq!(parse(&["warden", "serve"]).unwrap().tls_source(), None);
        let a = parse(&["warden", "serve", "--tls", "self-signed"]).unwrap();
        assert_eq!(a.tls_source(), Some(TlsSource::SelfSigned));
        let a = parse(&[
            "warden",
            "serve",
            "--tls-cert",
            "/c.pem",
            "--tls-key",
            "/k.pem",
        ])
        .unwrap();
        assert_eq!(
            a.tls_source(),
            Some(TlsSource::Files {
                cert: "/c.pem".into(),
                key: "/k.pem".into()
            })
        );
        assert!(parse(&["warden", "serve", "--tls-cert", "/c.pem"]).is_err());
        assert!(parse(&["warden", "serve", "--tls", "self-signed", "--tls-key", "/k"]).is_err());
        assert!(parse(&["warden", "serve", "--tls", "bogus"]).is_err());
    }

    #[test]
    fn bad_listen_address_is_an_error() {
        let err = parse(&["warden", "serve", "--listen", "localhost"]).unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
    }

    #[test]
    fn the_packaged_site_is_found_next_to_usr_bin() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        assert_eq!(site_root_near(&bin), Some(root.path().join("usr/site")));
        std::fs::create_dir_all(root.path().join("usr/share/warden/site/pkg")).unwrap();
        let found = site_root_near(&bin).unwrap();
        assert!(found.join("pkg").is_dir(), "{}", found.display());
        assert!(found.ends_with("share/warden/site"), "{}", found.display());
    }

    #[test]
    fn allowed_hosts_from_flags() {
        let a = parse(&[
            "warden",
            "serve",
            "--allowed-hosts",
            "a.example.com, ,b.example.com",
            "--allowed-hosts",
            "c.example.com",
        ])
        .unwrap();
        assert_eq!(
            a.extra_host_names(),
            ["a.example.com", "b.example.com", "c.example.com"]
        );
    }

    #[test]
    fn a_token_beginning_with_a_hyphen_is_the_tokens_value() {
        let cli =
            Cli::try_parse_from(["warden", "status", "--url", "http://h:1", "--token", "-Sab"])
                .unwrap();
        match cli.command {
            Command::Client(crate::cli::ClientCommand::Status(a)) => {
                assert_eq!(a.remote.token.as_deref(), Some("-Sab"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serve_is_required() {
        assert!(Cli::try_parse_from(["warden"]).is_err());
    }
}
