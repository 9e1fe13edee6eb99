//! The local control socket: the same router (REST API included) served over a Unix socket next to the
//! data (`<data dir>/warden.sock`, or `--socket`), mode 0600, for the `warden` command line on this host.
//! Each connection's peer credentials are read from the kernel (`SO_PEERCRED`): a peer that is root (or
//! Warden's own user, who owns the data anyway) is authenticated as `root@socket` with full rights
//! ([`SocketPeer`], checked by the auth gate); any other peer is closed at once.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tower::ServiceExt;

use crate::serving::LocalAddr;

/// The socket's file name in the data directory.
pub const SOCKET_NAME: &str = "warden.sock";

/// Where the Debian package's Warden keeps its socket (`deploy/warden.toml`) and its data.
pub const PACKAGED_SOCKET: &str = "/run/warden/warden.sock";
const PACKAGED_DATA_DIR: &str = "/var/lib/warden";
/// `warden serve`'s default data directory.
const DEFAULT_DATA_DIR: &str = "./data";

/// The data directory a command on this host means when none is given: `./data` where it exists (a
/// Warden from `make run`), else the package's `/var/lib/warden` where that exists, else `./data`.
pub fn default_data_dir() -> PathBuf {
    let local = PathBuf::from(DEFAULT_DATA_DIR);
    if !local.exists() && Path::new(PACKAGED_DATA_DIR).is_dir() {
        return PathBuf::from(PACKAGED_DATA_DIR);
    }
    local
}

/// The socket a command on this host talks to: `socket` if given; else in the given data directory;
/// else the package's socket where it exists; else in the default data directory.
pub fn locate(socket: Option<&Path>, data_dir: Option<&Path>) -> PathBuf {
    if let Some(socket) = socket {
        return socket.to_path_buf();
    }
    if let Some(dir) = data_dir {
        return dir.join(SOCKET_NAME);
    }
    if Path::new(PACKAGED_SOCKET).exists() {
        return PathBuf::from(PACKAGED_SOCKET);
    }
    default_data_dir().join(SOCKET_NAME)
}

/// A request that came over the control socket from a process of user `uid` (only root's and Warden's
/// own user's connections are served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketPeer {
    pub uid: u32,
}

/// What the audit log and the access checks see as the socket's client address.
const SOCKET_CLIENT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Why the socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the control socket {path}: {reason}")]
pub struct SocketError {
    pub path: PathBuf,
    pub reason: String,
}

/// Binds the socket at `path` (replacing a stale socket file left by a Warden that was killed; any
/// other kind of file there is an error), readable and writable by its owner only.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let fail = |reason: String| SocketError {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // The data directory is locked by this process (sled), so no other Warden serves it.
            std::fs::remove_file(path)
                .map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?;
        }
        Ok(_) => return Err(fail("a file that is not a socket is in the way".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(e.to_string()))?;
    Ok(listener)
}

/// Serves `router` on `listener` until `stop` resolves, then removes the socket file.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    router: Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let own_uid = nix::unistd::geteuid().as_raw();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a control socket connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let uid = match stream.peer_cred() {
            Ok(cred) => cred.uid(),
            Err(e) => {
                tracing::warn!(error = %e, "a control socket peer without credentials; closed");
                continue;
            }
        };
        if uid != 0 && uid != own_uid {
            tracing::warn!(uid, "refused a control socket connection from another user");
            continue;
        }
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(SOCKET_CLIENT));
                req.extensions_mut().insert(LocalAddr(SOCKET_CLIENT));
                req.extensions_mut().insert(SocketPeer { uid });
                router.clone().oneshot(req)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "control socket connection ended with an error");
            }
        });
    }
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::debug!(error = %e, path = %path.display(), "cannot remove the control socket");
    }
}
