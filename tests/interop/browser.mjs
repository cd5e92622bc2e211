// A real browser against our servers: Debian's Chromium, driven by playwright-core (no browser download).
//
//   node browser.mjs --echo-mio http://127.0.0.1:P1/ --echo-blocking http://127.0.0.1:P2/ \
//                    --chat http://127.0.0.1:P3/ --artifacts ../../target/interop
//
// Every `--echo-LABEL URL` is an examples/echo_server; `--chat URL` is examples/chat, and `--chat-b URL`
// another chat process joined to the first through Redis, where the second page goes. `--extensions E`:
// the echo page's own connection must have negotiated E (Chromium always offers permessage-deflate; our
// servers accept it when built with the `deflate` feature), `--extensions none`: nothing. The pages are loaded
// from our servers (Chromium refuses some loopback WebSockets from about:blank), so the WebSockets they
// open are same-origin ones to our server. Screenshots go to the artifacts folder; their paths are
// printed. Under TLS (see common.mjs) the URLs are https:// and every WebSocket must be wss://; Chromium
// accepts the keys of the certificates in TLS_CA (or, without it, any certificate).
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assert, assertEqual, parseArgs, runChecks, tls, withTimeout, wsScheme } from './common.mjs';

const args = parseArgs();
const artifacts = path.resolve(args.artifacts ?? 'artifacts');
mkdirSync(artifacts, { recursive: true });
const WAIT = { timeout: 15_000 };

/** Base64 SHA-256 of the public key (SubjectPublicKeyInfo) of every certificate in a PEM file, as
 * Chromium's --ignore-certificate-errors-spki-list takes them. */
function spkiHashes(file) {
  const pems = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  assert(pems !== null, `a certificate in ${file}`);
  return pems.map((pem) => createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64'));
}

// A test certificate. Chromium has no flag to trust a CA file, but it can be told to accept the
// certificates whose key is one of a list: with TLS_CA, the keys in it, so a server presenting any
// other certificate still fails; without, any certificate.
const trustedKeys = tls && process.env.TLS_CA ? spkiHashes(process.env.TLS_CA) : null;
const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  ...(trustedKeys ? [`--ignore-certificate-errors-spki-list=${trustedKeys.join(',')}`]
    : tls ? ['--ignore-certificate-errors'] : []),
];
// The checks below use `browser`, launched at the end of this file with a fresh profile.
let browser;

/** Text of every log line of a page with the given class ('in', 'out', 'error'). */
const logLines = (page, kind) => page.$$eval(`#log div.${kind}`, (divs) => divs.map((d) => d.textContent));

async function screenshot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
}

/** In the page: opens a WebSocket to the page's own server, for checks beside the page's own one. */
const OPEN_IN_PAGE = `
  window.openSocket = () => new Promise((resolve, reject) => {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('WebSocket error opening ' + url));
  });
  window.closeEvent = (ws) => new Promise((resolve) => {
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }));
  });
`;

function echoChecks(label, url) {
  let page;
  return [
    [`${label}: the page from our server opens, sends from onopen and shows the echo`, async () => {
      page = await browser.newPage();
      page.on('pageerror', (error) => console.log(`page error (${label}): ${error.message}`));
      const response = await page.goto(url);
      assertEqual(response.status(), 200, 'status of the page');
      await page.waitForFunction(() => document.getElementById('status').textContent === 'open', null, WAIT);
      await page.waitForFunction(() => [...document.querySelectorAll('#log div.in')]
        .some((d) => d.textContent === 'echo: hey'), null, WAIT);
      assert((await logLines(page, 'out')).includes('sent: hey'), 'the page logged its send from onopen');
      assertEqual((await logLines(page, 'error')).length, 0, 'error lines on the page');
      // `connection` is the page's own WebSocket (a top-level const of its script).
      const socketUrl = await page.evaluate(() => connection.url); // eslint-disable-line no-undef
      assertEqual(new URL(socketUrl).protocol, `${wsScheme}:`, `scheme of the page's WebSocket (${socketUrl})`);
      const extensions = await page.evaluate(() => connection.extensions); // eslint-disable-line no-undef
      console.log(`     ${label}: the page's connection negotiated ${JSON.stringify(extensions)}`);
      if (args.extensions !== undefined) {
        const expected = args.extensions === 'none' ? '' : args.extensions;
        assertEqual(extensions.split(';')[0].trim(), expected, 'negotiated extension');
      }
      await page.evaluate(OPEN_IN_PAGE);
    }],
    [`${label}: a message typed into the form and sent with Enter comes back`, async () => {
      const text = `typed in the browser, ${label} ✓`;
      await page.fill('#text', text);
      await page.press('#text', 'Enter');
      await page.waitForFunction((t) => [...document.querySelectorAll('#log div.in')]
        .some((d) => d.textContent === `echo: ${t}`), text, WAIT);
    }],
    [`${label}: a 1 MiB binary message echoed byte-exact`, async () => {
      const result = await page.evaluate(async () => {
        const ws = await window.openSocket();
        const sent = new Uint8Array(1 << 20);
        let x = 12345;
        for (let i = 0; i < sent.length; i++) {
          x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
          sent[i] = x & 0xff;
        }
        const echo = new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
        ws.send(sent);
        const echoed = await echo;
        const got = new Uint8Array(echoed);
        ws.close(1000);
        const at = got.findIndex((b, i) => b !== sent[i]);
        return { binary: echoed instanceof ArrayBuffer, length: got.length, firstDifference: at };
      });
      assert(result.binary, 'the echo is binary (an ArrayBuffer)');
      assertEqual(result.length, 1 << 20, 'length of the echo');
      assertEqual(result.firstDifference, -1, 'first differing byte');
    }],
    [`${label}: 100 messages echoed in order`, async () => {
      const got = await page.evaluate(async () => {
        const ws = await window.openSocket();
        const received = [];
        const all = new Promise((resolve) => {
          ws.onmessage = (e) => { received.push(e.data); if (received.length === 100) resolve(); };
        });
        for (let i = 0; i < 100; i++) ws.send(`message ${i}`);
        await all;
        ws.close(1000);
        return received;
      });
      assertEqual(JSON.stringify(got), JSON.stringify(Array.from({ length: 100 }, (_, i) => `message ${i}`)),
        'the echoes, in order');
    }],
    [`${label}: a close with 4001 from the page is answered with 4001`, async () => {
      const event = await page.evaluate(async () => {
        const ws = await window.openSocket();
        const closed = window.closeEvent(ws);
        ws.close(4001, 'from the page');
        return closed;
      });
      assertEqual(event.code, 4001, 'close event code');
      assertEqual(event.wasClean, true, 'wasClean');
    }],
    [`${label}: the page's own connection closes cleanly with 1000`, async () => {
      const event = await page.evaluate(() => {
        const closed = window.closeEvent(connection); // eslint-disable-line no-undef
        connection.close(1000, 'page done'); // eslint-disable-line no-undef
        return closed;
      });
      assertEqual(event.code, 1000, 'close event code');
      assertEqual(event.wasClean, true, 'wasClean');
      // The page's own onclose shows it too.
      await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('closed (1000'),
        null, WAIT);
      await screenshot(page, `echo-page-${label}`);
      await page.close();
    }],
  ];
}

