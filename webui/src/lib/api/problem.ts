/**
 * RFC 9457 problems (`application/problem+json`) turned into sentences a person can act on,
 * and the field of the form they belong to when the API names one.
 */

export interface ValidationIssue {
	loc: (string | number)[];
	msg: string;
	type?: string;
}

export interface Problem {
	type?: string;
	title?: string;
	status?: number;
	detail?: string;
	field?: string;
	errors?: ValidationIssue[];
	retry_after?: number;
	[key: string]: unknown;
}

/** An API answer that was not a success, carrying the problem and a sentence to show. */
export class ApiError extends Error {
	readonly status: number;
	readonly problem: Problem;
	/** The request field the problem is about (`email`, `new_password`, …), when the API says. */
	readonly field: string | undefined;

	constructor(status: number, problem: Problem, retryAfter?: number | null) {
		const { field, message } = describeProblem({ ...problem, status }, retryAfter);
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.problem = problem;
		this.field = field;
	}

	/** The problem's short code, e.g. `invalid-credentials` from `https://…/problems/invalid-credentials`. */
	get code(): string {
		const type = this.problem.type ?? '';
		return type.slice(type.lastIndexOf('/') + 1);
	}
}

/** The network failed or the answer could not be read; no problem body exists. */
export class NetworkError extends Error {
	constructor() {
		super('The server could not be reached. Check your connection and try again.');
		this.name = 'NetworkError';
	}
}

const LABELS: Record<string, string> = {
	email: 'Email',
	password: 'Password',
	current_password: 'Current password',
	new_password: 'New password',
	display_name: 'Name',
	time_zone: 'Time zone',
	code: 'Code',
	recovery_code: 'Recovery code',
	mfa_token: 'Sign-in step',
	token: 'Link',
	name: 'Name',
	scopes: 'Scopes',
	expires_at: 'Expiry',
	summary: 'Title',
	start: 'Start',
	end: 'End',
	rrule: 'Repeat rule',
	color: 'Colour',
	calendar_id: 'Calendar',
	source: 'Source',
	source_url: 'Calendar URL',
	username: 'Username',
	cursor: 'Page'
};

/** A human label for an API field name: `new_password` → `New password`. */
export function fieldLabel(field: string): string {
	if (LABELS[field]) return LABELS[field];
	const words = field.replace(/[_.-]+/g, ' ').trim();
	return words.charAt(0).toUpperCase() + words.slice(1);
}

/** `the code is wrong` → `The code is wrong.` */
export function sentence(text: string): string {
	const trimmed = text.trim();
	if (!trimmed) return trimmed;
	const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
	return /[.!?]$/.test(first) ? first : `${first}.`;
}

const LOCATION_ROOTS = new Set(['body', 'query', 'path', 'header', 'cookie']);

function fieldFromLoc(loc: (string | number)[]): string | undefined {
	const names = loc.filter((part): part is string => typeof part === 'string' && !LOCATION_ROOTS.has(part));
	return names.length ? names[0] : undefined;
}

// Pydantic's wording starts with the type it checked ("String should have…"); the field's label reads better.
function validationSentence(field: string | undefined, message: string): string {
	const label = field ? fieldLabel(field) : undefined;
	if (!label) return sentence(message);
	if (/^field required$/i.test(message)) return `${label} is required.`;
	const typed = message.match(/^(?:String|Value|Input|List|Dictionary)\s+(should|must)\s+(.*)$/);
	if (typed) return sentence(`${label} ${typed[1]} ${typed[2]}`);
	const valueIs = message.match(/^value is (.*)$/i);
	if (valueIs) return sentence(`${label} is ${valueIs[1]}`);
	if (/^(is|must|has|cannot|contains|should|was|needs)\b/.test(message)) return sentence(`${label} ${message}`);
	return sentence(`${label}: ${message}`);
}

function retryText(seconds: number): string {
	if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
	const minutes = Math.ceil(seconds / 60);
	return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/**
 * The sentence to show for a problem, and the field it belongs to.
 *
 * Validation problems (422 with `errors`) name the first offending field; domain problems may carry
 * `field` or a `detail` of the form `field: message`.
 */
export function describeProblem(
	problem: Problem,
	retryAfter?: number | null
): { field: string | undefined; message: string } {
	const status = problem.status ?? 0;
	const detail = typeof problem.detail === 'string' ? problem.detail.trim() : '';

	if (status === 429) {
		const seconds = retryAfter ?? problem.retry_after;
		return {
			field: undefined,
			message:
				typeof seconds === 'number' && seconds > 0
					? `Too many attempts. Try again in ${retryText(seconds)}.`
					: 'Too many attempts. Wait a moment and try again.'
		};
	}

	if (Array.isArray(problem.errors) && problem.errors.length) {
		const first = problem.errors[0];
		const field = fieldFromLoc(first.loc ?? []);
		// "value is not a valid email address: An email address must have an @-sign." → keep the explanation.
		const msg = (first.msg ?? '').replace(/^value is not a valid email address: /i, '');
		const message =
			msg !== first.msg && field ? sentence(msg) : validationSentence(field, msg || 'is not valid');
		return { field, message };
	}

	let field = typeof problem.field === 'string' ? problem.field : undefined;
	let text = detail;
	const prefixed = detail.match(/^([a-z_][a-z0-9_.]*): (.+)$/);
	if (prefixed && (!field || field === prefixed[1] || prefixed[1].endsWith(`.${field}`))) {
		field = field ?? fieldFromLoc(prefixed[1].split('.'));
		return { field, message: validationSentence(field ?? prefixed[1], prefixed[2]) };
	}
	if (!text) text = problem.title ?? '';
	if (!text) {
		if (status >= 500) text = 'Something went wrong on the server. Try again in a moment';
		else text = 'The request could not be completed';
	}
	return { field, message: sentence(text) };
}
