//! A key's `allowed_ips`: the client addresses it answers from.
//!
//! Guarantees: a list holds 1 to [`MAX_BLOCKS`] blocks, each canonical (no
//! bits set after its prefix; a plain address is a block of one), without
//! duplicates; an IPv4-mapped IPv6 address or block (`::ffff:10.0.0.1`) is
//! the IPv4 one, so both spellings of a client are judged alike; an address
//! that is absent or is no address is in no list (deny by default).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

pub const MAX_BLOCKS: usize = 32;

/// The blocks a key answers from, parsed once (from the admin body or the stored record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Allowlist(Vec<IpNet>);

impl TryFrom<Vec<String>> for Allowlist {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Allowlist, String> {
        if entries.is_empty() {
            return Err("Must hold at least one address or block; null allows any address.".into());
        }
        if entries.len() > MAX_BLOCKS {
            return Err(format!("At most {MAX_BLOCKS} addresses or blocks."));
        }
        let mut blocks: Vec<IpNet> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let block = parse_block(entry).map_err(|problem| format!("The entry at index {index} {problem}."))?;
            if !blocks.contains(&block) {
                blocks.push(block);
            }
        }
        Ok(Allowlist(blocks))
    }
}

impl From<Allowlist> for Vec<String> {
    fn from(list: Allowlist) -> Vec<String> {
        list.to_strings()
    }
}

/// One entry: an address, or a CIDR block with nothing set after its prefix.
/// The address is read by std's parser (which the worker has anyway), the
/// prefix length as 1 to 3 digits; ipnet checks it against the address.
fn parse_block(entry: &str) -> Result<IpNet, &'static str> {
    let not_a_block = "is not an IPv4 or IPv6 address or CIDR block (address/prefix length)";
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (entry, None),
    };
    let address = address.parse::<IpAddr>().map_err(|_| not_a_block)?;
    let block = match prefix {
        None => IpNet::from(address),
        Some(digits) if (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) => {
            let length = digits.parse::<u8>().map_err(|_| not_a_block)?;
            IpNet::new(address, length).map_err(|_| not_a_block)?
        }
        Some(_) => return Err(not_a_block),
    };
    if block.trunc() != block {
        return Err(
            "has bits set after its prefix length: write the block's first address (10.0.0.0/8, not 10.0.0.1/8)",
        );
    }
    Ok(as_ipv4(block))
}

/// A block inside `::ffff:0:0/96` as the IPv4 block it is; any other as it is.
fn as_ipv4(block: IpNet) -> IpNet {
    match block {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(block, IpNet::V4),
            None => block,
        },
        _ => block,
    }
}

/// An IPv4 block as the IPv4-mapped IPv6 block it also is.
fn mapped(block: &Ipv4Net) -> Ipv6Net {
    Ipv6Net::new(block.network().to_ipv6_mapped(), block.prefix_len() + 96).expect("at most 32 + 96 = 128")
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; any other as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl Allowlist {
    /// Whether `ip` (as the client presented it: `None` or text that is no
    /// address is refused) is in one of the blocks.
    pub fn allows(&self, ip: Option<&str>) -> bool {
        ip.and_then(|text| text.parse::<IpAddr>().ok()).is_some_and(|ip| self.allows_addr(ip))
    }

    /// Whether `ip` is in one of the blocks (an IPv4 client is also its IPv4-mapped IPv6 address).
    pub fn allows_addr(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|block| match (block, ip) {
            (IpNet::V4(block), IpAddr::V4(ip)) => block.contains(&ip),
            (IpNet::V6(block), IpAddr::V6(ip)) => block.contains(&ip),
            (IpNet::V6(block), IpAddr::V4(ip)) => block.contains(&ip.to_ipv6_mapped()),
            (IpNet::V4(_), IpAddr::V6(_)) => false,
        })
    }

    /// Whether every block of this list lies inside some block of `bound`.
    pub fn within(&self, bound: &Allowlist) -> bool {
        self.0.iter().all(|block| {
            bound.0.iter().any(|outer| match (outer, block) {
                (IpNet::V4(outer), IpNet::V4(block)) => outer.contains(block),
                (IpNet::V6(outer), IpNet::V6(block)) => outer.contains(block),
                (IpNet::V6(outer), IpNet::V4(block)) => outer.contains(&mapped(block)),
                // A v6 block left as v6 holds addresses outside `::ffff:0:0/96`.
                (IpNet::V4(_), IpNet::V6(_)) => false,
            })
        })
    }

    /// The blocks as the admin API shows them: an address alone for a block of one.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|block| {
                if block.prefix_len() == block.max_prefix_len() {
                    block.addr().to_string()
                } else {
                    format!("{}/{}", block.addr(), block.prefix_len())
                }
            })
            .collect()
    }
}

