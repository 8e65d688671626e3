//! `mqtt-proxy`: reads the client's first MQTT packet without consuming it (`peek`), checks
//! it is a CONNECT with the configured protocol name and level, and yields the client id
//! (set as `$mqtt_client_id`, used by `chash` with `key: mqtt_client_id`). Anything else is
//! refused with 503.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;

use async_trait::async_trait;

use super::{ChainContext, PrereadContext, StreamPlugin, SERVICE_UNAVAILABLE};
use crate::proxy_protocol::peek::{peek_until, Peeked};

/// The most bytes peeked for the first packet.
pub const MAX_PEEK: usize = 64 * 1024;
/// How long the first packet may take to arrive.
pub const PEEK_TIMEOUT: Duration = Duration::from_secs(5);

/// A compiled mqtt-proxy conf.
#[derive(Debug)]
pub struct MqttProxy {
    protocol_name: String,
    protocol_level: u64,
}

/// Why a first packet is refused, or that more bytes are needed.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// The packet so far is a valid prefix; peek more.
    Incomplete,
    /// Not an acceptable CONNECT.
    Invalid(&'static str),
}

impl MqttProxy {
    /// Compiles a validated conf.
    pub fn compile(conf: &Value) -> MqttProxy {
        MqttProxy {
            protocol_name: conf
                .get("protocol_name")
                .and_then(Value::as_str)
                .unwrap_or("MQTT")
                .to_owned(),
            protocol_level: conf
                .get("protocol_level")
                .and_then(Value::as_u64)
                .unwrap_or(4),
        }
    }

    /// Peeks until the first packet is complete; the client id, or `Err(503)`. The peek waits
    /// for the socket to become readable between looks ([`peek_until`]), so a packet arriving
    /// in pieces is decided as soon as its last piece lands.
    pub async fn preread(&self, client: &TcpStream) -> Result<String, u16> {
        let decided = peek_until(client, MAX_PEEK, PEEK_TIMEOUT, |data| {
            match self.parse(data) {
                Ok(id) => Peeked::Done(Ok(id)),
                Err(Parse::Invalid(why)) => Peeked::Done(Err(why)),
                Err(Parse::Incomplete) => Peeked::NeedMore,
            }
        })
        .await;
        let why = match decided {
            Ok(Ok(id)) => return Ok(id),
            Ok(Err(why)) => why,
            Err(e) => match e.kind() {
                std::io::ErrorKind::TimedOut => {
                    tracing::info!("mqtt-proxy: no complete first packet in time");
                    return Err(SERVICE_UNAVAILABLE);
                }
                std::io::ErrorKind::UnexpectedEof => "client closed",
                std::io::ErrorKind::InvalidData => "packet too large",
                _ => "read failed",
            },
        };
        tracing::info!(reason = why, "mqtt-proxy refused the first packet");
        Err(SERVICE_UNAVAILABLE)
    }

    /// Parses a CONNECT packet prefix; the client id when complete.
    pub fn parse(&self, data: &[u8]) -> Result<String, Parse> {
        let first = *data.first().ok_or(Parse::Incomplete)?;
        if !(16..32).contains(&first) {
            return Err(Parse::Invalid("not a CONNECT packet"));
        }
        let mut remaining: usize = 0;
        let mut pos = 1;
        for i in 0..4 {
            let b = *data.get(pos).ok_or(Parse::Incomplete)?;
            pos += 1;
            remaining |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
            if i == 3 {
                return Err(Parse::Invalid("bad remaining length"));
            }
        }
        if pos + remaining > MAX_PEEK {
            return Err(Parse::Invalid("packet too large"));
        }
        let body = data.get(pos..pos + remaining).ok_or(Parse::Incomplete)?;
        let mut r = Reader { data: body, pos: 0 };
        let name = r
            .string()
            .ok_or(Parse::Invalid("truncated protocol name"))?;
        if name != self.protocol_name.as_bytes() {
            return Err(Parse::Invalid("protocol name mismatch"));
        }
        let level = r.byte().ok_or(Parse::Invalid("truncated protocol level"))?;
        if u64::from(level) != self.protocol_level {
            return Err(Parse::Invalid("protocol level mismatch"));
        }
        r.byte().ok_or(Parse::Invalid("truncated flags"))?;
        r.take(2).ok_or(Parse::Invalid("truncated keepalive"))?;
        if level >= 5 {
            let len = r.varint().ok_or(Parse::Invalid("bad properties length"))?;
            r.take(len).ok_or(Parse::Invalid("truncated properties"))?;
        }
        let id = r.string().ok_or(Parse::Invalid("truncated client id"))?;
        Ok(String::from_utf8_lossy(id).into_owned())
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        self.take(len)
    }
    fn varint(&mut self) -> Option<usize> {
        let mut value = 0usize;
        for i in 0..4 {
            let b = self.byte()?;
            value |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

/// A v3.1.1 (level 4) CONNECT packet with `client_id`, for tests and tools.
pub fn connect_packet(protocol: &str, level: u8, client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(protocol.len() as u16).to_be_bytes());
    body.extend_from_slice(protocol.as_bytes());
    body.push(level);
    body.push(0x02);
    body.extend_from_slice(&60u16.to_be_bytes());
    if level >= 5 {
        body.push(0);
    }
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut out = vec![0x10];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(&body);
    out
}

/// Builds the plugin for the [registry](super::registry).
pub fn build(conf: &Value, _cx: &ChainContext<'_>) -> Option<Arc<dyn StreamPlugin>> {
    Some(Arc::new(MqttProxy::compile(conf)))
}

#[async_trait]
impl StreamPlugin for MqttProxy {
    /// Sets `$mqtt_client_id` from the CONNECT packet (TCP only; UDP sessions pass).
    async fn preread(&self, cx: &mut PrereadContext<'_>) -> Result<(), u16> {
        if let Some(client) = cx.client {
            let id = MqttProxy::preread(self, client).await?;
            cx.session.vars.push(("mqtt_client_id".to_owned(), id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plugin() -> MqttProxy {
        MqttProxy::compile(&json!({"protocol_name": "MQTT", "protocol_level": 4}))
    }

    #[test]
    fn parses_client_id_of_v4_connect() {
        let p = plugin();
        assert_eq!(
            p.parse(&connect_packet("MQTT", 4, "dev-1")),
            Ok("dev-1".into())
        );
    }

    #[test]
    fn incomplete_prefix_asks_for_more() {
        let pkt = connect_packet("MQTT", 4, "dev-1");
        assert_eq!(plugin().parse(&pkt[..5]), Err(Parse::Incomplete));
    }

    #[test]
    fn refuses_other_packets_names_and_levels() {
        let p = plugin();
        assert!(matches!(
            p.parse(b"GET / HTTP/1.1\r\n"),
            Err(Parse::Invalid(_))
        ));
        assert!(matches!(
            p.parse(&connect_packet("MQIsdp", 4, "x")),
            Err(Parse::Invalid(_))
        ));
        assert!(matches!(
            p.parse(&connect_packet("MQTT", 5, "x")),
            Err(Parse::Invalid(_))
        ));
        let v5 = MqttProxy::compile(&json!({"protocol_name": "MQTT", "protocol_level": 5}));
        assert_eq!(v5.parse(&connect_packet("MQTT", 5, "x")), Ok("x".into()));
    }
}
