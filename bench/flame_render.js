// flame_render.js - times heapspan's pages in headless Chromium (bench/flame-scale.sh):
//   node bench/flame_render.js PAGE.html...
// For each page, three times: the time from navigation to the flame graph's first
// drawing (the widget's data-ready attribute), the DOM's frame count, and the time a
// click to zoom takes to redraw. Needs playwright-core (NODE_PATH) and /usr/bin/chromium.
'use strict';
const { chromium } = require('playwright-core');

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  for (const file of process.argv.slice(2)) {
    for (let run = 0; run < 3; run++) {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const t0 = Date.now();
      await page.goto('file://' + require('path').resolve(file), { waitUntil: 'domcontentloaded' });
      await page.waitForSelector(".hs-flame[data-ready]", { timeout: 60000 });
      const wall = Date.now() - t0;
      const r = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        return { ready: window.heapspanFlameTimes[0], frames: document.querySelectorAll('.hs-fg-frames .f').length,
          domLoaded: nav ? nav.domContentLoadedEventEnd : 0 };
      });
      const z = await page.evaluate(() => {
        const fs = [...document.querySelectorAll('.hs-fg-frames .f[data-n]')];
        const f = fs.find(e => e.offsetWidth > 20 && e.offsetWidth < 400) || fs[fs.length - 1];
        const t = performance.now();
        f.click();
        return performance.now() - t;
      });
      console.log(`${file} run ${run + 1}: first drawing at ${r.ready.toFixed(0)} ms after navigation ` +
        `(DOMContentLoaded ${r.domLoaded.toFixed(0)} ms; ${wall} ms wall), ${r.frames} frames in the DOM; ` +
        `zoom click ${z.toFixed(0)} ms`);
      await page.close();
    }
  }
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
