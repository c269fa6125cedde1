//! The `host_metrics` source: CPU, memory, load, disks, filesystems and network of the host,
//! read from `/proc` and `/sys`, under node_exporter's metric and label names so its
//! dashboards and alert rules apply unchanged.
//!
//! ```toml
//! [sources.node]
//! type = "host_metrics"
//! interval_secs = 15
//! # collectors = ["cpu", "memory", "load", "disk", "filesystem", "network", "stat"]
//! # proc_path = "/proc"; sys_path = "/sys"; rootfs_path = "/"   (for containers and tests)
//! ```
//!
//! What each collector emits (as node_exporter 1.x does on Linux):
//! - `cpu`: `node_cpu_seconds_total{cpu,mode}` (modes user, nice, system, idle, iowait, irq,
//!   softirq, steal; USER_HZ = 100), `node_cpu_guest_seconds_total{cpu,mode}`;
//! - `stat`: `node_boot_time_seconds`, `node_context_switches_total`, `node_forks_total`,
//!   `node_intr_total`, `node_procs_running`, `node_procs_blocked`;
//! - `memory`: one `node_memory_<Field>_bytes` per `/proc/meminfo` line in kB (`Active(anon)`
//!   becomes `Active_anon`), `node_memory_<Field>` for the unit-less ones (`HugePages_Total`);
//! - `load`: `node_load1`, `node_load5`, `node_load15`;
//! - `disk`: `node_disk_{reads,writes}_completed_total`, `…_merged_total`,
//!   `node_disk_read_bytes_total`, `node_disk_written_bytes_total` (sectors × 512),
//!   `node_disk_{read,write}_time_seconds_total`, `node_disk_io_now`,
//!   `node_disk_io_time_seconds_total`, `node_disk_io_time_weighted_seconds_total`, and the
//!   discard and flush counters when the kernel has them, all `{device}`; partitions, loop and
//!   ram devices are skipped (`disk_exclude`);
//! - `filesystem`: `node_filesystem_{size,free,avail}_bytes`, `node_filesystem_files`,
//!   `node_filesystem_files_free`, `node_filesystem_readonly`, `node_filesystem_device_error`
//!   `{device,fstype,mountpoint}` from `/proc/mounts` (via `proc_path`) and `statfs` of
//!   `rootfs_path` + mount point; pseudo file systems are skipped (`fstype_exclude`,
//!   `mountpoint_exclude`);
//! - `network`: `node_network_{receive,transmit}_<field>_total{device}` for every column of
//!   `/proc/net/dev`, and `node_network_up`, `node_network_mtu_bytes` from
//!   `/sys/class/net/<device>/`.
//!
//! Every series gets `job` (default `node`) and `instance` (default the host name), the labels
//! Prometheus would have added when scraping node_exporter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SourceContext;
use crate::delivery::{Ack, EventBatch};
use crate::metric::{MetricSample, now_ms};

/// One group of host metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collector {
    /// `/proc/stat` per-CPU times.
    Cpu,
    /// `/proc/stat` system-wide counters.
    Stat,
    /// `/proc/meminfo`.
    Memory,
    /// `/proc/loadavg`.
    Load,
    /// `/proc/diskstats`.
    Disk,
    /// `/proc/mounts` and `statfs`.
    Filesystem,
    /// `/proc/net/dev` and `/sys/class/net`.
    Network,
}

const ALL: [Collector; 7] =
    [Collector::Cpu, Collector::Stat, Collector::Memory, Collector::Load, Collector::Disk, Collector::Filesystem, Collector::Network];

