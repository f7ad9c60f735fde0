//! The argon2id ceiling of `conformance/bench/password.sh`: how many password checks one core
//! can do with Gatehouse's exact parameters, measured in the same run as the sign-in flows.
//!
//! Gatehouse (`src/passwords.rs`) hashes with `Argon2::default()` (argon2id, version 0x13,
//! m = 19456 KiB, t = 2, p = 1) and checks a sign-in with `PasswordHash::new` +
//! `verify_password`, which recomputes one argon2id hash from the stored salt and parameters.
//! This program does exactly that in a loop, one thread, for the given seconds, and prints one
//! JSON line: `{"hashes":N,"seconds":S,"hashes_per_s":R,"cpu_s":C,"phc_prefix":"$argon2id$v=19$m=19456,t=2,p=1"}`
//! (`cpu_s`: the thread's time on a CPU over the loop, from `/proc/thread-self/schedstat`;
//! null where that file does not exist). The runner starts one process per core and sums them.
//!
//! Usage: `argon2-ceiling SECONDS`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), if the kernel says.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> ExitCode {
    let seconds: f64 = match std::env::args().nth(1).map(|s| s.parse()) {
        Some(Ok(s)) if s > 0.0 => s,
        _ => {
            eprintln!("usage: argon2-ceiling SECONDS");
            return ExitCode::from(2);
        }
    };
    let password = b"correct horse battery staple";
    // A stored hash as Gatehouse writes it: default parameters, random salt.
    let stored = match Argon2::default().hash_password(password) {
        Ok(h) => h.to_string(),
        Err(e) => {
            eprintln!("argon2 failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let prefix: String = stored.splitn(5, '$').take(4).collect::<Vec<_>>().join("$");
    let Ok(parsed) = PasswordHash::new(&stored) else {
        eprintln!("argon2 wrote a PHC string it cannot parse");
        return ExitCode::FAILURE;
    };
    let window = Duration::from_secs_f64(seconds);
    let cpu0 = cpu_ns();
    let start = Instant::now();
    let mut hashes: u64 = 0;
    while start.elapsed() < window {
        // One sign-in's work: parse parameters and salt from the stored string, recompute.
        if Argon2::default()
            .verify_password(password, &parsed)
            .is_err()
        {
            eprintln!("argon2 verification failed");
            return ExitCode::FAILURE;
        }
        hashes += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.3}", b.saturating_sub(a) as f64 / 1e9),
        _ => "null".to_owned(),
    };
    println!(
        "{{\"hashes\":{hashes},\"seconds\":{elapsed:.3},\"hashes_per_s\":{:.2},\"cpu_s\":{cpu},\"phc_prefix\":\"{prefix}\"}}",
        hashes as f64 / elapsed
    );
    ExitCode::SUCCESS
}
