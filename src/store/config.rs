//! Connection and adapter settings, and how they become an [`Endpoint`].

use super::cluster::NodeSettings;
use super::sentinel::Sentinels;
use super::wire::{Endpoint, Tls};
use crate::error::{Result, StoreError};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;
use std::time::Duration;

/// Everything `new RedisStore(options)` accepts, already type-checked by the JS layer.
#[derive(Clone, Default)]
pub struct Options {
  pub url: Option<String>,
  pub host: Option<String>,
  pub port: Option<u16>,
  /// A Unix socket of a server on the same host (ioredis's `path`), instead of host and port.
  pub path: Option<String>,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: Option<i64>,
  pub tls: Option<TlsOptions>,
  pub connect_timeout: Option<Duration>,
  pub command_timeout: Option<Duration>,
  /// Streams are trimmed to about this many entries on every append (default
  /// [`DEFAULT_TRIM_MAX_LEN`]); 0 keeps them whole.
  pub trim_max_len: Option<u64>,
  /// `MAXLEN ~` (default) rather than an exact trim.
  pub trim_approx: Option<bool>,
  /// How long the I/O thread keeps polling after a call (see src/spin.rs).
  pub busy_poll: Option<Duration>,
  /// Sentinel mode: the primary comes from these sentinels (see [`SentinelOptions`]).
  pub sentinel: Option<SentinelOptions>,
  /// Cluster mode: `host:port` of some of the cluster's nodes (any one that answers will do).
  pub cluster: Option<Vec<(String, u16)>>,
}

/// Where the sentinels are, the primary's name, and how to log in to the sentinels.
#[derive(Clone, Default)]
pub struct SentinelOptions {
  pub nodes: Vec<(String, u16)>,
  pub name: String,
  pub username: Option<String>,
  pub password: Option<String>,
  /// TLS to the sentinels (the data nodes' is `Options::tls`).
  pub tls: Option<TlsOptions>,
}

/// TLS settings; any of them (or a `rediss://` URL) turns TLS on.
#[derive(Clone, Default)]
pub struct TlsOptions {
  /// PEM of the CA(s) to trust instead of the system store.
  pub ca: Option<String>,
  /// PEM of the client certificate and key, for mutual TLS.
  pub cert: Option<String>,
  pub key: Option<String>,
  /// The name the server certificate must carry, when it differs from the host connected to.
  pub servername: Option<String>,
}

// The defaults of the options, here only: the JS facade and the Nuxt module leave an option out
// rather than repeat its default, and the README's are checked against these (package.test).
/// Short, so that a dead server is noticed quickly.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(3000);
/// nvent reads recent events; 10000 per stream keeps memory bounded (as 0.5.15 did).
pub const DEFAULT_TRIM_MAX_LEN: u64 = 10_000;
/// See README, Performance: the poll only runs while calls follow one another this closely.
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(100);

/// The connection settings built from [`Options`].
pub struct ClientSetup {
  pub endpoint: Endpoint,
  pub connect_timeout: Duration,
  /// `host:port`, for log lines and messages (never the credentials).
  pub address: String,
}

