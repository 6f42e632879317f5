import { defineConfig } from '@playwright/test';

// Run by tests/webui/test_e2e.py against a real local stack; it sets the base URL and the mail folder.
// Debian's Chromium, never a downloaded browser.
export default defineConfig({
	testDir: 'tests/e2e',
	outputDir: 'test-results/playwright',
	timeout: 90_000,
	expect: { timeout: 15_000 },
	fullyParallel: false,
	workers: 1,
	retries: 0,
	reporter: [['list']],
	use: {
		baseURL: process.env.AIWFE_E2E_BASE_URL ?? 'http://localhost:8080',
		browserName: 'chromium',
		headless: true,
		viewport: { width: 1280, height: 860 },
		locale: 'en-GB',
		timezoneId: 'Europe/Berlin',
		screenshot: 'only-on-failure',
		launchOptions: {
			executablePath: process.env.AIWFE_CHROMIUM ?? '/usr/bin/chromium',
			args: [
				'--headless',
				'--no-sandbox',
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync'
			]
		}
	}
});
