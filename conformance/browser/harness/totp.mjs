//! Authenticator-app work for the journeys: decoding the enrolment QR code from a screenshot with
//! zbarimg (Debian's zbar-tools), and TOTP codes from the `otpauth` package, fed with the decoded
//! otpauth:// URI or with the key a person would type.
//!
//! Gatehouse accepts a code of the 30-second time steps within ±1 of now, and each step once per
//! authenticator: it keeps the last accepted step and wants a later one. `Codes` remembers the
//! last step used and picks the current step, else the next one, and only waits (bounded) when
//! both are spent.

import { execFileSync } from 'node:child_process';
import * as OTPAuth from 'otpauth';

export const PERIOD = 30;

/** The QR codes zbarimg finds in a PNG (their texts); [] when none. */
export function decodeQr(png) {
  try {
    const out = execFileSync('zbarimg', ['--raw', '--quiet', '-Sdisable', '-Sqrcode.enable', png], { encoding: 'utf8', timeout: 15_000 });
    return out.split('\n').map((s) => s.trim()).filter(Boolean);
  } catch (err) {
    if (err.status === 4) return []; // zbarimg: no symbol found
    throw err;
  }
}

export function fromUri(uri) {
  const totp = OTPAuth.URI.parse(uri);
  if (!(totp instanceof OTPAuth.TOTP)) throw new Error(`not a TOTP URI: ${uri}`);
  return totp;
}

/** The TOTP of a key typed by hand (base32, spaces allowed), with the defaults apps assume. */
export function fromManualKey(key) {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key.replace(/[\s-]/g, '').toUpperCase()), digits: 6, period: PERIOD, algorithm: 'SHA1' });
}

const stepOf = (ms) => Math.floor(ms / 1000 / PERIOD);

export class Codes {
  constructor(totp) {
    this.totp = totp;
    this.last = -Infinity; // the latest step used: Gatehouse keeps the last accepted step per authenticator
  }

  /**
   * A code of a step later than any used so far and within the server's ±1 window: the current
   * step, else the next one; waits (at most one period) when even that is spent.
   */
  async fresh() {
    const deadline = Date.now() + (PERIOD + 5) * 1000;
    for (;;) {
      const now = stepOf(Date.now());
      const s = Math.max(now, this.last + 1);
      if (s <= now + 1) {
        this.last = s;
        return { code: this.totp.generate({ timestamp: s * PERIOD * 1000 + 1000 }), step: s };
      }
      if (Date.now() > deadline) throw new Error('no unused TOTP step within one period');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** A six-digit code that is none of the codes of the steps around now. */
  wrong() {
    const near = new Set([-2, -1, 0, 1, 2].map((d) => this.totp.generate({ timestamp: Date.now() + d * PERIOD * 1000 })));
    for (let n = 0; ; n += 1) {
      const candidate = String((123456 + n * 111111) % 1_000_000).padStart(6, '0');
      if (!near.has(candidate)) return candidate;
    }
  }
}