impl Options {
  pub fn build(&self) -> Result<ClientSetup> {
    if let Some(sentinel) = &self.sentinel {
      return self.build_sentinel(sentinel);
    }
    if self.path.is_some() && (self.url.is_some() || self.host.is_some() || self.port.is_some()) {
      return Err(StoreError::invalid(
        "give either connection.path or connection.url/host/port, not both",
      ));
    }
    // redis-rs reads the URL (credentials, db); the scheme's TLS is ours to apply, since the crate
    // is built without its TLS features (see `plain_url`)
    let (url, tls_in_url) = match self.url.as_deref().map(plain_url) {
      Some((url, tls)) => (Some(url), tls),
      None => (None, false),
    };
    let info: ConnectionInfo = match (url, &self.path) {
      (Some(url), _) => url
        .into_connection_info()
        .map_err(|_| StoreError::invalid("connection.url is not a valid redis://, rediss:// or redis+unix:// URL"))?,
      (None, Some(path)) => unix_socket(path)?
        .into_connection_info()
        .map_err(|e| StoreError::invalid(e.to_string()))?,
      (None, None) => ConnectionAddr::Tcp(self.host.clone().unwrap_or_else(|| "localhost".into()), self.port.unwrap_or(6379))
        .into_connection_info()
        .map_err(|e| StoreError::invalid(e.to_string()))?,
    };
    if self.url.is_some() && (self.host.is_some() || self.port.is_some()) {
      return Err(StoreError::invalid("give either connection.url or connection.host/port, not both"));
    }
    let (host, port, socket) = match info.addr() {
      ConnectionAddr::Tcp(host, port) => (host.clone(), *port, None),
      #[cfg(unix)]
      ConnectionAddr::Unix(path) => (path.display().to_string(), 0, Some(path.clone())),
      _ => return Err(StoreError::invalid("only TCP connections and Unix sockets are supported")),
    };
    let tls = match (&self.tls, tls_in_url) {
      (None, false) => None,
      _ if socket.is_some() => return Err(StoreError::invalid("connection.tls: TLS is not used over a Unix socket")),
      (tls, _) => Some(tls_config(tls.clone().unwrap_or_default(), Some(&host))?),
    };
    let settings = info.redis_settings();
    Ok(ClientSetup {
      address: if socket.is_some() { host.clone() } else { format!("{host}:{port}") },
      endpoint: Endpoint {
        host,
        port,
        socket,
        tls,
        username: self.username.clone().or_else(|| settings.username().map(str::to_string)),
        password: self.password.clone().or_else(|| settings.password().map(str::to_string)),
        db: self.db.unwrap_or(settings.db()),
        command_timeout: self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
        sentinels: None,
        primary_only: true,
      },
      connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    })
  }
}

/// `connection.path` as the address redis-rs reads from a `redis+unix://` URL.
#[cfg(unix)]
fn unix_socket(path: &str) -> Result<ConnectionAddr> {
  Ok(ConnectionAddr::Unix(path.into()))
}

#[cfg(not(unix))]
fn unix_socket(_: &str) -> Result<ConnectionAddr> {
  Err(StoreError::invalid("Unix sockets are not available on this platform"))
}

/// A `rediss://` URL as the `redis://` one redis-rs reads without its TLS features, and whether
/// it asked for TLS. Those features would bring rustls-native-certs, which on macOS links the
/// Security framework: the darwin builds are made without a macOS SDK (README, Platforms).
fn plain_url(url: &str) -> (String, bool) {
  match url.get(..9) {
    Some(scheme) if scheme.eq_ignore_ascii_case("rediss://") => (format!("redis://{}", &url[9..]), true),
    _ => (url.to_string(), false),
  }
}

impl Options {
  /// Sentinel mode: the data nodes' credentials and db are these options'; the address is asked
  /// of the sentinels at every connect.
  fn build_sentinel(&self, sentinel: &SentinelOptions) -> Result<ClientSetup> {
    if self.url.is_some() || self.host.is_some() || self.port.is_some() || self.path.is_some() {
      return Err(StoreError::invalid(
        "give either connection.sentinels or connection.url/host/port/path, not both",
      ));
    }
    if sentinel.nodes.is_empty() {
      return Err(StoreError::invalid("connection.sentinels must list at least one sentinel"));
    }
    if sentinel.name.is_empty() {
      return Err(StoreError::invalid(
        "connection.name (the primary's name on the sentinels) is required with connection.sentinels",
      ));
    }
    let nodes: Vec<String> = sentinel.nodes.iter().map(|(host, port)| format!("{host}:{port}")).collect();
    let (host, port) = sentinel.nodes[0].clone();
    Ok(ClientSetup {
      endpoint: Endpoint {
        host,
        port,
        socket: None,
        // the name checked is the host a sentinel names, unless `servername` says otherwise
        tls: self.tls.clone().map(|tls| tls_config(tls, None)).transpose()?,
        username: self.username.clone(),
        password: self.password.clone(),
        db: self.db.unwrap_or(0),
        command_timeout: self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
        sentinels: Some(Arc::new(Sentinels {
          nodes: sentinel.nodes.clone(),
          name: sentinel.name.clone(),
          username: sentinel.username.clone(),
          password: sentinel.password.clone(),
          tls: sentinel.tls.clone().map(|tls| tls_config(tls, None)).transpose()?,
        })),
        primary_only: true,
      },
      connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
      address: format!("the primary {:?} of the sentinels at {}", sentinel.name, nodes.join(", ")),
    })
  }
}