/// The address in a `CF-Connecting-IP` value, or `None` when it is no address.
pub fn client_address(header: &str) -> Option<IpAddr> {
    header.trim().parse::<IpAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::try_from(entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn refusal(entries: &[&str]) -> String {
        Allowlist::try_from(entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap_err()
    }

    #[test]
    fn ipv4_blocks_match_their_addresses_edges_included() {
        let office = list(&["203.0.113.0/24", "198.51.100.7"]);
        for inside in ["203.0.113.0", "203.0.113.1", "203.0.113.255", "198.51.100.7"] {
            assert!(office.allows(Some(inside)), "{inside}");
        }
        for outside in ["203.0.112.255", "203.0.114.0", "198.51.100.6", "198.51.100.8", "10.0.0.1"] {
            assert!(!office.allows(Some(outside)), "{outside}");
        }
        let anywhere = list(&["0.0.0.0/0"]);
        assert!(anywhere.allows(Some("255.255.255.255")) && anywhere.allows(Some("0.0.0.0")));
        assert!(!anywhere.allows(Some("2001:db8::1")), "an IPv4 block holds no IPv6 address");
    }

    #[test]
    fn ipv6_blocks_match_their_addresses_edges_included() {
        let block = list(&["2001:db8:abcd::/48"]);
        assert!(block.allows(Some("2001:db8:abcd::")));
        assert!(block.allows(Some("2001:db8:abcd:ffff:ffff:ffff:ffff:ffff")));
        assert!(block.allows(Some("2001:DB8:ABCD:0:0:0:0:1")), "any spelling of the address");
        assert!(!block.allows(Some("2001:db8:abce::")));
        assert!(!block.allows(Some("2001:db8:abcc:ffff:ffff:ffff:ffff:ffff")));
        assert!(!block.allows(Some("203.0.113.1")));
        let one = list(&["2001:db8::1"]);
        assert!(one.allows(Some("2001:db8::1")) && !one.allows(Some("2001:db8::2")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address_both_ways() {
        let v4 = list(&["10.0.0.0/8"]);
        assert!(v4.allows(Some("::ffff:10.0.0.1")));
        assert!(v4.allows(Some("::ffff:a00:1")), "the hex spelling too");
        assert!(!v4.allows(Some("::ffff:11.0.0.1")));
        assert!(!v4.allows(Some("::10.0.0.1")), "IPv4-compatible (deprecated) is another address");
        let mapped = list(&["::ffff:10.0.0.0/104"]);
        assert_eq!(mapped.to_strings(), ["10.0.0.0/8"], "stored and shown as the IPv4 block");
        assert!(mapped.allows(Some("10.255.255.255")) && mapped.allows(Some("::ffff:10.0.0.1")));
        assert!(!mapped.allows(Some("11.0.0.0")));
        assert_eq!(list(&["::ffff:192.0.2.1"]).to_strings(), ["192.0.2.1"]);
        // A wider IPv6 block holds the IPv4 clients of the mapped range it covers.
        assert!(list(&["::/0"]).allows(Some("192.0.2.1")));
        assert!(list(&["::ffff:0:0/96"]).allows(Some("192.0.2.1")));
        assert!(!list(&["2001:db8::/32"]).allows(Some("192.0.2.1")));
    }

    #[test]
    fn no_address_or_garbage_is_in_no_list() {
        let anywhere = list(&["0.0.0.0/0", "::/0"]);
        for garbage in ["", " ", "not an address", "10.0.0.1, 6.6.6.6", "10.0.0.256", "fe80::1%eth0", "10.0.0.0/8"] {
            assert!(!anywhere.allows(Some(garbage)), "{garbage:?}");
        }
        assert!(!anywhere.allows(None));
        assert_eq!(client_address(" 203.0.113.9 "), "203.0.113.9".parse().ok());
        assert_eq!(client_address("203.0.113.9, 6.6.6.6"), None, "two values joined");
        assert_eq!(client_address(""), None);
    }

    #[test]
    fn entries_are_refused_unless_canonical_and_well_formed() {
        assert!(refusal(&[]).contains("null allows any"));
        assert!(refusal(&["10.0.0.1/8"]).contains("index 0 has bits set after its prefix"));
        assert!(refusal(&["10.0.0.0/8", "2001:db8::1/32"]).contains("index 1 has bits set"));
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "/8",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "10.0.0.0/8/8",
            "10.0.0.0/ 8",
            "example.com",
            "fe80::1%eth0",
            " 10.0.0.1",
        ] {
            assert!(refusal(&["10.0.0.0/8", bad]).starts_with("The entry at index 1 is not"), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_BLOCKS).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(Allowlist::try_from(many[..MAX_BLOCKS].to_vec()).is_ok());
        assert_eq!(Allowlist::try_from(many).unwrap_err(), "At most 32 addresses or blocks.");
        for message in [refusal(&["172.16.5.4/12"]), refusal(&["6.6.6.6/1"]), refusal(&["6.6.6.6.6"])] {
            assert!(!message.contains("172.16") && !message.contains("6.6.6"), "never echoes the value");
        }
    }

    #[test]
    fn entries_are_written_canonically_without_duplicates() {
        let written = list(&["2001:DB8:0:0::/32", "10.0.0.1/32", "10.0.0.1", "2001:db8::/32", "0.0.0.0/0"]);
        assert_eq!(written.to_strings(), ["2001:db8::/32", "10.0.0.1", "0.0.0.0/0"]);
        let stored = serde_json::to_string(&written).unwrap();
        assert_eq!(stored, r#"["2001:db8::/32","10.0.0.1","0.0.0.0/0"]"#);
        assert_eq!(serde_json::from_str::<Allowlist>(&stored).unwrap(), written);
    }

    #[test]
    fn a_list_is_within_another_when_each_block_is_inside_one_of_its_blocks() {
        let own = list(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(list(&["10.1.0.0/16", "10.2.3.4", "2001:db8:1::/48"]).within(&own));
        assert!(list(&["10.0.0.0/8"]).within(&own), "equal is within");
        assert!(list(&["::ffff:10.1.0.0/112"]).within(&own), "the mapped spelling of an inside block");
        assert!(!list(&["10.0.0.0/7"]).within(&own), "wider");
        assert!(!list(&["10.1.0.0/16", "11.0.0.1"]).within(&own), "one block outside");
        assert!(!list(&["2001:db9::1"]).within(&own));
        assert!(!list(&["0.0.0.0/0"]).within(&own));
        // A v6 block over the mapped range holds IPv4 blocks, and no IPv4 block holds a v6 one.
        assert!(list(&["192.0.2.0/24"]).within(&list(&["::ffff:0:0/96"])));
        assert!(list(&["192.0.2.0/24"]).within(&list(&["::/0"])));
        assert!(!list(&["::fffe:0:0/95"]).within(&list(&["0.0.0.0/0"])));
    }
}
