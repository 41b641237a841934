//! `cargo bench -p autopmo-authz`: the cost of one decision with the
//! built-in matrix and default policies, beside the same decision made by
//! Cedar on the compiled policies (`decide_with_cedar`, the reference).
//! Goal (DESIGN.md): median ≤ 20 µs.
#![expect(clippy::print_stdout, reason = "a bench reports on stdout")]

#[path = "common/cases.rs"]
mod cases;

use cases::{Cases, ROUNDS, percentile};

const GOAL_US: f64 = 20.0;

fn main() {
    let cases = match Cases::new() {
        Ok(cases) => cases,
        Err(e) => {
            println!("{e}");
            return;
        }
    };
    println!("decide(): {ROUNDS} rounds per case, goal median <= {GOAL_US} us");
    println!(
        "{:<45} {:>10} {:>10} {:>8} {:>12} {:>10}",
        "case", "median us", "p99 us", "goal/med", "cedar med us", "cedar/med"
    );
    let mut worst: f64 = 0.0;
    for case in cases.list() {
        let (times, cedar) = match (cases.time(&case, false), cases.time(&case, true)) {
            (Ok(times), Ok(cedar)) => (times, cedar),
            (Err(e), _) | (_, Err(e)) => {
                println!("{e}");
                return;
            }
        };
        let (median, p99, cedar) = (percentile(&times, 0.5), percentile(&times, 0.99), percentile(&cedar, 0.5));
        worst = worst.max(median);
        println!(
            "{:<45} {median:>10.2} {p99:>10.2} {:>7.1}x {cedar:>12.2} {:>9.1}x",
            case.name,
            GOAL_US / median,
            cedar / median
        );
    }
    println!("worst median {worst:.2} us: {}", if worst <= GOAL_US { "within the goal" } else { "ABOVE the goal" });
}