impl Options {
  /// Cluster mode: how to log in to every node. The nodes are those given and those they name.
  pub fn build_cluster(&self) -> Result<NodeSettings> {
    let Some(nodes) = &self.cluster else {
      return Err(StoreError::invalid("connection.cluster is missing"));
    };
    if self.url.is_some() || self.host.is_some() || self.port.is_some() || self.path.is_some() || self.sentinel.is_some() {
      return Err(StoreError::invalid(
        "give either connection.cluster or connection.url/host/port/path/sentinels, not several",
      ));
    }
    if nodes.is_empty() {
      return Err(StoreError::invalid("connection.cluster must list at least one node"));
    }
    if self.db.is_some_and(|db| db != 0) {
      return Err(StoreError::invalid("connection.db: a cluster has only db 0"));
    }
    Ok(NodeSettings {
      // each node's certificate is checked against the address the cluster gives for it, unless
      // `servername` names one for all
      tls: self.tls.clone().map(|tls| tls_config(tls, None)).transpose()?,
      username: self.username.clone(),
      password: self.password.clone(),
      connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
      command_timeout: self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
      refusal: Default::default(),
    })
  }
}

#[cfg(not(target_os = "macos"))]
fn system_roots() -> Vec<CertificateDer<'static>> {
  rustls_native_certs::load_native_certs().certs
}

/// macOS keeps the roots it trusts, for programs that do not ask the keychain, in
/// /etc/ssl/cert.pem; reading it spares the Security framework, which no macOS SDK is here to link.
#[cfg(target_os = "macos")]
fn system_roots() -> Vec<CertificateDer<'static>> {
  let file = std::env::var_os("SSL_CERT_FILE").unwrap_or_else(|| "/etc/ssl/cert.pem".into());
  std::fs::read(file)
    .map(|pem| CertificateDer::pem_slice_iter(&pem).filter_map(|cert| cert.ok()).collect())
    .unwrap_or_default()
}

