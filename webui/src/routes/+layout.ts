// A single-page app: every page renders in the browser; Caddy serves index.html for unknown paths.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
