// pages.js - heapspan's pages in real headless Chromium (tests/flame-tests.sh runs it):
//
//   node tests/browser/pages.js CONFIG.json
//
// CONFIG names the pages and what they must show: {"artifacts": DIR, "flame": FILE,
// "diff": FILE, "report": FILE, "svg": FILE, "leak": {"function": NAME, "bytes": N},
// "newFunction": NAME}. Each page is opened from file:// in a fresh context; every
// request it makes is logged, and anything but file:// fails the test. Prints
// "PASS name" or "FAIL name: why" per check, and saves a screenshot of each page in the
// artifacts directory. Needs playwright-core (NODE_PATH) and Debian's /usr/bin/chromium.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let failed = 0;

function pass(name) {
  console.log(`PASS ${name}`);
}

function fail(name, why) {
  failed++;
  console.log(`FAIL ${name}: ${why}`);
}

async function check(name, fn) {
  try {
    const why = await fn();
    if (why)
      fail(name, why);
    else
      pass(name);
  } catch (e) {
    fail(name, String(e && e.message ? e.message.split('\n')[0] : e));
  }
}

// 7000 -> "7,000", as the pages write exact counts.
const grouped = (n) => Math.round(n).toLocaleString('en-US');

async function open(context, file) {
  const page = await context.newPage();
  const requests = [], errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => requests.push('failed: ' + r.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('file://' + path.resolve(file));
  return { page, requests, errors };
}

// The frame element of a function in a widget (its text is the name).
async function frameBox(page, root, name) {
  return page.evaluate(([root, name]) => {
    const f = [...document.querySelectorAll(root + ' .hs-fg-frames .f')].find((e) => e.textContent === name);
    if (!f)
      return null;
    const cs = getComputedStyle(f);
    return { width: f.getBoundingClientRect().width, top: f.offsetTop, cls: f.className,
      bg: cs.backgroundColor, n: f.dataset.n };
  }, [root, name]);
}

function offline(name, o, file) {
  const others = o.requests.filter((u) => !u.startsWith('file://'));
  if (others.length)
    return fail(name, `requests besides file://: ${others.join(', ')}`);
  if (!o.requests.includes('file://' + path.resolve(file)))
    return fail(name, `the request log misses the page itself: ${o.requests.join(', ')}`);
  if (o.errors.length)
    return fail(name, `script errors: ${o.errors.join('; ')}`);
  pass(name);
}

async function flamePage(browser) {
  const o = await open(browser, cfg.flame);
  const { page } = o;
  const leak = cfg.leak.function;
  await page.waitForSelector('#flame[data-ready]', { timeout: 20000 });
  await check('flame_leak_frame_in_page', async () => {
    const f = await frameBox(page, '#flame', leak);
    if (!f)
      return `no frame element with the text ${leak}`;
    const found = await page.evaluate((s) => window.find(s), leak);
    return found ? null : `window.find("${leak}") found nothing`;
  });
  await check('flame_tooltip_exact_bytes', async () => {
    await page.selectOption('#flame .hs-fg-metric', '1'); // leaked
    const id = (await frameBox(page, '#flame', leak)).n;
    await page.hover(`#flame .f[data-n="${id}"]`);
    const tip = await page.evaluate(() => document.querySelector('.hs-fg-tip').textContent);
    const want = `${grouped(cfg.leak.bytes)} B`;
    return tip.includes(want) && tip.includes(leak) ? null : `tooltip "${tip}" lacks "${want}"`;
  });
  await page.selectOption('#flame .hs-fg-metric', '0'); // peak
  await check('flame_click_zooms', async () => {
    const before = await frameBox(page, '#flame', cfg.zoomFunction);
    if (!before)
      return `no frame ${cfg.zoomFunction}`;
    await page.click(`#flame .f[data-n="${before.n}"]`, { position: { x: 2, y: 5 } });
    const after = await frameBox(page, '#flame', cfg.zoomFunction);
    if (!after || !(after.width > before.width * 1.5))
      return `width ${before.width} -> ${after && after.width}`;
    const info = await page.evaluate(() => document.querySelector('#flame .hs-fg-info').textContent);
    if (!info.includes('zoomed on ' + cfg.zoomFunction))
      return `the info line does not say the zoom: ${info}`;
    await page.click('#flame .hs-fg-reset');
    const reset = await frameBox(page, '#flame', cfg.zoomFunction);
    return Math.abs(reset.width - before.width) < 1 ? null : `reset zoom: width ${reset.width} vs ${before.width}`;
  });
  await check('flame_search_highlights', async () => {
    await page.fill('#flame .hs-fg-search', cfg.search);
    await page.waitForFunction(() => document.querySelector('#flame .hs-fg-match').textContent !== '');
    const hit = await frameBox(page, '#flame', leak);
    const miss = await frameBox(page, '#flame', 'main');
    if (!hit.cls.split(' ').includes('hl'))
      return `${leak} lacks the highlight class: ${hit.cls}`;
    if (hit.bg !== 'rgb(224, 64, 200)')
      return `${leak}'s background is ${hit.bg}, not the highlight's`;
    if (miss && miss.cls.split(' ').includes('hl'))
      return 'main is highlighted too';
    const match = await page.evaluate(() => document.querySelector('#flame .hs-fg-match').textContent);
    return /matched: .*%/.test(match) ? null : `the match line says ${match}`;
  });
  await page.screenshot({ path: path.join(cfg.artifacts, 'flame-search.png'), fullPage: true });
  await page.fill('#flame .hs-fg-search', '');
  await check('flame_inverted_puts_allocators_at_the_root', async () => {
    await page.click('#flame .hs-fg-invert');
    const all = await frameBox(page, '#flame', 'all');
    const f = await frameBox(page, '#flame', leak);
    return f && all && f.top === all.top - 18 ? null : `${leak} at ${f && f.top}, all at ${all && all.top}`;
  });
  await check('flame_icicle_toggle', async () => {
    await page.click('#flame .hs-fg-orient');
    const all = await frameBox(page, '#flame', 'all');
    const f = await frameBox(page, '#flame', leak);
    return all.top === 0 && f.top === 18 ? null : `icicle: all at ${all.top}, ${leak} at ${f.top}`;
  });
  await page.screenshot({ path: path.join(cfg.artifacts, 'flame-inverted-icicle.png'), fullPage: true });
  offline('flame_offline', o, cfg.flame);
  await o.page.close();
}

async function diffPage(browser) {
  const o = await open(browser, cfg.diff);
  const { page } = o;
  await page.waitForSelector('#flame[data-ready]', { timeout: 20000 });
  await check('diff_new_frame_marked', async () => {
    const f = await frameBox(page, '#flame', cfg.newFunction);
    if (!f)
      return `no frame ${cfg.newFunction}`;
    if (!f.cls.split(' ').includes('new'))
      return `${cfg.newFunction} is not marked new: ${f.cls}`;
    const [r, g, b] = f.bg.match(/\d+/g).map(Number);
    return r > g + 60 && r > b + 60 ? null : `${cfg.newFunction} is not red: ${f.bg}`;
  });
  await check('diff_unchanged_frames_not_new', async () => {
    const f = await frameBox(page, '#flame', cfg.keptFunction);
    if (!f)
      return `no frame ${cfg.keptFunction}`;
    return f.cls.split(' ').includes('new') ? `${cfg.keptFunction} marked new` : null;
  });
  await page.screenshot({ path: path.join(cfg.artifacts, 'flame-diff.png'), fullPage: true });
  await check('diff_click_zooms', async () => {
    const before = await frameBox(page, '#flame', cfg.keptFunction);
    await page.click(`#flame .f[data-n="${before.n}"]`, { position: { x: 2, y: 5 } });
    const after = await frameBox(page, '#flame', cfg.keptFunction);
    return after.width > before.width * 1.5 ? null : `width ${before.width} -> ${after.width}`;
  });
  offline('diff_offline', o, cfg.diff);
  await o.page.close();
}

async function reportPage(browser) {
  const o = await open(browser, cfg.report);
  const { page } = o;
  const leak = cfg.leak.function;
  await page.waitForSelector('#flame-graph[data-ready]', { timeout: 20000 });
  await check('report_leak_table_exact_bytes', async () => {
    const rows = await page.evaluate(() => [...document.querySelectorAll('#leaks table.sites tbody tr')]
      .map((tr) => ({ fn: tr.querySelector('.site summary .fn').textContent,
        bytes: tr.querySelector('td:nth-child(2) .exact').textContent })));
    const row = rows.find((r) => r.fn === leak);
    if (!row)
      return `no row for ${leak} in ${JSON.stringify(rows)}`;
    const want = `${grouped(cfg.leak.bytes)} B`;
    return row.bytes === want ? null : `${leak}: ${row.bytes} vs ${want}`;
  });
  await check('report_flame_graph_rendered', async () => {
    const f = await frameBox(page, '#flame-graph', leak);
    const options = await page.evaluate(() => document.querySelectorAll('#flame-graph .hs-fg-metric option').length);
    return f && options === 5 ? null : `frame ${JSON.stringify(f)}, ${options} metrics in the switch`;
  });
  await check('report_flame_click_zooms', async () => {
    const before = await frameBox(page, '#flame-graph', cfg.zoomFunction);
    await page.click(`#flame-graph .f[data-n="${before.n}"]`, { position: { x: 2, y: 5 } });
    const after = await frameBox(page, '#flame-graph', cfg.zoomFunction);
    return after.width > before.width * 1.5 ? null : `width ${before.width} -> ${after.width}`;
  });
  await check('report_summary_and_chart', async () => {
    const s = await page.evaluate(() => ({
      summary: document.querySelector('#summary').textContent,
      peak: !!document.querySelector('#timeline svg .peak circle'),
      line: !!document.querySelector('#timeline svg path.live'),
    }));
    for (const k of ['peak live', 'leaked', 'allocations', 'lost events', 'duration', 'sampling'])
      if (!s.summary.includes(k))
        return `the summary lacks "${k}"`;
    return s.peak && s.line ? null : 'the chart lacks its line or its peak';
  });
  await page.screenshot({ path: path.join(cfg.artifacts, 'report.png'), fullPage: true });
  offline('report_offline', o, cfg.report);
  await o.page.close();
}

async function svgFile(browser) {
  const o = await open(browser, cfg.svg);
  await check('svg_has_the_leak_frame', async () => {
    const texts = await o.page.evaluate(() => [...document.querySelectorAll('text')].map((t) => t.textContent));
    return texts.includes(cfg.leak.function) ? null : `no <text> ${cfg.leak.function}`;
  });
  await o.page.screenshot({ path: path.join(cfg.artifacts, 'flame-svg.png') });
  offline('svg_offline', o, cfg.svg);
  await o.page.close();
}

(async () => {
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(cfg.artifacts, '.chromium-'));
  // A fresh profile (--user-data-dir) for each run: nothing cached from another.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    await flamePage(browser);
    await diffPage(browser);
    await reportPage(browser);
    await svgFile(browser);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`FAIL browser: ${e && e.message ? e.message.split('\n')[0] : e}`);
  process.exit(1);
});
