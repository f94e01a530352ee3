// A browser as a SIP client over WebSocket (RFC 7118): serves a page with JsSIP (bundled
// here by esbuild) from loopback, opens it in headless Debian Chromium through
// playwright-core, and lets it REGISTER, send a MESSAGE and an OPTIONS, and unregister.
// Prints `RESULT {json}` with each status; exits 0 when REGISTER, MESSAGE and OPTIONS got
// 200.
//
// Usage: node run.mjs WS_URL AOR PASSWORD TARGET
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const [ws, uri, password, target] = process.argv.slice(2);
if (!target) {
  console.error('usage: node run.mjs WS_URL AOR PASSWORD TARGET');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const built = await esbuild.build({
  entryPoints: [path.join(here, 'node_modules/jssip/lib/JsSIP.js')],
  bundle: true,
  write: false,
  format: 'iife',
  globalName: 'JsSIP',
  platform: 'browser',
  logLevel: 'silent',
});
const files = {
  '/': [
    'text/html',
    `<!doctype html><html><head><meta charset="utf-8"><title>sip-rs browser client</title>
<script>window.SIP_CONFIG = ${JSON.stringify({ ws, uri, password, target })};</script>
<script src="/jssip.js"></script><script src="/client.js"></script></head><body></body></html>`,
  ],
  '/jssip.js': ['text/javascript', built.outputFiles[0].text],
  '/client.js': ['text/javascript', readFileSync(path.join(here, 'client.js'), 'utf8')],
};
const server = http.createServer((request, response) => {
  const file = files[request.url];
  if (!file) {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'content-type': file[0] }).end(file[1]);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const page_url = `http://127.0.0.1:${server.address().port}/`;

// A fresh profile every run; Debian's Chromium, not a download of playwright's own.
const profile = mkdtempSync(path.join(tmpdir(), 'sip-rs-chromium-'));
let code = 1;
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => console.error(`[browser ${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => console.error(`[browser error] ${error.message}`));
  await page.goto(page_url);
  const result = await Promise.race([
    page.evaluate(() => window.result),
    new Promise((_, reject) => setTimeout(() => reject(new Error('no result in 30 s')), 30_000)),
  ]);
  console.log(`RESULT ${JSON.stringify(result)}`);
  code = result.register === 200 && result.message === 200 && result.options === 200 ? 0 : 1;
} catch (error) {
  console.error(`browser client: ${error.stack ?? error}`);
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
