//! The sign-in journey's rules, free of HTTP: the transaction a sign-in keeps, one-time
//! passcodes, throttles, TOTP.

pub mod factors;
pub mod flow;
pub mod passcode;
pub mod route;
pub mod throttle;
pub mod totp;
pub mod transaction;

pub use transaction::Transaction;

#[cfg(test)]
mod tests;
