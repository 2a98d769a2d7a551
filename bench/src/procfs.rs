//! Readings from `/proc` (Linux): process CPU time and memory, machine-wide CPU time, CPU
//! affinity. The same sources and formulas as the shared Node driver (`client.mjs`), so the
//! figures of both drivers mean the same thing.

use std::fs;

/// Linux `USER_HZ`: `/proc/PID/stat` and `/proc/stat` count time in these ticks.
pub const CLK_TCK: f64 = 100.0;

/// User plus system CPU seconds used by process `pid` (`"self"` for this process).
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) " the fields start at `state`; utime and stime are fields 14 and 15 of
    // stat(5), i.e. indexes 11 and 12 here. `comm` may contain spaces, hence the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// Resident set size of process `pid` from `/proc/PID/status` (`VmRSS`), in bytes.
pub fn process_rss(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Open file descriptors of process `pid` (entries of `/proc/PID/fd`; needs the right to read
/// it: the same user, or root).
pub fn open_fds(pid: &str) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// This process's resident set size from `/proc/self/statm` (resident pages × page size).
pub fn self_rss_statm() -> Option<u64> {
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The page size, from the auxiliary vector (`AT_PAGESZ`) in `/proc/self/auxv`; 4096 if that
/// cannot be read.
pub fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let Ok(auxv) = fs::read("/proc/self/auxv") else {
        return 4096;
    };
    // Pairs of native-endian machine words: (type, value), ended by type 0.
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |chunk: &[u8]| -> u64 {
        let mut bytes = [0u8; 8];
        bytes[..WORD].copy_from_slice(&chunk[..WORD]);
        u64::from_ne_bytes(bytes)
    };
    auxv.chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .take_while(|&(kind, _)| kind != 0)
        .find(|&(kind, _)| kind == AT_PAGESZ)
        .map_or(4096, |(_, value)| value)
}

/// Machine-wide CPU seconds over all cores since boot, from the first line of `/proc/stat`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineTimes {
    /// Time charged to processes: user + nice + system.
    pub process: f64,
    /// Interrupt time: irq + softirq (loopback TCP work shows up here).
    pub irq: f64,
    /// Time the hypervisor gave to other guests while this machine wanted to run.
    pub steal: f64,
}

/// Reads [`MachineTimes`].
pub fn machine_times() -> Option<MachineTimes> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let first = stat.lines().next()?;
    let f: Vec<f64> = first
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0);
    Some(MachineTimes {
        process: (at(0) + at(1) + at(2)) / CLK_TCK,
        irq: (at(5) + at(6)) / CLK_TCK,
        steal: at(7) / CLK_TCK,
    })
}

/// The CPUs process `pid` may run on (`Cpus_allowed_list` of `/proc/PID/status`), e.g. `"0"`.
pub fn cpus_allowed(pid: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))?;
    Some(line.split_whitespace().nth(1)?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_of_this_process_are_plausible() {
        assert!(process_cpu_seconds("self").is_some());
        assert!(process_rss("self").unwrap_or(0) > 0);
        assert!(self_rss_statm().unwrap_or(0) > 0);
        let page = page_size();
        assert!(page.is_power_of_two() && page >= 4096);
        assert!(machine_times().is_some());
        assert!(cpus_allowed("self").is_some());
        assert!(open_fds("self").unwrap_or(0) >= 3);
    }
}
