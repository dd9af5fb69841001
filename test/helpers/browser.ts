import { chromium, type Browser } from 'playwright-core'

/**
 * Headless Debian Chromium driven by playwright-core (never a downloaded browser).
 * AFTERMATH_CHROMIUM overrides the executable. Playwright gives each launch a fresh,
 * temporary profile (its own --user-data-dir).
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.AFTERMATH_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
