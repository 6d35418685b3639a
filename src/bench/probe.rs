//! The machine's speed while a bench runs: how long a fixed amount of
//! arithmetic takes on every core at once, measured between rounds. On a
//! shared machine another tenant's load slows every cell; the gate
//! (`--baseline`) compares this figure with the baseline's before it
//! blames the code for a slower cell.

use std::hint::black_box;
use std::time::Instant;

/// Steps of the arithmetic each core does per probe: a few milliseconds.
const STEPS: u64 = 2_000_000;

/// Probes taken together; the quickest of them is the figure, so that a
/// passing hiccup does not count, while a load that lasts (another
/// process busy on a core) slows every one of them.
const TRIES: usize = 3;

/// The machine's speed now: the quickest of [`TRIES`] probes, in seconds.
pub(crate) fn machine_seconds(cores: usize) -> f64 {
    (0..TRIES)
        .map(|_| probe(cores))
        .fold(f64::INFINITY, f64::min)
}

/// Seconds that `cores` threads take to do [`STEPS`] dependent
/// multiply-adds each, started together.
fn probe(cores: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for seed in 0..cores.max(1) as u64 {
            scope.spawn(move || {
                let mut x = black_box(seed);
                for step in 0..STEPS {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(step);
                }
                black_box(x)
            });
        }
    });
    started.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_takes_a_few_milliseconds_not_nothing() {
        let seconds = machine_seconds(2);
        assert!(seconds > 0.0 && seconds < 5.0, "{seconds}");
    }
}