function chatChecks(url, urlB) {
  const pages = [];
  const sentBy = async (page, text, how) => {
    await page.fill('#text', text);
    if (how === 'Enter') await page.press('#text', 'Enter');
    else await page.click('#form button');
  };
  const seenBy = (page, text, times = 1) => page.waitForFunction(([t, n]) => [...document.querySelectorAll('#log div.in')]
    .filter((d) => d.textContent === t).length >= n, [text, times], WAIT);
  return [
    ['chat: two pages join the room', async () => {
      // Each page sends 'joined' from its onopen, which the room publishes, and the room itself tells
      // its members that someone joined.
      // With --chat-b, the pages are on two processes: everything one page sees of the other went
      // through Redis.
      for (const [name, pageUrl] of [['a', url], ['b', urlB ?? url]]) {
        const page = await browser.newPage();
        page.on('pageerror', (error) => console.log(`page error (chat ${name}): ${error.message}`));
        assertEqual((await page.goto(pageUrl)).status(), 200, 'status of the page');
        await page.waitForFunction(() => document.getElementById('status').textContent === 'open', null, WAIT);
        const socketUrl = await page.evaluate(() => connection.url); // eslint-disable-line no-undef
        assertEqual(new URL(socketUrl).protocol, `${wsScheme}:`, `scheme of the page's WebSocket (${socketUrl})`);
        pages.push(page);
      }
      // The first page hears its own join and the second's; the second hears its own onopen send come
      // back.
      await seenBy(pages[0], 'someone joined', 2);
      await seenBy(pages[1], 'joined');
    }],
    ['chat: a message typed in one page (Enter) appears in both', async () => {
      const text = `hello from page a, ${Date.now()}`;
      await sentBy(pages[0], text, 'Enter');
      await Promise.all(pages.map((page) => seenBy(page, text)));
    }],
    ['chat: a message typed in the other page (Send button) appears in both', async () => {
      const text = `and hello from page b ✓ ${Date.now()}`;
      await sentBy(pages[1], text, 'click');
      await Promise.all(pages.map((page) => seenBy(page, text)));
    }],
    ['chat: the server pushes the time to both pages unasked', async () => {
      assertEqual(pages.length, 2, 'pages open');
      await Promise.all(pages.map((page) => page.waitForFunction(() => [...document.querySelectorAll('#log div.in')]
        .some((d) => d.textContent.startsWith('server time: ')), null, WAIT)));
      for (const [i, page] of pages.entries()) {
        assertEqual((await logLines(page, 'error')).length, 0, 'error lines on the page');
        await screenshot(page, `chat-page-${'ab'[i]}`);
      }
      for (const page of pages) await page.close();
    }],
  ];
}

// Each server's checks are a group: they share a page, so after one fails the rest are skipped.
const checks = [];
for (const [key, url] of Object.entries(args)) {
  if (!key.startsWith('echo-')) continue;
  const label = key.slice('echo-'.length);
  checks.push(...echoChecks(label, url).map(([name, check]) => [name, check, label]));
}
if (args.chat) checks.push(...chatChecks(args.chat, args['chat-b']).map(([name, check]) => [name, check, 'chat']));
assert(checks.length > 0, 'no --echo-LABEL or --chat URL given');

const profile = mkdtempSync(path.join(tmpdir(), 'wscore-chromium-'));
let failed = 1;
try {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: chromiumArgs,
    // Playwright's own switch ignores every certificate error; only when no key is pinned above.
    ignoreHTTPSErrors: tls && !trustedKeys,
    viewport: { width: 900, height: 700 },
  });
  console.log(`chromium ${browser.browser()?.version() ?? '(version unknown)'}; profile ${profile}`);
  failed = await runChecks('chromium', checks);
} catch (error) {
  console.log(`FAIL chromium: ${error?.stack ?? error}`);
} finally {
  if (browser) {
    await withTimeout(browser.close(), 10_000, 'closing chromium').catch((error) => console.log(error.message));
  }
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed > 0 ? 1 : 0);