/// rustls settings: the given CA or the system's, an optional client certificate, and the
/// name the server certificate must carry (the host dialled unless `servername` says otherwise).
fn tls_config(tls: TlsOptions, host: Option<&str>) -> Result<Tls> {
  let rejected = |what: &str| StoreError::invalid(format!("connection settings rejected: invalid TLS {what}"));
  let mut roots = rustls::RootCertStore::empty();
  match &tls.ca {
    Some(pem) => {
      for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.map_err(|_| rejected("CA"))?).map_err(|_| rejected("CA"))?;
      }
      if roots.is_empty() {
        return Err(rejected("CA"));
      }
    }
    None => {
      roots.add_parsable_certificates(system_roots());
    }
  }
  let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
  let config = match (tls.cert, tls.key) {
    (Some(cert), Some(key)) => {
      let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| rejected("certificate"))?;
      let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| rejected("key"))?;
      builder
        .with_client_auth_cert(chain, key)
        .map_err(|_| rejected("certificate or key"))?
    }
    (None, None) => builder.with_no_client_auth(),
    _ => return Err(StoreError::invalid("connection.tls.cert and connection.tls.key go together")),
  };
  let name = match tls.servername.as_deref().or(host) {
    Some(name) => {
      Some(ServerName::try_from(name.to_string()).map_err(|_| StoreError::invalid(format!("{name:?} is not a valid TLS server name")))?)
    }
    None => None,
  };
  Ok(Tls {
    config: Arc::new(config),
    name,
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  /// Options refused as bad input, with a message naming `naming`.
  fn refused<T>(built: Result<T>, naming: &str) {
    let Err(e) = built else {
      panic!("accepted, where {naming} should be refused")
    };
    assert_eq!(e.code, crate::error::Code::InvalidArgument);
    assert!(e.message.contains(naming), "{}", e.message);
  }

  #[test]
  fn a_cluster_takes_no_other_shape_and_only_db_0() {
    let cluster = || Options {
      cluster: Some(vec![("127.0.0.1".into(), 7000)]),
      ..Default::default()
    };
    assert!(cluster().build_cluster().is_ok());
    for (options, field) in [
      (
        Options {
          host: Some("h".into()),
          ..cluster()
        },
        "connection.cluster",
      ),
      (Options { db: Some(1), ..cluster() }, "connection.db"),
      (
        Options {
          cluster: Some(Vec::new()),
          ..cluster()
        },
        "connection.cluster",
      ),
    ] {
      refused(options.build_cluster(), field);
    }
  }

  #[cfg(unix)]
  #[test]
  fn a_unix_socket_from_path_or_url() {
    let setup = Options {
      path: Some("/run/redis/redis.sock".into()),
      db: Some(3),
      ..Default::default()
    }
    .build()
    .unwrap();
    assert_eq!(setup.address, "/run/redis/redis.sock");
    assert_eq!(
      setup.endpoint.socket.as_deref(),
      Some(std::path::Path::new("/run/redis/redis.sock"))
    );
    assert_eq!(setup.endpoint.db, 3);
    let url = Options {
      url: Some("redis+unix:///run/redis.sock?db=2&user=u&pass=p".into()),
      ..Default::default()
    }
    .build()
    .unwrap();
    assert_eq!(url.endpoint.socket.as_deref(), Some(std::path::Path::new("/run/redis.sock")));
    assert_eq!(
      (url.endpoint.db, url.endpoint.username.as_deref(), url.endpoint.password.as_deref()),
      (2, Some("u"), Some("p"))
    );
    // the options' own credentials and db come first
    let own = Options {
      url: Some("unix:///run/redis.sock?db=2&pass=p".into()),
      password: Some("mine".into()),
      db: Some(0),
      ..Default::default()
    }
    .build()
    .unwrap();
    assert_eq!((own.endpoint.db, own.endpoint.password.as_deref()), (0, Some("mine")));
  }

  #[test]
  fn a_unix_socket_takes_no_host_port_tls_sentinels_or_cluster() {
    let path = || Options {
      path: Some("/run/redis.sock".into()),
      ..Default::default()
    };
    for (options, field) in [
      (
        Options {
          host: Some("h".into()),
          ..path()
        },
        "connection.path",
      ),
      (Options { port: Some(1), ..path() }, "connection.path"),
      (
        Options {
          url: Some("redis://h".into()),
          ..path()
        },
        "connection.path",
      ),
      (
        Options {
          tls: Some(TlsOptions::default()),
          ..path()
        },
        "TLS",
      ),
      (
        Options {
          sentinel: Some(SentinelOptions {
            nodes: vec![("h".into(), 26379)],
            name: "m".into(),
            ..Default::default()
          }),
          ..path()
        },
        "path",
      ),
    ] {
      refused(options.build(), field);
    }
    let cluster = Options {
      cluster: Some(vec![("127.0.0.1".into(), 7000)]),
      ..path()
    };
    refused(cluster.build_cluster(), "path");
  }

  #[test]
  fn defaults_to_localhost() {
    let setup = Options::default().build().unwrap();
    assert_eq!(setup.address, "localhost:6379");
  }

  #[test]
  fn url_and_host_conflict() {
    let opts = Options {
      url: Some("redis://127.0.0.1:1".into()),
      host: Some("x".into()),
      ..Default::default()
    };
    assert_eq!(opts.build().err().unwrap().code, crate::error::Code::InvalidArgument);
  }

  #[test]
  fn bad_url_message_hides_the_password() {
    let opts = Options {
      url: Some("http://user:S3cr3t-canary@host".into()),
      ..Default::default()
    };
    let err = opts.build().err().unwrap();
    assert!(!err.message.contains("S3cr3t"), "{}", err.message);
  }

  #[test]
  fn rediss_urls_and_tls_options_are_accepted() {
    let setup = Options {
      url: Some("rediss://127.0.0.1:6380".into()),
      ..Default::default()
    }
    .build()
    .unwrap();
    assert_eq!(setup.address, "127.0.0.1:6380");
    assert!(setup.endpoint.tls.is_some());
    let upper = Options {
      url: Some("REDISS://u:p@127.0.0.1:6380/2".into()),
      ..Default::default()
    }
    .build()
    .unwrap();
    assert!(upper.endpoint.tls.is_some());
    assert_eq!((upper.endpoint.db, upper.endpoint.password.as_deref()), (2, Some("p")));
    let plain = Options {
      url: Some("redis://127.0.0.1:6380".into()),
      ..Default::default()
    }
    .build()
    .unwrap();
    assert!(plain.endpoint.tls.is_none());
    let half = Options {
      tls: Some(TlsOptions {
        cert: Some("x".into()),
        ..Default::default()
      }),
      ..Default::default()
    };
    assert!(half.build().is_err());
  }
}
