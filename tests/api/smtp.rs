//! A real SMTP listener for the tests: it speaks enough RFC 5321 over TCP on a loopback port
//! for lettre's client (greeting, EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT), keeps every message it accepts, and parses them with `mailparse`. Nothing in
//! Gatehouse is mocked: the node's outbox worker delivers here as it would to any relay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipients (RCPT TO).
    pub rcpt_to: Vec<String>,
    /// The message as received (after dot-unstuffing).
    pub raw: Vec<u8>,
}

impl Mail {
    /// A header of the message (decoded).
    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = mailparse::parse_mail(&self.raw).expect("a parseable message");
        parsed
            .headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
    }

    /// The decoded body of the first part of `mime` type (`text/plain`, `text/html`).
    pub fn part(&self, mime: &str) -> String {
        let parsed = mailparse::parse_mail(&self.raw).expect("a parseable message");
        fn find(part: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
            if part.subparts.is_empty() {
                return (part.ctype.mimetype == mime).then(|| part.get_body().unwrap());
            }
            part.subparts.iter().find_map(|p| find(p, mime))
        }
        find(&parsed, mime).unwrap_or_else(|| panic!("no {mime} part"))
    }

    /// The plain-text body.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The first URL in the text body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let text = self.text();
        let at = text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link starting {prefix} in:\n{text}"));
        text[at..]
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap()
            .to_owned()
    }

    /// The six-digit code of a passcode mail.
    pub fn code(&self) -> String {
        self.text()
            .split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .expect("a six-digit code")
            .to_owned()
    }
}

/// The listener and what it received.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:{port}` for `GATEHOUSE_MAIL__SMTP_URL`.
    pub url: String,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Listens on `port` (to bring a sink up where a node already expects one).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        Self::serve(listener)
    }

    fn serve(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (store, notify) = (mails.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, notify) = (store.clone(), notify.clone());
                tokio::spawn(async move {
                    let _ = session(stream, store, notify).await;
                });
            }
        });
        Self {
            url: format!("smtp://127.0.0.1:{port}"),
            mails,
            arrived,
            task,
        }
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Messages received for `address`.
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits (up to 15 s) until `address` has received `count` messages; returns the last.
    pub async fn wait_for(&self, address: &str, count: usize) -> Mail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.arrived.notified();
            let mails = self.mails_to(address);
            if mails.len() >= count {
                return mails[count - 1].clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "{address} received {} message(s), expected {count}",
                    mails.len()
                );
            }
        }
    }
}

fn address(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_owned()
}

async fn session(
    stream: TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                write
                    .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
                    .await?
            }
            "HELO" => write.write_all(b"250 sink.test\r\n").await?,
            "MAIL" => {
                rcpt_to.clear();
                write.write_all(b"250 OK\r\n").await?
            }
            "RCPT" => {
                rcpt_to.push(address(&command[4..]));
                write.write_all(b"250 OK\r\n").await?
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut raw = Vec::new();
                let mut data = Vec::new();
                loop {
                    data.clear();
                    if lines.read_until(b'\n', &mut data).await? == 0 {
                        return Ok(());
                    }
                    if data == b".\r\n" {
                        break;
                    }
                    let unstuffed = if data.starts_with(b"..") {
                        &data[1..]
                    } else {
                        &data[..]
                    };
                    raw.extend_from_slice(unstuffed);
                }
                store.lock().unwrap().push(Mail {
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    raw,
                });
                arrived.notify_waiters();
                write.write_all(b"250 OK queued\r\n").await?
            }
            "RSET" => {
                rcpt_to.clear();
                write.write_all(b"250 OK\r\n").await?
            }
            "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 not implemented\r\n").await?,
        }
    }
}
