//! [`CallerKey`]: whom a request counts against — the user or bot its credential
//! names, else the client's address ([`ClientAddress`]).
//!
//! Only signatures are checked here, not whether a bot token is still the bot's
//! current one (that takes a store lookup, which the route's own `Caller` extractor
//! does next). A bot is therefore keyed by its token's generation as well: someone
//! holding a token its owner has since reset can spend only that dead token's budget,
//! never the live one's.
//!
//! The client's address is the socket peer's. A forwarding header counts only when
//! the peer is a trusted proxy, and then it is read from the right, skipping trusted
//! proxies: entries left of the first untrusted one were written by the client and
//! prove nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, FORWARDED};
use cloudcord_schemas::ids::UserId;
use ipnet::IpNet;

use super::settings::ForwardedHeader;
use crate::auth::{BotTokenId, Credential, TokenVerifier};

/// Whom a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKey {
    /// A user, by a valid access token.
    User(UserId),
    /// A bot, by a validly signed bot token of one generation.
    Bot(UserId, BotTokenId),
    /// No valid credential: the client's address, an IPv6 one by its /64 (what one
    /// host or subscriber holds, so a client cannot dodge by rotating addresses).
    Address(IpAddr),
}

impl CallerKey {
    /// The caller of a request with `headers` from `client`.
    pub fn identify(verifier: &TokenVerifier, headers: &HeaderMap, client: IpAddr) -> Self {
        let credential = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| verifier.authenticate(value).ok());
        match credential {
            Some(Credential::User(access)) => Self::User(access.user_id),
            Some(Credential::Bot(claims)) => Self::Bot(claims.user_id, claims.token_id),
            None => Self::Address(network(client)),
        }
    }
}

impl fmt::Display for CallerKey {
    /// What logs show: ids, and the address a limit applies to (operators block by
    /// address); never a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{}", id.get()),
            Self::Bot(id, _) => write!(f, "bot:{}", id.get()),
            Self::Address(IpAddr::V4(address)) => write!(f, "ip:{address}"),
            Self::Address(IpAddr::V6(address)) => write!(f, "ip:{address}/64"),
        }
    }
}

/// An IPv4 address itself, an IPv6 address's /64.
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

/// Finds the client's address from the socket peer and, behind trusted proxies,
/// the forwarding header.
#[derive(Debug, Clone)]
pub struct ClientAddress {
    trusted: Vec<IpNet>,
    header: ForwardedHeader,
}

impl ClientAddress {
    /// Trusts the proxies in `trusted` to report the client in `header`.
    pub fn new(trusted: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { trusted, header }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }

    /// The client of a request from `peer` (unknown when the server was not given
    /// connection info: then every anonymous caller shares the unspecified address,
    /// which limits them together rather than not at all).
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(|peer| peer.to_canonical()) else {
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.is_trusted(peer) {
            return peer;
        }
        let (name, parse): (_, fn(&str) -> Option<IpAddr>) = match self.header {
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", parse_plain),
            ForwardedHeader::Forwarded => (FORWARDED.as_str(), parse_forwarded_element),
        };
        // Every line of the header in order, as one list (RFC 9110 § 5.3).
        let hops: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            // An entry that is no address (`unknown`, garbage) ends the walk: the
            // nearest address known is the best there is.
            let Some(address) = parse(hop.trim()).map(|address| address.to_canonical()) else {
                break;
            };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, some proxies add a port.
fn parse_plain(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| parse_with_port(entry.trim_matches('"')))
}

/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]` or `[2001:db8::1]:80`.
fn parse_with_port(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest
            .split_once(']')?
            .0
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6);
    }
    node.parse().ok().or_else(|| {
        let (host, _port) = node.rsplit_once(':')?;
        host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

/// The `for=` node of a `Forwarded` element (`for=1.2.3.4;proto=https`,
/// `For="[2001:db8::1]:4711"`).
fn parse_forwarded_element(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        parse_with_port(value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use axum::http::HeaderMap;

    use super::{CallerKey, ClientAddress, network};
    use crate::rate_limit::ForwardedHeader;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                value.parse().expect("a value"),
            );
        }
        map
    }

    fn behind(header: ForwardedHeader) -> ClientAddress {
        ClientAddress::new(
            vec![
                "10.0.0.0/8".parse().expect("cidr"),
                "fd00::/8".parse().expect("cidr"),
            ],
            header,
        )
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let clients = behind(ForwardedHeader::XForwardedFor);
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            clients.resolve(Some(ip("198.51.100.7")), &spoofed),
            ip("198.51.100.7")
        );
        let nobody = ClientAddress::new(Vec::new(), ForwardedHeader::XForwardedFor);
        assert_eq!(
            nobody.resolve(Some(ip("10.1.2.3")), &spoofed),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let clients = behind(ForwardedHeader::XForwardedFor);
        // The client prepended a fake hop; the proxies appended what they saw.
        let forwarded = headers("x-forwarded-for", &["192.0.2.66, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(
            clients.resolve(Some(ip("10.0.0.1")), &forwarded),
            ip("198.51.100.7")
        );
        // Only trusted hops: the leftmost is as far as anyone knows.
        let internal = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.2"]);
        assert_eq!(
            clients.resolve(Some(ip("10.0.0.1")), &internal),
            ip("10.9.9.9")
        );
        // No header, or garbage right of the client: the nearest known address.
        assert_eq!(
            clients.resolve(Some(ip("10.0.0.1")), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let garbage = headers("x-forwarded-for", &["198.51.100.7, unknown, 10.0.0.2"]);
        assert_eq!(
            clients.resolve(Some(ip("10.0.0.1")), &garbage),
            ip("10.0.0.2")
        );
        // IPv4-mapped peers are trusted by their IPv4 block.
        assert_eq!(
            clients.resolve(
                Some(ip("::ffff:10.0.0.1")),
                &headers("x-forwarded-for", &["198.51.100.7:5123"])
            ),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_forwarded_header_is_read_only_when_configured() {
        let both = {
            let mut map = headers(
                "forwarded",
                &[r#"for=198.51.100.7;proto=https, For="[fd00::5]:4711""#],
            );
            map.append("x-forwarded-for", "192.0.2.66".parse().expect("value"));
            map
        };
        assert_eq!(
            behind(ForwardedHeader::Forwarded).resolve(Some(ip("10.0.0.1")), &both),
            ip("198.51.100.7")
        );
        assert_eq!(
            behind(ForwardedHeader::XForwardedFor).resolve(Some(ip("10.0.0.1")), &both),
            ip("192.0.2.66")
        );
        let obfuscated = headers("forwarded", &["for=_hidden, for=198.51.100.7"]);
        assert_eq!(
            behind(ForwardedHeader::Forwarded).resolve(Some(ip("10.0.0.1")), &obfuscated),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn without_connection_info_anonymous_callers_share_one_address() {
        let clients = behind(ForwardedHeader::XForwardedFor);
        assert_eq!(
            clients.resolve(None, &headers("x-forwarded-for", &["198.51.100.7"])),
            ip("0.0.0.0")
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_logs_show_no_credential() {
        assert_eq!(
            network(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(network(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(
            CallerKey::Address(network(ip("2001:db8:1:2::9"))).to_string(),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            CallerKey::User(cloudcord_schemas::ids::UserId::new(42)).to_string(),
            "user:42"
        );
    }
}
