/**
 * Headless Chromium for the browser test and the web bench: Debian's `chromium` (apt; .ci/run
 * installs it) driven by playwright-core over the DevTools protocol. Development only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { chromium } from 'playwright-core';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** A fresh headless Chromium profile under `dir`. */
export function launchChromium(dir: string): Promise<BrowserContext> {
  if (!CHROMIUM) throw new Error('chromium is not installed: apt-get install chromium');
  return chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium hangs on a closed network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
