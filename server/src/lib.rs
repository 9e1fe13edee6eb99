//! The Warden server library: everything the `warden` binary runs. `serve` wires the parts together:
//! store → access (first-run bootstrap) → settings → firewall (restored before anything else can fail or
//! any service start) → TLS and listener → supervisor → HTTP, then waits for a signal.
//!
//! The domain layer: `access` (login, sessions, tokens, throttle and bans from failed logins), `settings`,
//! `supervisor` (services), `firewall_ctl` (firewall), `notifications` (webhook and e-mail
//! destinations, delivering what the others report through `alerts`), `audit`; each domain error is sorted into a
//! [`domain_error::DomainError`] once. The adapters: `http` (REST, SSE, OpenAPI) and `ui_backend` (the UI's
//! server functions); no adapter imports another. Plumbing: `store`, `config`, `runtime`, `telemetry`,
//! `tls`, `serving` (the connection loop and its limits), `file_modes`, `clock`, `events`, `assets`,
//! `config_file` (`--config`), `first_run` (the first `admin` password), `systemd` (sd_notify), `alerts`
//! (the alert channel), `run_marker` (the clean-stop marker).

// Production code never panics on a failed `expect` (tests may: `clippy.toml` allows it there).
#![cfg_attr(not(test), deny(clippy::expect_used))]

pub mod access;
pub mod admin_cli;
pub mod alerts;
pub mod assets;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod desired;
pub mod domain_error;
pub mod events;
pub mod file_modes;
pub mod firewall_ctl;
pub mod first_run;
pub mod http;
pub mod import;
pub mod jails;
pub mod notifications;
pub mod run_marker;
pub mod runtime;
pub mod serving;
pub mod settings;
pub mod socket;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod systemd;
pub mod telemetry;
pub mod tls;
pub mod ui_backend;

use std::sync::Arc;

use anyhow::Context;
use leptos::prelude::LeptosOptions;

use crate::access::{Access, Auth};
use crate::config::ServeArgs;
use crate::settings::SettingsHandle;
use crate::state::{AppState, Inner};
use crate::store::Store;

