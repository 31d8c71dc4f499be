//! `wrk`, when it is installed, as the yardstick of the generator's own client: the same request against the
//! same server, driven by a client written for nothing else. `apt-get install wrk` (Debian) puts it on the
//! PATH; without it the figures are the generator's alone.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

/// What one `wrk` run measured.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub rps: f64,
    pub p99_ms: f64,
}

/// Runs `wrk` with `connections` connections on `threads` threads for `duration`, POSTing to `url` (no
/// body, as the gateway's `/user/_details`); `None` when `wrk` is not installed or its output unreadable.
pub fn post(url: &str, connections: usize, threads: usize, duration: Duration) -> Option<WrkRun> {
    let mut script = tempfile::NamedTempFile::new().ok()?;
    script.write_all(b"wrk.method = \"POST\"\n").ok()?;
    let output = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", connections.max(threads)))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(script.path())
        .arg(url)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// `a` and `b` driven by turns — three rounds of `duration / 3` each — so that both see the machine as it
/// was in the same seconds: the mean rate of each, and the highest of its 99th percentiles.
pub fn in_turns(
    a: &str,
    b: &str,
    connections: usize,
    threads: usize,
    duration: Duration,
) -> Option<(WrkRun, WrkRun)> {
    let turn = Duration::from_secs((duration.as_secs() / 3).max(1));
    let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        runs_a.push(post(a, connections, threads, turn)?);
        runs_b.push(post(b, connections, threads, turn)?);
    }
    let combine = |runs: &[WrkRun]| WrkRun {
        rps: runs.iter().map(|r| r.rps).sum::<f64>() / runs.len() as f64,
        p99_ms: runs.iter().map(|r| r.p99_ms).fold(0.0, f64::max),
    };
    Some((combine(&runs_a), combine(&runs_b)))
}

/// The rate and the 99th percentile of `wrk --latency`'s report; `None` if it shows any non-2xx answer
/// or socket error (a figure of failures is no ceiling).
fn parse(report: &str) -> Option<WrkRun> {
    if report.contains("Non-2xx") || report.contains("Socket errors") {
        return None;
    }
    let rps = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)?;
    Some(WrkRun {
        rps,
        p99_ms: millis(p99)?,
    })
}

/// `wrk`'s durations: `850.00us`, `1.23ms`, `1.02s`, `2.00m`.
fn millis(text: &str) -> Option<f64> {
    let at = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = text.split_at(at);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 10s test @ http://127.0.0.1:1/x
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.50us  100.00us   5.00ms   90.00%
    Req/Sec    75.00k     2.00k   80.00k    70.00%
  Latency Distribution
     50%  190.00us
     75%  230.00us
     90%  300.00us
     99%    1.25ms
  1500000 requests in 10.00s, 1.20GB read
Requests/sec: 150000.50
Transfer/sec:    120.00MB
";

    #[test]
    fn reads_the_rate_and_the_99th_percentile() {
        let run = parse(REPORT).unwrap();
        assert_eq!(run.rps, 150000.5);
        assert_eq!(run.p99_ms, 1.25);
        assert_eq!(millis("850.00us"), Some(0.85));
        assert_eq!(millis("1.02s"), Some(1020.0));
    }

    #[test]
    fn a_run_with_failures_is_no_ceiling() {
        let failed = REPORT.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 7\nRequests/sec",
        );
        assert!(parse(&failed).is_none());
    }
}
