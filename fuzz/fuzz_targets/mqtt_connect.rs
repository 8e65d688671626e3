//! The mqtt-proxy CONNECT parser on an arbitrary first packet, for MQTT 3.1.1 and 5: it never
//! panics, and a packet's verdict does not change when more bytes follow it.
#![no_main]

use apisix_gateway::plugins::mqtt::{MqttProxy, Parse};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    for (name, level) in [("MQTT", 4), ("MQTT", 5), ("MQIsdp", 3)] {
        let plugin = MqttProxy::compile(&json!({"protocol_name": name, "protocol_level": level}));
        let verdict = plugin.parse(data);
        if let Ok(id) = &verdict {
            let mut longer = data.to_vec();
            longer.extend_from_slice(b"\x00\xff trailing");
            assert_eq!(plugin.parse(&longer).as_ref(), Ok(id));
        }
        if let Err(Parse::Invalid(_)) = verdict {
            let mut longer = data.to_vec();
            longer.push(0);
            assert!(matches!(plugin.parse(&longer), Err(Parse::Invalid(_))));
        }
    }
});