/// How long open connections get to finish after SIGTERM/SIGINT before Warden stops waiting for them.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the server until SIGTERM or SIGINT.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Under systemd with `WatchdogSec=`: pings from this event loop from now on (the restore of the
    // firewall and of the services below may take a while).
    systemd::spawn_watchdog();
    // Before Warden writes anything: its files are its own (services get their own umask).
    file_modes::restrict_new_files();
    file_modes::prepare_data_dir(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let limits = args.connection_limits();
    if let Some(open_files) = runtime::raise_open_file_limit() {
        if open_files < limits.max_connections as u64 + 256 {
            tracing::warn!(
                open_files,
                max_connections = limits.max_connections,
                "the open file limit is low for the connection cap; lower --max-connections or raise the limit"
            );
        }
    }
    let store_dir = args.store_dir();
    let store = Store::open(&store_dir)?;
    let auth = Auth::new(&store).context("opening the user store")?;
    first_run::bootstrap_admin(&auth, args.initial_password_file.as_deref()).await?;
    let events = events::EventBus::default();
    let settings = SettingsHandle::open(&store, events.clone())
        .await
        .context("loading the settings")?;
    // Alerts queue up from here on; the dispatcher delivers them once it runs (below).
    let (alert_sink, alert_queue) = alerts::AlertSink::channel();
    match run_marker::begin(&args.data_dir) {
        Ok(Some(previous)) => {
            tracing::warn!(previous_start = %previous, "the previous run of Warden did not stop cleanly");
            alert_sink.send(alerts::Alert::unclean_restart(Some(&previous)));
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot write the clean-stop marker"),
    }
    let notifications = notifications::Notifications::open(
        &store,
        settings.clone(),
        notifications::NotifyOptions {
            retry: notifications::RetryPolicy {
                first_delay: std::time::Duration::from_millis(args.notify_retry_ms),
                ..notifications::RetryPolicy::default()
            },
            ..notifications::NotifyOptions::default()
        },
    )
    .context("opening the notifications")?;
    // The firewall comes back first, before anything can fail on a port or a certificate and before
    // any service starts: a pending apply is rolled back, the applied rule set (or the default guard)
    // restored, so no service ever answers from outside while Warden's table is missing (a reboot
    // clears it). The admin port must be known for anti-lockout: a fixed port is, port 0 is bound now.
    let early_listener = if args.listen.port() == 0 {
        Some(bind(args.listen).await?)
    } else {
        None
    };
    let admin_port = match &early_listener {
        Some(listener) => listener.local_addr()?.port(),
        None => args.listen.port(),
    };
    let services_source = Arc::new(std::sync::OnceLock::<supervisor::SupervisorHandle>::new());
    let firewall = firewall_ctl::FirewallHandle::start(
        store.clone(),
        firewall_ctl::FirewallOptions {
            backend: warden_firewall::backend::NftBackend::new(&args.nft),
            managed: args.firewall == config::FirewallMode::On,
            admin_port,
            retry_every: std::time::Duration::from_secs(args.firewall_retry_secs.max(1)),
            alerts: alert_sink.clone(),
        },
        events.clone(),
        settings.subscribe(),
        service_ports_of(services_source.clone()),
    )
    .await
    .context("starting firewall control")?;
    let firewall_capability = firewall.capability().clone();
    if let Some(reason) = &firewall_capability.reason {
        tracing::warn!("firewall is read-only: {reason}");
    }

    // TLS is set up before any service starts, so a bad certificate stops Warden with nothing running.
    let mut cert_names = Vec::new();
    let tls_config = match args.tls_source() {
        None => None,
        Some(config::TlsSource::Files { cert, key }) => {
            cert_names = tls::certificate_dns_names(&cert);
            Some(tls::server_config(&cert, &key)?)
        }
        Some(config::TlsSource::SelfSigned) => {
            let mut names = Vec::new();
            if !args.listen.ip().is_unspecified() {
                names.push(args.listen.ip().to_string());
            }
            let (cert, key, fresh) = tls::ensure_self_signed(&args.data_dir, &names)?;
            if fresh {
                tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
            }
            cert_names = tls::certificate_dns_names(&cert);
            Some(tls::server_config(&cert, &key)?)
        }
    };
    let listener = match early_listener {
        Some(listener) => listener,
        None => bind(args.listen).await?,
    };
    let local = listener.local_addr()?;

    // Ends stale process groups of a previous run, then starts the enabled services.
    let supervisor_config = supervisor::SupervisorConfig {
        cgroup_subtree: match args.containment {
            config::ContainmentMode::Auto => Some(
                args.cgroup_name
                    .clone()
                    .unwrap_or_else(|| supervisor::default_cgroup_name(&args.data_dir)),
            ),
            config::ContainmentMode::ProcessGroup => None,
        },
        ..supervisor::SupervisorConfig::default()
    };
    let supervisor = supervisor::SupervisorHandle::start_with_alerts(
        &args.data_dir,
        store.clone(),
        settings.subscribe(),
        supervisor_config,
        alert_sink.clone(),
    )
    .await
    .context("starting the supervisor")?;
    // Set once, right here: the firewall reads the services' ports only for exposure.
    let _ = services_source.set(supervisor.clone());

    let site_root = args.resolved_site_root();
    if !site_root.join("pkg").is_dir() {
        tracing::warn!(
            site_root = %site_root.display(),
            "the UI assets are missing (build with `cargo leptos build --release`); pages will load without styles or interactivity"
        );
    }
    prepare_assets(&site_root);
    let plain_http_warning = plain_http_warning(local, tls_config.is_some());
    if let Some(warning) = &plain_http_warning {
        tracing::warn!("{warning}");
        eprintln!("warden: warning: {warning}");
    }
    let host_name = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok());
    cert_names.extend(args.extra_host_names());
    let own_names = http::host::OwnNames::new(local.ip(), host_name.as_deref(), &cert_names);

    let leptos_options = LeptosOptions::builder()
        .output_name("warden")
        .site_root(site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(local)
        .env(leptos::config::Env::PROD)
        .build();

    let jails = jails::Jails::start(
        store.clone(),
        firewall.clone(),
        audit::AuditLog::open(&store)?,
        args.service_logs_dir(),
        alert_sink.clone(),
    )
    .context("starting the jails")?;
    let state = AppState {
        inner: Arc::new(Inner {
            store: store.clone(),
            access: Access::new(auth, settings.clone(), firewall.clone(), alert_sink.clone()),
            audit: audit::AuditLog::open(&store)?,
            supervisor: supervisor.clone(),
            events,
            firewall,
            jails: jails.clone(),
            notifications,
            leptos_options,
            settings,
            firewall_capability,
            listen: local,
            secure_cookies: tls_config.is_some(),
            own_names,
            plain_http_warning,
        }),
    };
    forward_service_events(&supervisor, &state.events);
    state.notifications.start_dispatcher(alert_queue);
    state
        .firewall
        .spawn_drift_watch(std::time::Duration::from_millis(args.drift_check_ms));
    let router = http::router(state.clone(), &site_root);
    // The control socket for the command line on this host (the same router; see `socket`).
    let socket_path = args.socket_path();
    match socket::bind(&socket_path) {
        Ok(listener) => {
            tokio::spawn(socket::serve(
                listener,
                socket_path,
                router.clone(),
                supervisor.closed(),
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "the command line cannot reach this Warden over its socket");
        }
    }
    // Register the signal handlers before announcing readiness, so an early SIGTERM is a clean shutdown.
    let signal = shutdown_signal()?;
    let closing = supervisor.clone();
    // Live streams (SSE) end first, so the graceful shutdown does not wait for them forever.
    let (began, shutdown_began) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        signal.await;
        systemd::stopping();
        closing.begin_shutdown();
        let _ = began.send(());
    };
    // Connections then get SHUTDOWN_GRACE to finish what they are doing. After that the server stops
    // waiting and Warden goes on to stop the services: an HTTP/2 peer that never acknowledges the
    // shutdown (its machine asleep, the network gone) or a client trickling a request body must not
    // keep the supervisor from stopping the services.
    let grace_over = async move {
        if shutdown_began.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };

    let url = display_url(local, tls_config.is_some());
    tracing::info!(%url, data_dir = %args.data_dir.display(), "Warden is running");
    eprintln!("Warden is running at {url}");
    // The store, the firewall restore and the supervisor are up and the listener is bound (connections
    // wait in its backlog until the loop below accepts them).
    systemd::ready();

    let serve = serving::run(listener, tls_config, router, limits, shutdown);
    tokio::select! {
        () = serve => {},
        () = grace_over => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the shutdown grace; closing them");
        }
    }

    tracing::info!("shutting down: stopping services");
    supervisor.shutdown().await;
    jails.shutdown().await;
    store.flush().await?;
    run_marker::end(&args.data_dir);
    Ok(())
}

