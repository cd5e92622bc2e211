// What the interop scripts share: the scheme (ws or wss, chosen by the environment), the TLS material
// of the wss pass, and small helpers that fail loudly.
//
// Environment (run.sh sets it for its wss pass and clears it for the plain one):
//   TLS_CERT, TLS_KEY  PEM files. Both set: Node's server listens on https with them, and the scheme is
//                      https:// / wss:// (run.sh gives our servers the same files as --tls-cert/--tls-key).
//                      Unset: plain http:// / ws://.
//   TLS_CA             optional PEM of the CA that signed TLS_CERT (or TLS_CERT itself, self-signed): the
//                      Node clients trust only it and Chromium accepts only its keys; without it they
//                      skip verification (rejectUnauthorized: false, --ignore-certificate-errors).
import { readFileSync } from 'node:fs';

export const tls = Boolean(process.env.TLS_CERT && process.env.TLS_KEY);
export const wsScheme = tls ? 'wss' : 'ws';
export const httpScheme = tls ? 'https' : 'http';

/** permessage-deflate for `ws` when asked (`--deflate on`): every message compressed, however small
 * (`ws` leaves messages under 1 KiB uncompressed by default). Off otherwise, so the plain frames are
 * what the peers exchange. */
export function deflateOption(on) {
  return on ? { threshold: 0 } : false;
}

/** Options for a Node `ws` client: compression as asked, and under TLS the test CA or no
 * verification. */
export function clientOptions(extra = {}) {
  const options = { perMessageDeflate: false, ...extra };
  if (tls) {
    if (process.env.TLS_CA) options.ca = readFileSync(process.env.TLS_CA);
    else options.rejectUnauthorized = false;
  }
  return options;
}

/** `--name value` pairs from argv. */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad arguments: ${argv.join(' ')}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Compares two byte arrays, naming the first difference instead of printing megabytes. */
export function assertBytes(actual, expected, what) {
  const a = Buffer.from(actual.buffer ?? actual, actual.byteOffset ?? 0, actual.byteLength);
  const e = Buffer.from(expected.buffer ?? expected, expected.byteOffset ?? 0, expected.byteLength);
  if (a.length !== e.length) throw new Error(`${what}: expected ${e.length} bytes, got ${a.length}`);
  const at = a.findIndex((byte, i) => byte !== e[i]);
  if (at !== -1) throw new Error(`${what}: first difference at byte ${at} of ${e.length}: ${a[at]} != ${e[at]}`);
}

/** `n` bytes of a pattern that is not periodic at any power of two, so a shifted or dropped chunk
 * shows up as a difference. */
export function pattern(n, seed = 1) {
  const bytes = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Rejects after `ms` with a message naming what was awaited. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs named checks in order, each within `ms`, prints one line each, and returns the number that
 * failed. A check may name a group (its third element): after one of a group fails, the rest of that
 * group are skipped, counted as failed, since they build on it. */
export async function runChecks(label, checks, ms = 30_000) {
  let failed = 0;
  const brokenGroups = new Set();
  for (const [name, check, group] of checks) {
    if (group !== undefined && brokenGroups.has(group)) {
      failed++;
      console.log(`FAIL ${label}: ${name}: skipped, an earlier check of ${group} failed`);
      continue;
    }
    const started = Date.now();
    try {
      await withTimeout(Promise.resolve().then(check), ms, name);
      console.log(`ok   ${label}: ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed++;
      if (group !== undefined) brokenGroups.add(group);
      console.log(`FAIL ${label}: ${name}: ${error?.stack ?? error}`);
    }
  }
  console.log(`${checks.length - failed} passed, ${failed} failed (${label})`);
  return failed;
}
