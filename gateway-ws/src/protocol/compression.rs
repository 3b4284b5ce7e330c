//! Compression of what the server sends, one [`Encoder`] per connection.
//!
//! * `zlib-stream` (transport): one zlib stream for the whole connection; each
//!   message is the stream's output up to a `Z_SYNC_FLUSH`, so it ends with
//!   `00 00 ff ff` and the client inflates every message with one shared context.
//! * `zstd-stream` (transport): one zstd stream for the whole connection; each
//!   message is flushed (`ZSTD_e_flush`) but the frame never ends, so the client
//!   decompresses with one shared context.
//! * `compress: true` in Identify (payload compression): each message is its own
//!   complete zlib stream. Only without transport compression, as Discord allows.
//!
//! Compressed messages go out as binary WebSocket messages, plain ones as text.

use std::io;

use flate2::{Compress, Compression, FlushCompress, Status};
use zstd::stream::raw::{CParameter, InBuffer, Operation, OutBuffer};

/// zstd level for the stream: the fastest of the regular levels, because the gateway
/// spends its CPU on fan-out, and gateway JSON compresses well even so.
const ZSTD_LEVEL: i32 = 1;

/// zstd window (log2 bytes): 128 KiB bounds each connection's compressor memory and
/// still spans many messages, which is where the stream's gain comes from.
const ZSTD_WINDOW_LOG: u32 = 17;

/// The `compress` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportCompression {
    /// `zlib-stream`.
    ZlibStream,
    /// `zstd-stream`.
    ZstdStream,
}

impl TransportCompression {
    /// Parses the `compress` query parameter's value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "zlib-stream" => Some(Self::ZlibStream),
            "zstd-stream" => Some(Self::ZstdStream),
            _ => None,
        }
    }
}

/// A compressor failed; the connection cannot continue (its stream is broken).
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// zlib refused the input.
    #[error("zlib compression failed")]
    Zlib(#[from] flate2::CompressError),
    /// zstd refused the input or its parameters.
    #[error("zstd compression failed")]
    Zstd(#[source] io::Error),
}

/// A message as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// Uncompressed JSON.
    Text(String),
    /// Compressed bytes.
    Binary(Vec<u8>),
}

/// How one connection encodes what it sends.
pub struct Encoder {
    kind: Kind,
}

enum Kind {
    Plain,
    ZlibStream(Box<Compress>),
    ZstdStream(Box<zstd::stream::raw::Encoder<'static>>),
    Payload,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Plain => "plain",
            Kind::ZlibStream(_) => "zlib-stream",
            Kind::ZstdStream(_) => "zstd-stream",
            Kind::Payload => "payload",
        };
        f.debug_struct("Encoder").field("kind", &kind).finish()
    }
}

impl Encoder {
    /// The encoder for a connection opened with `transport` (the `compress` query
    /// parameter).
    pub fn new(transport: Option<TransportCompression>) -> Result<Self, CompressionError> {
        let kind = match transport {
            None => Kind::Plain,
            Some(TransportCompression::ZlibStream) => {
                Kind::ZlibStream(Box::new(Compress::new(Compression::fast(), true)))
            }
            Some(TransportCompression::ZstdStream) => {
                let mut encoder =
                    zstd::stream::raw::Encoder::new(ZSTD_LEVEL).map_err(CompressionError::Zstd)?;
                encoder
                    .set_parameter(CParameter::WindowLog(ZSTD_WINDOW_LOG))
                    .map_err(CompressionError::Zstd)?;
                Kind::ZstdStream(Box::new(encoder))
            }
        };
        Ok(Self { kind })
    }

    /// Identify asked for payload compression: honoured only on a connection without
    /// transport compression (Discord: one or the other).
    pub fn enable_payload_compression(&mut self) {
        if matches!(self.kind, Kind::Plain) {
            self.kind = Kind::Payload;
        }
    }

    /// Encodes one message.
    pub fn encode(&mut self, text: String) -> Result<WireMessage, CompressionError> {
        match &mut self.kind {
            Kind::Plain => Ok(WireMessage::Text(text)),
            Kind::ZlibStream(compress) => Ok(WireMessage::Binary(zlib(
                compress,
                text.as_bytes(),
                FlushCompress::Sync,
            )?)),
            Kind::Payload => {
                let mut compress = Compress::new(Compression::fast(), true);
                Ok(WireMessage::Binary(zlib(
                    &mut compress,
                    text.as_bytes(),
                    FlushCompress::Finish,
                )?))
            }
            Kind::ZstdStream(encoder) => Ok(WireMessage::Binary(
                zstd_flushed(encoder, text.as_bytes()).map_err(CompressionError::Zstd)?,
            )),
        }
    }
}

/// Makes room for more output: the compressors write only into spare capacity.
fn grow(out: &mut Vec<u8>) {
    if out.capacity() - out.len() < 64 {
        out.reserve(out.capacity().max(256));
    }
}