/// `type = "host_metrics"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seconds between two collections.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// Which collectors run (default: all of them).
    #[serde(default = "default_collectors")]
    pub collectors: Vec<Collector>,
    /// Where procfs is mounted.
    #[serde(default = "default_proc")]
    pub proc_path: PathBuf,
    /// Where sysfs is mounted.
    #[serde(default = "default_sys")]
    pub sys_path: PathBuf,
    /// Prefix of mount points for `statfs` (the host's `/` seen from a container).
    #[serde(default = "default_root")]
    pub rootfs_path: PathBuf,
    /// The `job` label.
    #[serde(default = "default_job")]
    pub job: String,
    /// The `instance` label; defaults to the host name.
    #[serde(default)]
    pub instance: Option<String>,
    /// Block devices to skip (regex on the device name).
    #[serde(default = "default_disk_exclude")]
    pub disk_exclude: String,
    /// File system types to skip (regex).
    #[serde(default = "default_fstype_exclude")]
    pub fstype_exclude: String,
    /// Mount points to skip (regex).
    #[serde(default = "default_mountpoint_exclude")]
    pub mountpoint_exclude: String,
    /// Network devices to skip (regex; default none).
    #[serde(default)]
    pub network_exclude: Option<String>,
}

fn default_interval() -> f64 {
    15.0
}
fn default_collectors() -> Vec<Collector> {
    ALL.to_vec()
}
fn default_proc() -> PathBuf {
    PathBuf::from("/proc")
}
fn default_sys() -> PathBuf {
    PathBuf::from("/sys")
}
fn default_root() -> PathBuf {
    PathBuf::from("/")
}
fn default_job() -> String {
    "node".into()
}
// node_exporter's defaults.
fn default_disk_exclude() -> String {
    r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$".into()
}
fn default_fstype_exclude() -> String {
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$".into()
}
fn default_mountpoint_exclude() -> String {
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)".into()
}

/// Kernel clock ticks per second for `/proc/stat` (fixed at 100 on Linux for userspace).
const USER_HZ: f64 = 100.0;

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(self.interval_secs >= 0.01 && self.interval_secs.is_finite()) {
            out.push(("interval_secs".into(), "must be a positive number of seconds".into()));
        }
        for (k, re) in [
            ("disk_exclude", Some(&self.disk_exclude)),
            ("fstype_exclude", Some(&self.fstype_exclude)),
            ("mountpoint_exclude", Some(&self.mountpoint_exclude)),
            ("network_exclude", self.network_exclude.as_ref()),
        ] {
            if let Some(re) = re
                && let Err(e) = regex::Regex::new(re)
            {
                out.push((k.into(), format!("invalid regex: {e}")));
            }
        }
        out
    }

    /// Collects every `interval_secs` until shutdown.
    pub async fn run(self, mut cx: SourceContext) {
        let collector = match Host::new(&self, &cx.host) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(source = %cx.name, error = %e, "host_metrics not started");
                return;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs_f64(self.interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut clock = crate::metric::TickClock::default();
        loop {
            let scheduled = tokio::select! {
                _ = cx.shutdown.changed() => break,
                t = tick.tick() => t,
            };
            let c = collector.clone();
            let ts = clock.stamp(scheduled, now_ms());
            let samples = match tokio::task::spawn_blocking(move || c.collect(ts)).await {
                Ok(s) => s,
                Err(_) => continue,
            };
            let n = samples.len() as u64;
            cx.metrics.events_in.inc_by(n);
            let sent = tokio::select! {
                _ = cx.shutdown.changed() => break,
                ok = super::send_to_all(&cx.outputs, EventBatch::of_metrics(samples, Ack::none())) => ok,
            };
            if !sent {
                break;
            }
            cx.metrics.events_out.inc_by(n);
        }
        tracing::debug!(source = %cx.name, "host_metrics source stopped");
    }
}

/// The collectors with their settings; `collect` reads everything once.
#[derive(Clone)]
pub struct Host {
    collectors: Vec<Collector>,
    proc_path: PathBuf,
    sys_path: PathBuf,
    rootfs_path: PathBuf,
    base: BTreeMap<String, String>,
    disk_exclude: regex::Regex,
    fstype_exclude: regex::Regex,
    mountpoint_exclude: regex::Regex,
    network_exclude: Option<regex::Regex>,
}

struct Out<'a> {
    base: &'a BTreeMap<String, String>,
    ts: i64,
    samples: Vec<MetricSample>,
}

impl Out<'_> {
    fn push(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut l = self.base.clone();
        for (k, v) in labels {
            l.insert(k.to_string(), v.to_string());
        }
        self.samples.push(MetricSample { name: name.to_string(), labels: l, timestamp_ms: self.ts, value });
    }
}

