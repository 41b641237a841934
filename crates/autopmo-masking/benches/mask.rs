//! `cargo bench -p autopmo-masking`: what masking costs one log line. At
//! the default `info` level every request writes one access line, and
//! almost none of them holds personal data, so the line without any is
//! the one that matters.
#![expect(clippy::print_stdout, reason = "a bench reports on stdout")]

use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 31;
const LINES_PER_ROUND: usize = 20_000;

/// Lines as the server writes them (text format, without colours).
const CASES: [(&str, &str); 2] = [
    (
        "access line, no personal data",
        "2026-12-05T13:58:02.412871Z  INFO autopmo_http::middleware: request \
         request_id=01a24645-541b-7553-9191-11a00b5930c3 method=GET \
         path=/api/v1/projects/01a24645-5424-71f5-8e8c-2ad66daa8b10 status=200\n",
    ),
    (
        "line with an email address",
        "2026-12-05T13:58:02.412871Z  WARN autopmo_auth::login: login refused \
         login=jane.doe@example.org reason=invalid_credentials\n",
    ),
];

fn main() {
    println!("mask(): {ROUNDS} rounds of {LINES_PER_ROUND} lines per case");
    println!("{:<32} {:>14}", "case", "median ns/line");
    for (name, line) in CASES {
        let mut per_line: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..LINES_PER_ROUND {
                    black_box(autopmo_masking::mask(black_box(line)));
                }
                start.elapsed().as_nanos() as f64 / LINES_PER_ROUND as f64
            })
            .collect();
        per_line.sort_by(f64::total_cmp);
        let median = per_line.get(ROUNDS / 2).copied().unwrap_or(f64::NAN);
        println!("{name:<32} {median:>14.0}");
    }
}
