//! Building blocks of the renderer: one nft statement or rule in both forms at once (libnftables
//! JSON and nft text), and the fixed rules of Warden's table (loopback, connection state, essential
//! ICMP, the service-range guard). Nothing here knows about Warden's table layout; [`super`]
//! assembles the chains.

use serde_json::{json, Value};

use crate::model::{Action, Family, PortRange, Protocol};
use crate::network::IpNetwork;

/// One statement of a rule, in both forms.
#[derive(Clone)]
pub(super) struct Piece {
    pub(super) json: Value,
    pub(super) text: String,
}

pub(super) fn piece(json: Value, text: impl Into<String>) -> Piece {
    Piece {
        json,
        text: text.into(),
    }
}

/// An nft rule before it is attached to a chain.
pub(super) struct NftRule {
    pub(super) pieces: Vec<Piece>,
    pub(super) comment: Option<String>,
    /// `#` lines printed above it in the text form.
    pub(super) notes: Vec<String>,
}

pub(super) fn rule(pieces: Vec<Piece>, comment: Option<&str>) -> NftRule {
    NftRule {
        pieces,
        comment: comment.map(str::to_string),
        notes: Vec::new(),
    }
}

pub(super) fn m(left: Value, op: &str, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

pub(super) fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

pub(super) fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

pub(super) fn ct_state(states: &[&str], verdict: &str) -> NftRule {
    let right = if states.len() == 1 {
        json!(states[0])
    } else {
        json!(states)
    };
    rule(
        vec![
            piece(
                m(json!({"ct": {"key": "state"}}), "in", right),
                format!("ct state {}", states.join(",")),
            ),
            verdict_piece(verdict),
        ],
        None,
    )
}

/// A verdict as a map value: `accept`, `drop`, or `jump <chain>`.
#[derive(Clone, Copy)]
pub(super) enum MapVerdict {
    Accept,
    Jump(&'static str),
}

impl MapVerdict {
    fn json(self) -> Value {
        match self {
            MapVerdict::Accept => json!({"accept": null}),
            MapVerdict::Jump(chain) => json!({"jump": {"target": chain}}),
        }
    }

    fn text(self) -> String {
        match self {
            MapVerdict::Accept => "accept".to_string(),
            MapVerdict::Jump(chain) => format!("jump {chain}"),
        }
    }
}

/// `<key> vmap { k : verdict, ... }`: one lookup instead of one rule per case; a key not in the map
/// goes on to the next rule. `key_text` is how nft prints the key (`ct state`, `meta l4proto`).
pub(super) fn verdict_map(key: Value, key_text: &str, cases: &[(&str, MapVerdict)]) -> NftRule {
    let data: Vec<Value> = cases
        .iter()
        .map(|(k, verdict)| json!([k, verdict.json()]))
        .collect();
    let text: Vec<String> = cases
        .iter()
        .map(|(k, verdict)| format!("{k} : {}", verdict.text()))
        .collect();
    rule(
        vec![piece(
            json!({"vmap": {"key": key, "data": {"set": data}}}),
            format!("{key_text} vmap {{ {} }}", text.join(", ")),
        )],
        None,
    )
}

pub(super) fn verdict_piece(verdict: &str) -> Piece {
    piece(json!({ verdict: null }), verdict)
}

pub(super) fn interface(key: &str, name: &str) -> NftRule {
    rule(
        vec![
            piece(m(meta(key), "==", json!(name)), format!("{key} \"{name}\"")),
            verdict_piece("accept"),
        ],
        None,
    )
}

pub(super) fn l4proto_is(protocol: &str) -> Piece {
    piece(
        m(meta("l4proto"), "==", json!(protocol)),
        format!("meta l4proto {protocol}"),
    )
}

pub(super) fn set_of<T>(items: &[T], one: impl Fn(&T) -> (Value, String)) -> (Value, String) {
    if items.len() == 1 {
        one(&items[0])
    } else {
        let (values, texts): (Vec<Value>, Vec<String>) = items.iter().map(one).unzip();
        (
            json!({"set": values}),
            format!("{{ {} }}", texts.join(", ")),
        )
    }
}

pub(super) fn icmp_types(family: Family, types: &[&str]) -> NftRule {
    let (proto, header) = match family {
        Family::Ipv4 => ("icmp", "icmp"),
        Family::Ipv6 => ("ipv6-icmp", "icmpv6"),
    };
    let (right, text) = set_of(types, |t| (json!(t), (*t).to_string()));
    rule(
        vec![
            l4proto_is(proto),
            piece(
                m(payload(header, "type"), "==", right),
                format!("{header} type {text}"),
            ),
            verdict_piece("accept"),
        ],
        None,
    )
}

pub(super) fn network_value(net: &IpNetwork) -> (Value, String) {
    if net.is_host() {
        (json!(net.addr().to_string()), net.addr().to_string())
    } else {
        (
            json!({"prefix": {"addr": net.addr().to_string(), "len": net.prefix_len()}}),
            net.to_string(),
        )
    }
}

pub(super) fn port_value(range: &PortRange) -> (Value, String) {
    if range.first == range.last {
        (json!(range.first), range.first.to_string())
    } else {
        (
            json!({"range": [range.first, range.last]}),
            format!("{}-{}", range.first, range.last),
        )
    }
}

pub(super) fn family_header(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    }
}

pub(super) fn address_match(family: Family, field: &str, networks: &[IpNetwork]) -> Piece {
    let header = family_header(family);
    let (right, text) = set_of(networks, network_value);
    piece(
        m(payload(header, field), "==", right),
        format!("{header} {field} {text}"),
    )
}

/// `tcp dport X`, `udp dport X` or `th dport X meta l4proto { tcp, udp }`, or just the protocol.
pub(super) fn protocol_and_ports(protocol: Protocol, ports: Option<&[PortRange]>) -> Vec<Piece> {
    let header = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Any => "th",
    };
    let mut pieces = Vec::new();
    match ports {
        None => {
            if protocol != Protocol::Any {
                pieces.push(l4proto_is(header));
            }
        }
        Some(ranges) => {
            let (right, text) = set_of(ranges, port_value);
            pieces.push(piece(
                m(payload(header, "dport"), "==", right),
                format!("{header} dport {text}"),
            ));
            // The port before the protocol: most packets a rule meets are TCP or UDP to another
            // port, which then fail at the first compare without the protocol's set lookup. A
            // packet that is neither (whose `th dport` is not a port) still fails at the second.
            if protocol == Protocol::Any {
                pieces.push(piece(
                    m(meta("l4proto"), "==", json!({"set": ["tcp", "udp"]})),
                    "meta l4proto { tcp, udp }",
                ));
            }
        }
    }
    pieces
}