impl Host {
    /// Builds the collectors (regexes compiled once).
    pub fn new(cfg: &Config, host: &str) -> Result<Host, regex::Error> {
        let base = BTreeMap::from([
            ("job".to_string(), cfg.job.clone()),
            ("instance".to_string(), cfg.instance.clone().unwrap_or_else(|| host.to_string())),
        ]);
        Ok(Host {
            collectors: cfg.collectors.clone(),
            proc_path: cfg.proc_path.clone(),
            sys_path: cfg.sys_path.clone(),
            rootfs_path: cfg.rootfs_path.clone(),
            base,
            disk_exclude: regex::Regex::new(&cfg.disk_exclude)?,
            fstype_exclude: regex::Regex::new(&cfg.fstype_exclude)?,
            mountpoint_exclude: regex::Regex::new(&cfg.mountpoint_exclude)?,
            network_exclude: cfg.network_exclude.as_deref().map(regex::Regex::new).transpose()?,
        })
    }

    /// Reads every enabled collector once; a file that cannot be read contributes nothing.
    pub fn collect(&self, ts: i64) -> Vec<MetricSample> {
        let mut out = Out { base: &self.base, ts, samples: Vec::new() };
        let read = |p: &str| std::fs::read_to_string(self.proc_path.join(p)).unwrap_or_default();
        for c in &self.collectors {
            match c {
                Collector::Cpu => cpu(&read("stat"), &mut out),
                Collector::Stat => stat(&read("stat"), &mut out),
                Collector::Memory => memory(&read("meminfo"), &mut out),
                Collector::Load => load(&read("loadavg"), &mut out),
                Collector::Disk => disk(&read("diskstats"), &self.disk_exclude, &mut out),
                Collector::Filesystem => self.filesystems(&read("mounts"), &mut out),
                Collector::Network => self.network(&read("net/dev"), &mut out),
            }
        }
        out.samples
    }

    fn filesystems(&self, mounts: &str, out: &mut Out) {
        let mut seen = std::collections::HashSet::new();
        for line in mounts.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let (device, mountpoint, fstype, options) = (f[0], unescape_mount(f[1]), f[2], f[3]);
            if self.fstype_exclude.is_match(fstype) || self.mountpoint_exclude.is_match(&mountpoint) {
                continue;
            }
            if !seen.insert((device.to_string(), mountpoint.clone())) {
                continue;
            }
            let labels = [("device", device), ("fstype", fstype), ("mountpoint", mountpoint.as_str())];
            let readonly = options.split(',').any(|o| o == "ro");
            let path = self.rootfs_path.join(mountpoint.trim_start_matches('/'));
            match statfs(&path) {
                Some(s) => {
                    let bsize = s.f_bsize as f64;
                    out.push("node_filesystem_size_bytes", &labels, s.f_blocks as f64 * bsize);
                    out.push("node_filesystem_free_bytes", &labels, s.f_bfree as f64 * bsize);
                    out.push("node_filesystem_avail_bytes", &labels, s.f_bavail as f64 * bsize);
                    out.push("node_filesystem_files", &labels, s.f_files as f64);
                    out.push("node_filesystem_files_free", &labels, s.f_ffree as f64);
                    out.push("node_filesystem_readonly", &labels, readonly as u8 as f64);
                    out.push("node_filesystem_device_error", &labels, 0.0);
                }
                None => out.push("node_filesystem_device_error", &labels, 1.0),
            }
        }
    }

    fn network(&self, dev: &str, out: &mut Out) {
        const RX: [&str; 8] = ["bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"];
        const TX: [&str; 8] = ["bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"];
        for line in dev.lines().skip(2) {
            let Some((name, rest)) = line.split_once(':') else { continue };
            let name = name.trim();
            if self.network_exclude.as_ref().is_some_and(|re| re.is_match(name)) {
                continue;
            }
            let vals: Vec<f64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            if vals.len() < 16 {
                continue;
            }
            for (i, field) in RX.iter().enumerate() {
                out.push(&format!("node_network_receive_{field}_total"), &[("device", name)], vals[i]);
            }
            for (i, field) in TX.iter().enumerate() {
                out.push(&format!("node_network_transmit_{field}_total"), &[("device", name)], vals[8 + i]);
            }
            let class = self.sys_path.join("class/net").join(name);
            if let Ok(state) = std::fs::read_to_string(class.join("operstate")) {
                out.push("node_network_up", &[("device", name)], (state.trim() == "up") as u8 as f64);
            }
            if let Some(mtu) = std::fs::read_to_string(class.join("mtu")).ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                out.push("node_network_mtu_bytes", &[("device", name)], mtu);
            }
        }
    }
}

