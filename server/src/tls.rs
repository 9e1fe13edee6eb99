//! HTTPS for the admin UI and API: loading a certificate and key from PEM files, generating and persisting a
//! self-signed certificate in the data dir (`--tls self-signed`), and the DNS names a certificate is for
//! (the Host check accepts them). rustls with the `ring` provider. Handshakes run in
//! `crate::serving`, one task per connection, under its connection cap and handshake timeout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

/// Errors of setting TLS up; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("the TLS certificate {cert} and key {key} do not fit together: {reason}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Where the self-signed certificate and its key live in the data dir.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (
        dir.join("self-signed-cert.pem"),
        dir.join("self-signed-key.pem"),
    )
}

/// Returns the paths of the self-signed certificate and key in `data_dir`, generating them on first use
/// (names: `localhost`, the loopback addresses, the host name and `extra_names`). An existing pair is reused.
pub fn ensure_self_signed(
    data_dir: &Path,
    extra_names: &[String],
) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path, false));
    }
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
    {
        names.push(host);
    }
    for n in extra_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let dir = cert_path.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    // The key first (0600 from creation on), then the certificate: a pair is only "present" once both are.
    write_atomically(
        &key_path,
        generated.key_pair.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomically(&cert_path, generated.cert.pem().as_bytes(), 0o644)?;
    Ok((cert_path, key_path, true))
}

/// Writes `bytes` to a temporary file created with `mode`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

/// The DNS names (subject alternative names) of the first certificate in the PEM file `cert_path`;
/// empty when the file cannot be read or parsed (`server_config` reports that).
pub fn certificate_dns_names(cert_path: &Path) -> Vec<String> {
    let Ok(pem) = std::fs::read(cert_path) else {
        return Vec::new();
    };
    let Some(Ok(first)) = CertificateDer::pem_slice_iter(&pem).next() else {
        return Vec::new();
    };
    match webpki::EndEntityCert::try_from(&first) {
        Ok(cert) => cert.valid_dns_names().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// Loads a PEM certificate chain and private key into a rustls server configuration. ALPN offers
/// HTTP/2 first: a page load is many small requests (the lazy-route chunks) and every open tab holds
/// live streams, which over HTTP/1.1 share the browser's six connections per host.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_err = |reason: String| TlsError::Certificate {
        path: cert_path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(cert_path).map_err(|e| cert_err(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no PEM `CERTIFICATE` block in the file".into()));
    }
    let key_err = |reason: String| TlsError::Key {
        path: key_path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(key_path).map_err(|e| key_err(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| TlsError::Config {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_with_a_private_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, fresh) = ensure_self_signed(dir.path(), &[]).unwrap();
        assert!(fresh);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = std::fs::read(&cert).unwrap();
        let (cert2, _, fresh) = ensure_self_signed(dir.path(), &[]).unwrap();
        assert!(!fresh);
        assert_eq!(
            std::fs::read(cert2).unwrap(),
            first,
            "reused, not regenerated"
        );
        server_config(&cert, &key).unwrap();
    }

    #[test]
    fn the_dns_names_of_a_certificate_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _, _) = ensure_self_signed(dir.path(), &["panel.example.com".into()]).unwrap();
        let names = certificate_dns_names(&cert);
        assert!(names.contains(&"localhost".to_string()), "{names:?}");
        assert!(
            names.contains(&"panel.example.com".to_string()),
            "{names:?}"
        );
        assert!(certificate_dns_names(&dir.path().join("missing.pem")).is_empty());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = server_config(&missing, &missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.pem") && err.contains("certificate"),
            "{err}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        let err = server_config(&garbage, &missing).unwrap_err().to_string();
        assert!(err.contains("garbage.pem"), "{err}");
        let (cert, _, _) = ensure_self_signed(dir.path(), &[]).unwrap();
        let err = server_config(&cert, &garbage).unwrap_err().to_string();
        assert!(err.contains("garbage.pem") && err.contains("key"), "{err}");
    }
}