pub(super) fn action_piece(action: Action, protocol: Protocol) -> Piece {
    match (action, protocol) {
        (Action::Accept, _) => verdict_piece("accept"),
        (Action::Drop, _) => verdict_piece("drop"),
        (Action::Reject, Protocol::Tcp) => piece(
            json!({"reject": {"type": "tcp reset"}}),
            "reject with tcp reset",
        ),
        (Action::Reject, _) => piece(
            json!({"reject": {"type": "icmpx", "expr": "port-unreachable"}}),
            "reject with icmpx port-unreachable",
        ),
    }
}

pub(super) fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// `oif "lo" notrack`: loopback traffic skips connection tracking.
pub(super) fn loopback_notrack() -> NftRule {
    rule(
        vec![
            piece(m(meta("oif"), "==", json!("lo")), "oif \"lo\""),
            piece(json!({"notrack": null}), "notrack"),
        ],
        None,
    )
}

pub(super) fn guard_rule(range: PortRange) -> NftRule {
    let mut pieces = protocol_and_ports(Protocol::Any, Some(&[range]));
    pieces.push(piece(
        json!({"counter": {"packets": 0, "bytes": 0}}),
        "counter",
    ));
    pieces.push(verdict_piece("drop"));
    rule(
        pieces,
        Some("private-cloud guard: service ports closed to outside"),
    )
}

pub(super) const ICMP_V4_TYPES: &[&str] = &[
    "echo-request",
    "destination-unreachable",
    "time-exceeded",
    "parameter-problem",
];

pub(super) const ICMP_V6_TYPES: &[&str] = &[
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "parameter-problem",
    "echo-request",
];

pub(super) const ND_IN_TYPES: &[&str] = &[
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
];

pub(super) const ND_OUT_TYPES: &[&str] = &[
    "nd-router-solicit",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
];
