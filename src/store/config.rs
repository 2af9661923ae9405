//! Connection and adapter settings, and how they become a redis-rs client.

use crate::error::{Result, StoreError};
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};
use std::net::SocketAddr;
use std::time::Duration;

/// Everything `new RedisStore(options)` accepts, already type-checked by the JS layer.
#[derive(Clone, Default)]
pub struct Options {
  pub url: Option<String>,
  pub host: Option<String>,
  pub port: Option<u16>,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: Option<i64>,
  pub tls: Option<TlsOptions>,
  pub connect_timeout: Option<Duration>,
  pub command_timeout: Option<Duration>,
  /// Streams are trimmed to about this many entries on every append; `None` keeps them whole.
  pub trim_max_len: Option<u64>,
  pub trim_approx: bool,
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

// Defaults kept short so that a dead server is noticed quickly (see README, Configuration).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(3000);

/// A redis-rs client and the per-connection settings built from [`Options`].
pub struct ClientSetup {
  pub client: Client,
  pub config: AsyncConnectionConfig,
  pub connect_timeout: Duration,
  /// `host:port`, for log lines and messages (never the credentials).
  pub address: String,
}

impl Options {
  pub fn build(&self) -> Result<ClientSetup> {
    let mut info: ConnectionInfo = match &self.url {
      Some(url) => url
        .as_str()
        .into_connection_info()
        .map_err(|_| StoreError::invalid("connection.url is not a valid redis:// or rediss:// URL"))?,
      None => ConnectionAddr::Tcp(self.host.clone().unwrap_or_else(|| "localhost".into()), self.port.unwrap_or(6379))
        .into_connection_info()
        .map_err(|e| StoreError::invalid(e.to_string()))?,
    };
    if self.url.is_some() && (self.host.is_some() || self.port.is_some()) {
      return Err(StoreError::invalid("give either connection.url or connection.host/port, not both"));
    }

    let mut redis = info.redis_settings().clone();
    if let Some(username) = &self.username {
      redis = redis.set_username(username);
    }
    if let Some(password) = &self.password {
      redis = redis.set_password(password);
    }
    if let Some(db) = self.db {
      redis = redis.set_db(db);
    }
    info = info
      .set_redis_settings(redis)
      .set_tcp_settings(TcpSettings::default().set_nodelay(true));

    let (host, port, tls_in_url) = match info.addr() {
      ConnectionAddr::Tcp(host, port) => (host.clone(), *port, false),
      ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port, true),
      _ => return Err(StoreError::invalid("only TCP connections are supported")),
    };
    let address = format!("{host}:{port}");
    let connect_timeout = self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let mut config = AsyncConnectionConfig::new()
      .set_connection_timeout(Some(connect_timeout))
      .set_response_timeout(Some(self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT)));

    let client = match (&self.tls, tls_in_url) {
      (None, false) => Client::open(info),
      (tls, _) => {
        let tls = tls.clone().unwrap_or_default();
        // The certificate is checked against the name in the address, so a separate server
        // name goes there, and a resolver sends that name to the real host.
        let verify_as = tls.servername.clone().unwrap_or_else(|| host.clone());
        if tls.servername.is_some() {
          config = config.set_dns_resolver(FixedHost { host: host.clone() });
        }
        info = info.set_addr(ConnectionAddr::TcpTls {
          host: verify_as,
          port,
          insecure: false,
          tls_params: None,
        });
        let client_tls = match (tls.cert, tls.key) {
          (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: cert.into_bytes(),
            client_key: key.into_bytes(),
          }),
          (None, None) => None,
          _ => return Err(StoreError::invalid("connection.tls.cert and connection.tls.key go together")),
        };
        if client_tls.is_none() && tls.ca.is_none() {
          Client::open(info)
        } else {
          Client::build_with_tls(
            info,
            redis::TlsCertificates {
              client_tls,
              root_cert: tls.ca.map(String::into_bytes),
            },
          )
        }
      }
    }
    .map_err(|e| {
      StoreError::invalid(format!(
        "connection settings rejected: {}",
        e.detail().unwrap_or("invalid TLS certificate or key")
      ))
    })?;

    Ok(ClientSetup {
      client,
      config,
      connect_timeout,
      address,
    })
  }
}

/// Resolves any name to one fixed host, so TLS can verify a name other than the host dialled.
struct FixedHost {
  host: String,
}

impl redis::io::AsyncDNSResolver for FixedHost {
  fn resolve<'a, 'b: 'a>(&'a self, _host: &'b str, port: u16) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
    Box::pin(async move {
      let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), port)).await?.collect();
      Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

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
