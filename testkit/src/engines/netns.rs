//! The network namespace of one extra Engine: a /30 of 10.213.0.0/16 chosen under a lock file
//! shared by every test process, a veth pair (host side `.1`, namespace side `.2`), and the
//! blackhole route for the whole subnet that keeps test traffic on the machine when a link is
//! down.

use super::command::run;
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The test subnet: every namespace's /30 is inside it, and the host blackholes all of it.
pub const SUBNET: &str = "10.213.0.0/16";

/// Where every extra Engine keeps its files (`<pid>-<n>/`) and the allocation lock.
pub const BASE_DIR: &str = "/tmp/mcit";

/// Prefix of every namespace's name: `mcitest-<pid>-<n>`.
pub const PREFIX: &str = "mcitest-";

/// How many /30s fit in the /16 (index 0 is left unused).
const SLOTS: u32 = 16_384;

/// One namespace with its link to the host; deleted by [`Netns::destroy`].
#[derive(Debug)]
pub struct Netns {
    /// `mcitest-<pid>-<n>`.
    pub name: String,
    /// The host side's address (`.1` of the /30).
    pub host_ip: Ipv4Addr,
    /// The namespace side's address (`.2` of the /30), where its servers listen.
    pub ip: Ipv4Addr,
    /// The veth end in the host's namespace.
    pub host_veth: String,
    /// The veth end inside the namespace (cut for a partition).
    pub ns_veth: String,
}

/// `ip ARGS`, an error with its stderr.
fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// The first and second host addresses of /30 number `slot`.
fn addresses(slot: u32) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + slot * 4;
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

impl Netns {
    /// Adds the blackhole route (idempotent), then, holding `BASE_DIR/.lock` (flock) so that
    /// threads and other test processes never pick the same /30, creates the namespace and its
    /// link. A half-made namespace is removed before the error is returned.
    pub fn create() -> Result<Netns> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        std::fs::create_dir_all(BASE_DIR).with_context(|| format!("creating {BASE_DIR}"))?;
        let lock_path = format!("{BASE_DIR}/.lock");
        let lock = File::create(&lock_path).with_context(|| format!("creating {lock_path}"))?;
        lock.lock().with_context(|| format!("flock {lock_path}"))?;
        // Before any link exists: traffic for a namespace whose link is down must die here, not
        // leave through the default route.
        ip(&["route", "replace", "blackhole", SUBNET])?;
        let slot = free_slot()?;
        let (host_ip, ns_ip) = addresses(slot);
        let netns = Netns {
            name,
            host_ip,
            ip: ns_ip,
            host_veth: format!("mcih{slot}"),
            ns_veth: format!("mcin{slot}"),
        };
        let made = netns.build();
        drop(lock);
        if let Err(e) = made {
            netns.destroy();
            return Err(e);
        }
        Ok(netns)
    }

    /// The namespace, the veth pair and the addresses.
    fn build(&self) -> Result<()> {
        let (n, h, v) = (&self.name, &self.host_veth, &self.ns_veth);
        if Path::new(&self.path()).exists() {
            // Left by an earlier process that had this pid (the name holds it): stale.
            super::cleanup::kill_namespace(n);
            let _ = ip(&["netns", "del", n]);
        }
        ip(&["netns", "add", n])?;
        ip(&[
            "link", "add", h, "type", "veth", "peer", "name", v, "netns", n,
        ])?;
        ip(&["addr", "add", &format!("{}/30", self.host_ip), "dev", h])?;
        ip(&["link", "set", h, "up"])?;
        ip(&["-n", n, "addr", "add", &format!("{}/30", self.ip), "dev", v])?;
        ip(&["-n", n, "link", "set", v, "up"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// `/run/netns/<name>`, for `nsenter --net=`.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// A command that runs `program` inside the namespace (network only: the mount namespace
    /// stays the host's, so a restarted dockerd sees the mounts of the one before it).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Cuts the link on the namespace's side: the host's packets to [`Netns::ip`] are dropped
    /// (connections time out) until [`Netns::heal`].
    pub fn partition(&self) -> Result<()> {
        ip(&["-n", &self.name, "link", "set", &self.ns_veth, "down"]).map(drop)
    }

    /// Brings the namespace's side of the link back up.
    pub fn heal(&self) -> Result<()> {
        ip(&["-n", &self.name, "link", "set", &self.ns_veth, "up"]).map(drop)
    }

    /// Deletes the link (both ends at once, synchronously) and the namespace; errors are
    /// ignored, each part may already be gone.
    pub fn destroy(&self) {
        let _ = ip(&["link", "del", &self.host_veth]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// The first /30 with neither an address nor a link of ours on the host: stale runs' leftovers
/// are skipped, not reused.
fn free_slot() -> Result<u32> {
    let addrs = ip(&["-o", "-4", "addr", "show"])?;
    let links = ip(&["-o", "link", "show"])?;
    let used_ips: HashSet<&str> = addrs
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter_map(|cidr| cidr.split('/').next())
        .collect();
    let used_links: HashSet<&str> = links
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| n.trim_end_matches(':').split('@').next().unwrap_or(n))
        .collect();
    for slot in 1..SLOTS {
        let (host_ip, _) = addresses(slot);
        if !used_ips.contains(host_ip.to_string().as_str())
            && !used_links.contains(format!("mcih{slot}").as_str())
        {
            return Ok(slot);
        }
    }
    bail!("no free /30 left in {SUBNET}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_disjoint_30s_of_the_test_subnet() {
        assert_eq!(
            addresses(1),
            (Ipv4Addr::new(10, 213, 0, 5), Ipv4Addr::new(10, 213, 0, 6))
        );
        assert_eq!(
            addresses(SLOTS - 1),
            (
                Ipv4Addr::new(10, 213, 255, 253),
                Ipv4Addr::new(10, 213, 255, 254)
            )
        );
    }
}