fn cpu(stat: &str, out: &mut Out) {
    const MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
    for line in stat.lines() {
        let mut f = line.split_whitespace();
        let Some(label) = f.next() else { continue };
        let Some(cpu) = label.strip_prefix("cpu").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let vals: Vec<f64> = f.filter_map(|v| v.parse().ok()).collect();
        for (i, mode) in MODES.iter().enumerate() {
            if let Some(v) = vals.get(i) {
                out.push("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)], v / USER_HZ);
            }
        }
        if let (Some(g), Some(gn)) = (vals.get(8), vals.get(9)) {
            out.push("node_cpu_guest_seconds_total", &[("cpu", cpu), ("mode", "user")], g / USER_HZ);
            out.push("node_cpu_guest_seconds_total", &[("cpu", cpu), ("mode", "nice")], gn / USER_HZ);
        }
    }
}

fn stat(stat: &str, out: &mut Out) {
    for line in stat.lines() {
        let mut f = line.split_whitespace();
        let (Some(key), Some(v)) = (f.next(), f.next().and_then(|v| v.parse::<f64>().ok())) else { continue };
        let name = match key {
            "btime" => "node_boot_time_seconds",
            "ctxt" => "node_context_switches_total",
            "processes" => "node_forks_total",
            "intr" => "node_intr_total",
            "procs_running" => "node_procs_running",
            "procs_blocked" => "node_procs_blocked",
            _ => continue,
        };
        out.push(name, &[], v);
    }
}

fn memory(meminfo: &str, out: &mut Out) {
    for line in meminfo.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let mut f = rest.split_whitespace();
        let Some(v) = f.next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        let key: String = key.trim().replace('(', "_").replace(')', "");
        if !crate::metric::valid_label_name(&key) {
            continue;
        }
        match f.next() {
            Some("kB") => out.push(&format!("node_memory_{key}_bytes"), &[], v * 1024.0),
            _ => out.push(&format!("node_memory_{key}"), &[], v),
        }
    }
}

fn load(loadavg: &str, out: &mut Out) {
    let vals: Vec<f64> = loadavg.split_whitespace().take(3).filter_map(|v| v.parse().ok()).collect();
    if let [l1, l5, l15] = vals[..] {
        out.push("node_load1", &[], l1);
        out.push("node_load5", &[], l5);
        out.push("node_load15", &[], l15);
    }
}

fn disk(diskstats: &str, exclude: &regex::Regex, out: &mut Out) {
    // (field index after major/minor/name, metric, scale)
    const FIELDS: [(usize, &str, f64); 17] = [
        (0, "node_disk_reads_completed_total", 1.0),
        (1, "node_disk_reads_merged_total", 1.0),
        (2, "node_disk_read_bytes_total", 512.0),
        (3, "node_disk_read_time_seconds_total", 0.001),
        (4, "node_disk_writes_completed_total", 1.0),
        (5, "node_disk_writes_merged_total", 1.0),
        (6, "node_disk_written_bytes_total", 512.0),
        (7, "node_disk_write_time_seconds_total", 0.001),
        (8, "node_disk_io_now", 1.0),
        (9, "node_disk_io_time_seconds_total", 0.001),
        (10, "node_disk_io_time_weighted_seconds_total", 0.001),
        (11, "node_disk_discards_completed_total", 1.0),
        (12, "node_disk_discards_merged_total", 1.0),
        (13, "node_disk_discarded_sectors_total", 1.0),
        (14, "node_disk_discard_time_seconds_total", 0.001),
        (15, "node_disk_flush_requests_total", 1.0),
        (16, "node_disk_flush_requests_time_seconds_total", 0.001),
    ];
    for line in diskstats.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let device = f[2];
        if exclude.is_match(device) {
            continue;
        }
        let vals: Vec<f64> = f[3..].iter().filter_map(|v| v.parse().ok()).collect();
        for (i, name, scale) in FIELDS {
            if let Some(v) = vals.get(i) {
                out.push(name, &[("device", device)], v * scale);
            }
        }
    }
}

