//! The connection URL's query: `?v=10&encoding=json&compress=zstd-stream`.

use super::close_code::CloseCode;
use super::compression::TransportCompression;

/// The only gateway version served.
pub const API_VERSION: u8 = 10;

/// What the client asked for in the connection URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectParams {
    /// `compress`, if any.
    pub compression: Option<TransportCompression>,
}

impl ConnectParams {
    /// Parses the raw query string (without `?`).
    ///
    /// * `v` other than 10 is 4012. A missing `v` means 10: the version is in the
    ///   URL Discord hands out, and a client that drops it wants that one.
    /// * `encoding` other than `json` is 4002: `etf` is not served, and a client
    ///   that cannot be answered in its encoding cannot decode anything we send.
    /// * `compress` other than `zlib-stream` or `zstd-stream` is 4002 likewise.
    pub fn parse(query: &str) -> Result<Self, CloseCode> {
        let mut compression = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "v" if value != API_VERSION.to_string() => {
                    return Err(CloseCode::InvalidApiVersion);
                }
                "encoding" if value != "json" => return Err(CloseCode::DecodeError),
                "compress" => {
                    compression =
                        Some(TransportCompression::parse(&value).ok_or(CloseCode::DecodeError)?);
                }
                _ => {}
            }
        }
        Ok(Self { compression })
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectParams;
    use crate::protocol::close_code::CloseCode;
    use crate::protocol::compression::TransportCompression;

    #[test]
    fn version_10_json_with_either_stream_compression_connects() {
        assert_eq!(
            ConnectParams::parse("v=10&encoding=json"),
            Ok(ConnectParams { compression: None })
        );
        assert_eq!(
            ConnectParams::parse("v=10&encoding=json&compress=zstd-stream"),
            Ok(ConnectParams {
                compression: Some(TransportCompression::ZstdStream)
            })
        );
        assert_eq!(
            ConnectParams::parse("compress=zlib-stream&v=10"),
            Ok(ConnectParams {
                compression: Some(TransportCompression::ZlibStream)
            })
        );
        assert_eq!(
            ConnectParams::parse(""),
            Ok(ConnectParams { compression: None })
        );
    }

    #[test]
    fn other_versions_close_with_4012() {
        for query in ["v=9", "v=11", "v=ten", "v="] {
            assert_eq!(
                ConnectParams::parse(query),
                Err(CloseCode::InvalidApiVersion),
                "{query}"
            );
        }
    }

    #[test]
    fn etf_and_unknown_compression_close_with_4002() {
        assert_eq!(
            ConnectParams::parse("v=10&encoding=etf"),
            Err(CloseCode::DecodeError)
        );
        assert_eq!(
            ConnectParams::parse("v=10&compress=gzip"),
            Err(CloseCode::DecodeError)
        );
    }
}
