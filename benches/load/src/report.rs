//! What a run prints: a row per scenario for the reader, a JSON object per scenario for tools, and the
//! generator's own ceiling first.

use serde_json::{Value, json};

use crate::drive::Outcome;

/// A report line: the human row and the JSON object.
pub fn report(
    scenario: &str,
    o: &Outcome,
    concurrency: usize,
    baseline: (&str, f64),
    extra: Value,
) -> Value {
    let ratio = if baseline.1 > 0.0 {
        o.rps() / baseline.1
    } else {
        0.0
    };
    println!(
        "{scenario:<16} {:>9.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {:>5}  \
         {:<16} {:>9.0}/s  ratio {:.2}",
        o.rps(),
        o.ms(0.5),
        o.ms(0.9),
        o.ms(0.99),
        o.micros.max() as f64 / 1000.0,
        o.errors,
        baseline.0,
        baseline.1,
        ratio
    );
    if let Some(e) = &o.first_error {
        println!("{:<16} first error: {e}", "");
    }
    let mut line = json!({
        "scenario": scenario, "rps": round(o.rps()), "p50_ms": round(o.ms(0.5)), "p90_ms": round(o.ms(0.9)),
        "p99_ms": round(o.ms(0.99)), "max_ms": round(o.micros.max() as f64 / 1000.0), "errors": o.errors,
        "concurrency": concurrency, "baseline": baseline.0, "baseline_rps": round(baseline.1),
        "ratio": round(ratio),
    });
    if let (Value::Object(line), Value::Object(extra)) = (&mut line, extra) {
        line.extend(extra);
    }
    line
}

pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