/// Binds the admin listener.
async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// The services' reserved ports as the firewall reads them (for exposure): none until the supervisor
/// has started (the firewall starts first).
fn service_ports_of(
    supervisor: Arc<std::sync::OnceLock<supervisor::SupervisorHandle>>,
) -> firewall_ctl::ServicePortsSource {
    Arc::new(move || {
        let Some(supervisor) = supervisor.get() else {
            return Vec::new();
        };
        supervisor
            .list()
            .into_iter()
            .map(|s| firewall_ctl::ServicePorts {
                service_id: s.id,
                ports: s.spec.ports,
            })
            .collect()
    })
}

/// Finds the current (content-hashed) UI asset names for the HTML shell, and says so if the build left
/// files without their brotli twin (they are then sent uncompressed).
fn prepare_assets(site_root: &std::path::Path) {
    let pkg = site_root.join("pkg");
    // cargo-leptos writes its hash file next to the binary; the Debian package keeps it in the site.
    let hash_file = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .filter(|p| p.is_file())
        .or_else(|| Some(site_root.join("hash.txt")));
    let names = assets::discover(&pkg, hash_file.as_deref(), "warden");
    tracing::info!(
        js = %names.js,
        wasm = %names.wasm,
        css = %names.css,
        split_loader = names.split.as_ref().map(|s| s.loader.as_str()).unwrap_or("none (not a --split build)"),
        "UI assets"
    );
    let missing = assets::missing_brotli_twins(&pkg, &assets::compressible_files(&pkg));
    if !missing.is_empty() {
        tracing::warn!(
            count = missing.len(),
            first = %missing[0],
            dir = %pkg.display(),
            "UI assets without a current brotli copy are sent uncompressed; `make build` (or .ci/compress-assets) writes them"
        );
    }
    app::assets::set_asset_names(names);
}

/// Forwards the supervisor's status events into the event bus (`{"type": "service", ...}` and
/// `{"type": "service_deleted", "id"}`); a lag loses the oldest events and goes on.
fn forward_service_events(supervisor: &supervisor::SupervisorHandle, bus: &events::EventBus) {
    let mut rx = supervisor.subscribe_events();
    let bus = bus.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => match serde_json::to_value(&event) {
                    Ok(value) => bus.publish_value(value),
                    Err(e) => tracing::error!(error = %e, "cannot serialize a service event"),
                },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    bus.publish_value(serde_json::json!({"type": "lagged", "missed": missed}));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// The warning for listening beyond this machine over plain HTTP, if `local` is such an address.
pub fn plain_http_warning(local: std::net::SocketAddr, https: bool) -> Option<String> {
    (!https && !local.ip().to_canonical().is_loopback()).then(|| {
        format!(
            "Warden listens on {local} over plain HTTP: passwords and session cookies cross the network \
             unencrypted. Serve HTTPS (--tls self-signed, or --tls-cert/--tls-key) or listen on 127.0.0.1 \
             behind a TLS reverse proxy."
        )
    })
}

/// The URL to print for a listen address (a wildcard address is shown as loopback, which works locally).
pub fn display_url(addr: std::net::SocketAddr, https: bool) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    };
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{ip}:{}", addr.port())
}

/// A future that resolves on SIGTERM or SIGINT; the handlers are installed when this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