/// `/proc/mounts` escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn statfs(path: &Path) -> Option<libc::statfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized out-parameter.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut s) };
    (rc == 0).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_proc_tree_with_node_exporter_names() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path().join("proc");
        std::fs::create_dir_all(proc.join("net")).unwrap();
        std::fs::create_dir_all(dir.path().join("sys/class/net/eth0")).unwrap();
        std::fs::write(proc.join("stat"), "cpu  10 0 0 0 0 0 0 0 0 0\ncpu0 150 2 30 4000 5 0 1 0 0 0\nctxt 99\nbtime 1700000000\n")
            .unwrap();
        std::fs::write(proc.join("meminfo"), "MemTotal:       1000 kB\nActive(anon):     10 kB\nHugePages_Total:       0\n").unwrap();
        std::fs::write(proc.join("loadavg"), "0.50 0.25 0.10 1/100 42\n").unwrap();
        std::fs::write(
            proc.join("diskstats"),
            "   8       0 sda 100 0 2048 10 50 0 4096 20 0 30 40 0 0 0 0 7 8\n   8       1 sda1 1 0 8 0 0 0 0 0 0 0 0\n",
        )
        .unwrap();
        std::fs::write(
            proc.join("net/dev"),
            "Inter-| Receive | Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n  eth0: 1234 10 0 0 0 0 0 0 5678 20 0 0 0 0 0 0\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("sys/class/net/eth0/operstate"), "up\n").unwrap();
        std::fs::write(proc.join("mounts"), "/dev/root / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n").unwrap();
        let cfg: Config = toml::from_str(&format!(
            "proc_path = {:?}\nsys_path = {:?}\nrootfs_path = {:?}\ninstance = 'h1'",
            proc,
            dir.path().join("sys"),
            dir.path()
        ))
        .unwrap();
        assert!(cfg.validate().is_empty());
        let got = Host::new(&cfg, "x").unwrap().collect(5);
        let find = |name: &str, labels: &[(&str, &str)]| {
            got.iter()
                .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
                .map(|s| s.value)
                .unwrap_or_else(|| panic!("{name} {labels:?} missing"))
        };
        assert_eq!(find("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user"), ("instance", "h1"), ("job", "node")]), 1.5);
        assert_eq!(find("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")]), 40.0);
        assert_eq!(find("node_context_switches_total", &[]), 99.0);
        assert_eq!(find("node_memory_MemTotal_bytes", &[]), 1024000.0);
        assert_eq!(find("node_memory_Active_anon_bytes", &[]), 10240.0);
        assert_eq!(find("node_memory_HugePages_Total", &[]), 0.0);
        assert_eq!(find("node_load5", &[]), 0.25);
        assert_eq!(find("node_disk_read_bytes_total", &[("device", "sda")]), 2048.0 * 512.0);
        assert_eq!(find("node_disk_io_time_seconds_total", &[("device", "sda")]), 0.03);
        assert_eq!(find("node_disk_flush_requests_total", &[("device", "sda")]), 7.0);
        assert!(!got.iter().any(|s| s.labels.get("device").map(String::as_str) == Some("sda1")), "partitions are skipped");
        assert_eq!(find("node_network_receive_bytes_total", &[("device", "eth0")]), 1234.0);
        assert_eq!(find("node_network_transmit_packets_total", &[("device", "eth0")]), 20.0);
        assert_eq!(find("node_network_up", &[("device", "eth0")]), 1.0);
        assert!(find("node_filesystem_size_bytes", &[("device", "/dev/root"), ("fstype", "ext4"), ("mountpoint", "/")]) > 0.0);
        assert!(!got.iter().any(|s| s.labels.get("mountpoint").map(String::as_str) == Some("/proc")));
        assert_eq!(unescape_mount("/mnt/a\\040b"), "/mnt/a b");
    }
}
