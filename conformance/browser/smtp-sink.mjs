//! The browser suite's mail server: a real SMTP server on 127.0.0.1 that accepts every message
//! Gatehouse sends (invitations, one-time codes, security notices) and keeps it for the journeys.
//!
//! A copy of conformance/invite/node/smtp-sink.mjs (kept beside this suite's own pinned
//! smtp-server and mailparser, so each suite installs alone), without the benchmark mode. It
//! listens for SMTP on one loopback port and answers a small JSON API on another:
//!
//!   GET /messages?to=ADDR&after=SEQ&wait=MS
//!                                    {messages: [...]}: parsed messages (seq, envelope, subject,
//!                                    from, to, cc, text, html, headers) whose envelope or To/Cc
//!                                    names ADDR, with seq > SEQ; waits up to MS milliseconds for
//!                                    at least one to arrive
//!   GET /stats                       {accepted, rejected, bytes, recipients, connections}
//!   GET /healthz                     200
//!
//! Usage: node smtp-sink.mjs [--smtp-port N] [--http-port N]
//! Prints one line {"ready":true,"smtp_port":N,"http_port":M} on stdout when both listen.
//! Exits on SIGTERM / SIGINT.

import { createServer } from 'node:http';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const SMTP_PORT = Number(option('--smtp-port', 0));
const HTTP_PORT = Number(option('--http-port', 0));
const MAX_SIZE = 1024 * 1024;

const stats = { accepted: 0, rejected: 0, bytes: 0, recipients: 0, connections: 0, first_at_ms: null, last_at_ms: null };
const messages = [];
const waiters = new Set();

function addresses(list) {
  return (list?.value ?? []).map((a) => ({ address: a.address?.toLowerCase(), name: a.name || null }));
}

function matches(message, to) {
  if (!to) return true;
  const want = to.toLowerCase();
  return message.envelope.rcptTo.includes(want) || message.to.some((a) => a.address === want) || message.cc.some((a) => a.address === want);
}

const smtp = new SMTPServer({
  name: 'gatehouse-smtp-sink',
  banner: 'Gatehouse conformance SMTP sink',
  secure: false,
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  size: MAX_SIZE,
  logger: false,
  // Keep every connection the client opens (lettre pools a few).
  maxClients: 200,
  onConnect(session, callback) {
    stats.connections += 1;
    callback();
  },
  onData(stream, session, callback) {
    const chunks = [];
    let size = 0;
    stream.on('data', (chunk) => {
      size += chunk.length;
      chunks.push(chunk);
    });
    stream.on('end', async () => {
      if (stream.sizeExceeded) {
        stats.rejected += 1;
        const err = new Error('message too large');
        err.responseCode = 552;
        callback(err);
        return;
      }
      const now = Date.now();
      stats.accepted += 1;
      stats.bytes += size;
      stats.recipients += session.envelope.rcptTo.length;
      stats.first_at_ms ??= now;
      stats.last_at_ms = now;
      try {
        const parsed = await simpleParser(Buffer.concat(chunks));
        const message = {
          seq: messages.length + 1,
          received_at_ms: now,
          envelope: {
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : null,
            rcptTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          },
          subject: parsed.subject ?? null,
          from: addresses(parsed.from),
          to: addresses(parsed.to),
          cc: addresses(parsed.cc),
          replyTo: addresses(parsed.replyTo),
          text: parsed.text ?? null,
          html: typeof parsed.html === 'string' ? parsed.html : null,
          headers: Object.fromEntries([...parsed.headers.keys()].map((k) => [k, String(parsed.headers.get(k)?.text ?? parsed.headers.get(k))])),
        };
        messages.push(message);
        for (const wake of waiters) wake();
        callback();
      } catch (err) {
        stats.rejected += 1;
        err.responseCode = 451;
        callback(err);
      }
    });
  },
});
smtp.on('error', (err) => console.error(`smtp-sink: ${err.message}`));

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const http = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
  if (url.pathname === '/healthz') return json(res, 200, { ok: true });
  if (url.pathname === '/stats') return json(res, 200, stats);
  if (url.pathname === '/messages') {
    const to = url.searchParams.get('to');
    const after = Number(url.searchParams.get('after') ?? 0);
    const wait = Math.min(Number(url.searchParams.get('wait') ?? 0), 60_000);
    const pick = () => messages.filter((m) => m.seq > after && matches(m, to));
    let found = pick();
    if (found.length === 0 && wait > 0) {
      found = await new Promise((resolve) => {
        const wake = () => {
          const now = pick();
          if (now.length > 0) done(now);
        };
        const timer = setTimeout(() => done([]), wait);
        function done(value) {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(value);
        }
        waiters.add(wake);
      });
    }
    return json(res, 200, { messages: found });
  }
  return json(res, 404, { error: 'not found' });
});

await new Promise((resolve, reject) => {
  smtp.server.once('error', reject);
  smtp.listen(SMTP_PORT, '127.0.0.1', resolve);
});
await new Promise((resolve, reject) => {
  http.once('error', reject);
  http.listen(HTTP_PORT, '127.0.0.1', resolve);
});
console.log(JSON.stringify({ ready: true, smtp_port: smtp.server.address().port, http_port: http.address().port}));

function stop() {
  http.close();
  smtp.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
