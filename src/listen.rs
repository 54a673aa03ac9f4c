//! `--web.listen-address` values in the exporter-toolkit spelling: `:10150` means every
//! interface (Go's convention, which Rust's `SocketAddr` rejects), `host:port`, `[v6]:port`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

pub const DEFAULT: &str = ":10150";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// `None` = all interfaces (bind `[::]`, falling back to `0.0.0.0` without IPv6).
    pub host: Option<String>,
    pub port: u16,
    raw: String,
}

impl ListenAddr {
    /// Candidate socket addresses to bind, in order of preference.
    pub fn candidates(&self) -> Vec<SocketAddr> {
        match &self.host {
            None => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
                SocketAddr::new(IpAddr::from([0, 0, 0, 0]), self.port),
            ],
            Some(h) => match h.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, self.port)],
                Err(_) => (h.as_str(), self.port)
                    .to_socket_addrs()
                    .map(Iterator::collect)
                    .unwrap_or_default(),
            },
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let raw = s.trim();
        let err =
            || format!("invalid listen address {raw:?}: expected :PORT, HOST:PORT or [IPv6]:PORT");
        let (host, port) = raw.rsplit_once(':').ok_or_else(err)?;
        let port: u16 = port.parse().map_err(|_| err())?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) if v6.parse::<Ipv6Addr>().is_ok() => v6,
            Some(_) => return Err(err()),
            // An IPv6 literal must be bracketed, as in Go's net.SplitHostPort.
            None if host.contains(':') => return Err(err()),
            None => host,
        };
        let host = (!host.is_empty()).then(|| host.to_owned());
        Ok(Self {
            host,
            port,
            raw: raw.to_owned(),
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_port_means_all_interfaces() {
        let a: ListenAddr = ":10150".parse().unwrap();
        assert_eq!(a.host, None);
        assert_eq!(a.candidates()[0], "[::]:10150".parse().unwrap());
        assert_eq!(a.candidates()[1], "0.0.0.0:10150".parse().unwrap());
    }

    #[test]
    fn explicit_hosts() {
        let a: ListenAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(a.candidates(), vec!["127.0.0.1:0".parse().unwrap()]);
        let b: ListenAddr = "[::1]:9".parse().unwrap();
        assert_eq!(b.candidates(), vec!["[::1]:9".parse().unwrap()]);
        assert_eq!(b.to_string(), "[::1]:9");
    }

    #[test]
    fn rejects_junk() {
        for bad in ["", "10150", "host:", ":99999", "::1:80", "a:b"] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }
}
