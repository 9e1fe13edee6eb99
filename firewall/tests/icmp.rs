//! ICMP through Warden's table with real packets (root only): under a drop policy with no rule, the
//! essential ICMP is still accepted — ping over IPv4 and IPv6 answers (so neighbour discovery works
//! too: IPv6 needs it before the first echo) — while an ICMP type outside the list (an IPv4 timestamp
//! request, which Linux answers without a firewall) falls through to the policy and is dropped. This
//! checks the verdict maps and the ICMP chains `input` jumps to.
#![cfg(feature = "nft")]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{require_root_netns, NsBackend, Pair, SERVER_V4, SERVER_V6};
use warden_firewall::{render_ruleset, ApplyContext, FirewallConfig, Policy, RuleSet};

/// Sends one ICMP(v6) message of `type` to `dst` from a raw socket and waits up to 1 s for the
/// matching answer (echo reply 0 / 129, timestamp reply 14). Exit 0 when answered, 1 when not.
const ICMP_PROBE: &str = r#"
import select, socket, struct, sys, time
dst, kind = sys.argv[1], int(sys.argv[2])
v6 = ":" in dst
def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
body = struct.pack("!HH", 0x5744, 1) + (b"\0" * 12 if kind == 13 else b"warden-icmp-test")
packet = struct.pack("!BBH", kind, 0, 0) + body
if not v6:
    packet = struct.pack("!BBH", kind, 0, checksum(packet)) + body
s.sendto(packet, (dst, 0))
want = {8: 0, 13: 14, 128: 129}[kind]
deadline = time.time() + 1.0
while time.time() < deadline:
    ready, _, _ = select.select([s], [], [], max(0.0, deadline - time.time()))
    if not ready:
        break
    data, addr = s.recvfrom(2048)
    icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
    if icmp and icmp[0] == want and icmp[4:6] == b"\x57\x44":
        sys.exit(0)
sys.exit(1)
"#;

/// Whether `dst` answers an ICMP message of `kind` sent from the client namespace.
fn answers(pair: &Pair, dst: &str, kind: u8) -> bool {
    pair.client
        .command("python3")
        .args(["-c", ICMP_PROBE, dst, &kind.to_string()])
        .status()
        .expect("python3")
        .success()
}

/// `answers` retried until `want` or a deadline (the first IPv6 packet waits for neighbour discovery).
fn answers_within(pair: &Pair, dst: &str, kind: u8, want: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let got = answers(pair, dst, kind);
        if got == want || Instant::now() > deadline {
            return got;
        }
    }
}

#[test]
fn essential_icmp_passes_a_drop_policy_and_other_icmp_meets_it() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    // Without a firewall Linux answers all three.
    assert!(answers_within(&pair, SERVER_V4, 8, true), "ping v4");
    assert!(answers_within(&pair, SERVER_V6, 128, true), "ping v6");
    assert!(
        answers_within(&pair, SERVER_V4, 13, true),
        "timestamp without a firewall"
    );

    let config = FirewallConfig {
        default_inbound_policy: Policy::Drop,
        ..FirewallConfig::default()
    };
    let rendered =
        render_ruleset(&RuleSet::default(), &config, &ApplyContext::default()).expect("render");
    pair.server.backend().apply(&rendered).expect("apply");
    // Neighbour entries learnt above would hide a dropped neighbour discovery: forget them.
    for ns in [&pair.server, &pair.client] {
        ns.exec(&["ip", "neigh", "flush", "dev", "veth0"]);
    }
    assert!(
        answers_within(&pair, SERVER_V4, 8, true),
        "ping v4 under drop"
    );
    assert!(
        answers_within(&pair, SERVER_V6, 128, true),
        "ping v6 (and neighbour discovery) under drop"
    );
    assert!(
        !answers(&pair, SERVER_V4, 13),
        "a timestamp request meets the drop policy"
    );
}
