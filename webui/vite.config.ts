import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

// The dev server proxies the API to a running stack (`make up`): AIWFE_API_ORIGIN moves it.
const api = process.env.AIWFE_API_ORIGIN ?? 'http://localhost:8080';

export default defineConfig({
	plugins: [sveltekit()],
	// Unit tests mount components in jsdom: Svelte's browser build, not its server one.
	resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
	server: {
		port: 5173,
		strictPort: true,
		proxy: {
			'/api': { target: api, changeOrigin: false },
			'/ready': { target: api },
			'/health': { target: api }
		}
	},
	test: {
		include: ['tests/unit/**/*.test.ts'],
		environment: 'jsdom'
	}
});
