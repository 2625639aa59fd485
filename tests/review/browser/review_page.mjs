#!/usr/bin/env node
// Drive the review page (`kgp serve`) in headless Debian Chromium: the page refuses a missing token, loads with
// the printed address, lists edges, shows an edge's evidence and graph, and accepts it with the Accept button.
//
//   node tests/review/browser/review_page.mjs --url 'http://127.0.0.1:PORT/?token=T' [--rel-type TYPE] [--head ID]
//                                      [--expect-text TEXT] [--screenshot FILE.png] [--no-accept]
//
// --rel-type filters the list first; --head picks the row whose head has that id (default: the first row);
// --expect-text must appear literally
// (as text) in the edge list, e.g. a hostile name. Prints one JSON object: what it saw and which edge it accepted.
// Exit 1 on any failed expectation, console error, page error or Content-Security-Policy violation.
// Install once: npm ci --prefix tests/review/browser (needs /usr/bin/chromium, or set CHROMIUM).
import { chromium } from 'playwright-core';

function parseArgs(argv) {
  const opts = { url: null, relType: null, head: null, expectText: null, screenshot: null, accept: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--url') opts.url = argv[++i];
    else if (arg === '--head') opts.head = argv[++i];
    else if (arg === '--rel-type') opts.relType = argv[++i];
    else if (arg === '--expect-text') opts.expectText = argv[++i];
    else if (arg === '--screenshot') opts.screenshot = argv[++i];
    else if (arg === '--no-accept') opts.accept = false;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!opts.url) throw new Error('--url is required (the address kgp serve printed)');
  return opts;
}

function check(condition, message) {
  if (!condition) throw new Error(`expectation failed: ${message}`);
}

const opts = parseArgs(process.argv.slice(2));
const base = new URL(opts.url);
const origin = `${base.protocol}//${base.host}`;
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { origin };
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('dialog', (dialog) => { problems.push(`dialog opened: ${dialog.message()}`); dialog.dismiss(); });

  // No token: 401, and the API refuses too.
  const bare = await page.goto(`${origin}/`);
  check(bare.status() === 401, `GET / without token gave ${bare.status()}, expected 401`);
  problems.length = 0; // the 401 itself is logged as a console error
  const api = await page.evaluate(async () => (await fetch('/api/edges')).status);
  check(api === 401, `GET /api/edges without token gave ${api}, expected 401`);
  problems.length = 0;

  // The printed address sets the cookie and redirects to a clean /.
  const opened = await page.goto(opts.url);
  check(opened.ok(), `the printed address gave ${opened.status()}`);
  check(!page.url().includes('token='), `the token stayed in the address bar: ${page.url()}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  if (opts.relType) {
    const listed = page.waitForResponse((r) => r.url().includes('/api/edges?') && r.url().includes(opts.relType));
    await page.selectOption('#f-rel', opts.relType);
    await listed;
    await page.waitForFunction((rel) => [...document.querySelectorAll('#edges tbody tr[data-key]')]
      .every((tr) => tr.dataset.relType === rel), opts.relType);
  }
  const rows = page.locator('#edges tbody tr[data-key]');
  result.rows = await rows.count();
  check(result.rows > 0, 'the page lists no edges');
  result.page_info = await page.textContent('#page-info');
  if (opts.expectText) {
    const listText = await page.textContent('#edges tbody');
    check(listText.includes(opts.expectText), `the list does not show ${JSON.stringify(opts.expectText)} as text`);
  }

  const row = opts.head ? page.locator(`#edges tbody tr[data-head="${opts.head.replace(/["\\]/g, '\\$&')}"]`).first()
    : rows.first();
  const edge = JSON.parse(await row.getAttribute('data-key'));
  result.edge = { head: edge[0], rel_type: edge[1], tail: edge[2], run_id: edge[3] };
  await row.click();
  await page.waitForFunction(() => document.getElementById('d-status').textContent === 'proposed');
  await page.waitForSelector('#graph canvas');
  await page.waitForTimeout(300); // let cytoscape paint before the screenshot
  result.graph_nodes = Number(await page.getAttribute('#graph', 'data-nodes'));
  check(result.graph_nodes >= 2, 'the graph shows fewer than two nodes');
  result.evidence = await page.textContent('#d-evidence');
  result.paths_shown = await page.locator('#d-paths li').count();
  result.title = await page.textContent('#d-title');
  if (opts.screenshot) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: opts.screenshot });
    result.screenshot = opts.screenshot;
  }

  if (opts.accept) {
    await page.click('#accept');
    await page.waitForFunction(() => document.getElementById('d-status').textContent === 'accepted',
      null, { timeout: 15000 });
    result.status_after = await page.textContent('#d-status');
  }
  // Hostile text must not have run: a name like <img src=x onerror=...> sets this flag if it ever becomes markup.
  result.script_injected = await page.evaluate(() => Boolean(window.__kgp_pwned));
  check(!result.script_injected, 'graph text was executed as markup');
  check(problems.length === 0, `the page reported problems:\n${problems.join('\n')}`);
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err.message || err);
  result.problems = problems;
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