/// Runs all of `input` through `compress` and flushes with `flush` (Sync: until the
/// output ends on the `00 00 ff ff` marker; Finish: until the stream ends).
fn zlib(
    compress: &mut Compress,
    input: &[u8],
    flush: FlushCompress,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let mut consumed = 0;
    loop {
        grow(&mut out);
        let before = compress.total_in();
        let status = compress.compress_vec(&input[consumed..], &mut out, flush)?;
        consumed += usize::try_from(compress.total_in() - before).unwrap_or(usize::MAX);
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // zlib's rule: a flush is complete when it left output space unused.
            _ => consumed >= input.len() && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
    }
}

/// Runs all of `input` through the zstd stream and flushes it.
fn zstd_flushed(
    encoder: &mut zstd::stream::raw::Encoder<'static>,
    input: &[u8],
) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let mut input = InBuffer::around(input);
    while input.pos() < input.src.len() {
        grow(&mut out);
        let pos = out.len();
        let mut output = OutBuffer::around_pos(&mut out, pos);
        encoder.run(&mut input, &mut output)?;
    }
    loop {
        grow(&mut out);
        let pos = out.len();
        let mut output = OutBuffer::around_pos(&mut out, pos);
        if encoder.flush(&mut output)? == 0 {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::{Decompress, FlushDecompress};
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

    use super::{Encoder, TransportCompression, WireMessage};

    /// Messages of different sizes, including one larger than the internal buffers.
    fn messages() -> Vec<String> {
        vec![
            r#"{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}"#.to_owned(),
            r#"{"op":11,"d":null,"s":null,"t":null}"#.to_owned(),
            format!(
                r#"{{"op":0,"d":{{"content":"{}"}},"s":1,"t":"MESSAGE_CREATE"}}"#,
                "ab".repeat(40_000)
            ),
            r#"{"op":0,"d":{"content":"again"},"s":2,"t":"MESSAGE_CREATE"}"#.to_owned(),
        ]
    }

    fn binary(message: WireMessage) -> Vec<u8> {
        match message {
            WireMessage::Binary(bytes) => bytes,
            WireMessage::Text(text) => panic!("not compressed: {text}"),
        }
    }

    #[test]
    fn without_compression_messages_are_text() {
        let mut encoder = Encoder::new(None).expect("encoder");
        assert_eq!(
            encoder.encode("{}".to_owned()).expect("encodes"),
            WireMessage::Text("{}".to_owned())
        );
    }

    #[test]
    fn zlib_stream_messages_end_with_sync_flush_and_inflate_with_one_context() {
        let mut encoder = Encoder::new(Some(TransportCompression::ZlibStream)).expect("encoder");
        let mut inflate = Decompress::new(true);
        for message in messages() {
            let bytes = binary(encoder.encode(message.clone()).expect("encodes"));
            assert_eq!(bytes[bytes.len() - 4..], [0, 0, 0xff, 0xff]);
            let mut out = Vec::with_capacity(message.len() + 16);
            inflate
                .decompress_vec(&bytes, &mut out, FlushDecompress::Sync)
                .expect("inflates");
            assert_eq!(String::from_utf8(out).expect("utf-8"), message);
        }
    }

    #[test]
    fn zstd_stream_messages_decompress_with_one_context() {
        let mut encoder = Encoder::new(Some(TransportCompression::ZstdStream)).expect("encoder");
        let mut decoder = Decoder::new().expect("decoder");
        for message in messages() {
            let bytes = binary(encoder.encode(message.clone()).expect("encodes"));
            let mut out = vec![0u8; message.len() + 16];
            let mut input = InBuffer::around(&bytes);
            let mut output = OutBuffer::around(&mut out[..]);
            while input.pos() < bytes.len() {
                decoder.run(&mut input, &mut output).expect("decompresses");
            }
            let written = output.pos();
            assert_eq!(
                std::str::from_utf8(&out[..written]).expect("utf-8"),
                message
            );
        }
    }

    #[test]
    fn payload_compression_makes_each_message_a_whole_zlib_stream() {
        let mut encoder = Encoder::new(None).expect("encoder");
        encoder.enable_payload_compression();
        for message in messages() {
            let bytes = binary(encoder.encode(message.clone()).expect("encodes"));
            let mut text = String::new();
            flate2::read::ZlibDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .expect("a complete zlib stream");
            assert_eq!(text, message);
        }
    }

    #[test]
    fn payload_compression_is_ignored_under_transport_compression() {
        let mut encoder = Encoder::new(Some(TransportCompression::ZlibStream)).expect("encoder");
        encoder.enable_payload_compression();
        let bytes = binary(encoder.encode("{}".to_owned()).expect("encodes"));
        assert_eq!(bytes[bytes.len() - 4..], [0, 0, 0xff, 0xff]);
    }
}
