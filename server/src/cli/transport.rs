//! How the command line reaches a running Warden: the Unix socket next to its data (as root on the same
//! host, no token: the server checks the peer's credentials), or `--url` with a bearer token over HTTP or
//! HTTPS (the system's roots, or exactly `--ca-cert`). One HTTP/1.1 connection per request (hyper's
//! client connection API); the REST API's paths and JSON, nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use http::{header, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::CliError;

/// Where Warden is.
#[derive(Clone)]
pub enum Endpoint {
    /// The Unix socket of a Warden on this host.
    Socket(PathBuf),
    /// A Warden over the network.
    Http {
        /// `host[:port]` as the URL has it (the `Host` header and, for TLS, the server name).
        authority: String,
        /// Host and port to connect to.
        connect: (String, u16),
        /// The URL's path prefix without a trailing slash (`""` for Warden at the root).
        prefix: String,
        token: String,
        tls: Option<TlsConnector>,
    },
}

/// A response: status, content type and body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> Result<Value, CliError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| CliError::Protocol(format!("the answer is not JSON: {e}")))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Endpoint {
    /// `--url` + `--token` (+ `--ca-cert`) or the socket.
    pub fn from_options(
        url: Option<&str>,
        token: Option<&str>,
        ca_cert: Option<&std::path::Path>,
        socket: PathBuf,
    ) -> Result<Endpoint, CliError> {
        let Some(url) = url else {
            return Ok(Endpoint::Socket(socket));
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| CliError::Usage(format!("--url {url:?} is not a URL: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(CliError::Usage(format!(
                    "--url {url:?}: use http://host:port or https://host:port"
                )))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| CliError::Usage(format!("--url {url:?} has no host")))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let token = token.ok_or_else(|| {
            CliError::Usage(
                "--url needs an API token: --token or WARDEN_TOKEN (create one in Settings or with `warden tokens create`)"
                    .into(),
            )
        })?;
        let tls = https.then(|| tls_connector(ca_cert)).transpose()?;
        Ok(Endpoint::Http {
            authority: authority.as_str().to_string(),
            connect: (host.to_string(), port),
            prefix: uri.path().trim_end_matches('/').to_string(),
            token: token.to_string(),
            tls,
        })
    }

    /// Where requests go, for messages.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Socket(path) => path.display().to_string(),
            Endpoint::Http { authority, tls, .. } => format!(
                "{}://{authority}",
                if tls.is_some() { "https" } else { "http" }
            ),
        }
    }

    /// Sends one request and reads the whole answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, CliError> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let content_type = content_type(&response);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_bytes();
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// Sends one request and hands back the streaming answer (for event streams).
    pub async fn open_stream(&self, path: &str) -> Result<hyper::Response<Incoming>, CliError> {
        self.send(Method::GET, path, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<hyper::Response<Incoming>, CliError> {
        let payload = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| CliError::Protocol(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let mut builder = Request::builder().method(method);
        builder = match self {
            Endpoint::Socket(_) => builder
                .uri(format!("/api/v1{path}"))
                .header(header::HOST, "localhost"),
            Endpoint::Http {
                authority,
                prefix,
                token,
                ..
            } => builder
                .uri(format!("{prefix}/api/v1{path}"))
                .header(header::HOST, authority.as_str())
                .header(header::AUTHORIZATION, format!("Bearer {token}")),
        };
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .header(
                header::USER_AGENT,
                concat!("warden-cli/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(payload))
            .map_err(|e| CliError::Usage(format!("cannot build the request for {path}: {e}")))?;
        match self {
            Endpoint::Socket(socket) => {
                let stream = UnixStream::connect(socket)
                    .await
                    .map_err(|e| self.unreachable(e))?;
                self.exchange(stream, request).await
            }
            Endpoint::Http { connect, tls, .. } => {
                let stream = TcpStream::connect((connect.0.as_str(), connect.1))
                    .await
                    .map_err(|e| self.unreachable(e))?;
                match tls {
                    None => self.exchange(stream, request).await,
                    Some(connector) => {
                        let name = ServerName::try_from(connect.0.clone())
                            .map_err(|e| CliError::Usage(format!("bad host name: {e}")))?;
                        let stream = connector
                            .connect(name, stream)
                            .await
                            .map_err(|e| self.unreachable(e))?;
                        self.exchange(stream, request).await
                    }
                }
            }
        }
    }

    async fn exchange<S>(
        &self,
        stream: S,
        request: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<Incoming>, CliError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection to Warden ended");
            }
        });
        sender
            .send_request(request)
            .await
            .map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> CliError {
        let hint = match self {
            Endpoint::Socket(_) => {
                " (is Warden running? As root on its host, or give --socket/--data-dir; remotely, --url and --token)"
            }
            Endpoint::Http { .. } => "",
        };
        CliError::Unreachable(format!(
            "cannot reach Warden at {}: {e}{hint}",
            self.describe()
        ))
    }
}

fn content_type(response: &hyper::Response<Incoming>) -> String {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// TLS trusting exactly `ca_cert` (PEM), or the system's roots.
fn tls_connector(ca_cert: Option<&std::path::Path>) -> Result<TlsConnector, CliError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let mut roots = RootCertStore::empty();
    match ca_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert
                    .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(CliError::Usage(
            "no certificate to trust: give --ca-cert (e.g. the data dir's tls/self-signed-cert.pem)".into(),
        ));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| CliError::Usage(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
