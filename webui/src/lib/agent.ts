/** A short description of a browser from its User-Agent: "Chrome on Linux", "Firefox on Windows". */

const BROWSERS: [RegExp, string][] = [
	[/Edg\//, 'Edge'],
	[/OPR\/|Opera/, 'Opera'],
	[/Firefox\//, 'Firefox'],
	[/HeadlessChrome\//, 'Headless Chrome'],
	[/Chrome\/|Chromium\//, 'Chrome'],
	[/Safari\//, 'Safari'],
	[/curl\//i, 'curl'],
	[/python-httpx|python-requests|aiohttp/i, 'Python client']
];

const SYSTEMS: [RegExp, string][] = [
	[/Android/, 'Android'],
	[/iPhone|iPad|iOS/, 'iOS'],
	[/Mac OS X|Macintosh/, 'macOS'],
	[/Windows/, 'Windows'],
	[/CrOS/, 'ChromeOS'],
	[/Linux/, 'Linux']
];

export function describeAgent(userAgent: string | null | undefined): string {
	if (!userAgent) return 'Unknown device';
	const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
	const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
	if (browser && system) return `${browser} on ${system}`;
	if (browser || system) return (browser ?? system) as string;
	return userAgent.length > 40 ? `${userAgent.slice(0, 40)}…` : userAgent;
}
