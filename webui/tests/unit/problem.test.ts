import { describe, expect, it } from 'vitest';
import { ApiError, describeProblem, fieldLabel, sentence } from '../../src/lib/api/problem';

describe('describeProblem', () => {
	it('turns a lower-case detail into a sentence', () => {
		expect(describeProblem({ status: 401, title: 'Email or password is wrong', detail: 'email or password is wrong' })).toEqual({
			field: undefined,
			message: 'Email or password is wrong.'
		});
	});

	it('keeps the field a domain problem names', () => {
		const described = describeProblem({ status: 422, detail: 'use at least 12 characters', field: 'password' });
		expect(described).toEqual({ field: 'password', message: 'Use at least 12 characters.' });
	});

	it('reads the first validation error and names its field in words', () => {
		const described = describeProblem({
			status: 422,
			detail: 'body.new_password: Field required',
			errors: [{ loc: ['body', 'new_password'], msg: 'Field required', type: 'missing' }]
		});
		expect(described).toEqual({ field: 'new_password', message: 'New password is required.' });
	});

	it('rewords pydantic type prefixes with the field label', () => {
		const described = describeProblem({
			status: 422,
			errors: [{ loc: ['body', 'display_name'], msg: 'String should have at most 200 characters' }]
		});
		expect(described.message).toBe('Name should have at most 200 characters.');
	});

	it('keeps the explanation of an invalid email', () => {
		const described = describeProblem({
			status: 422,
			errors: [
				{
					loc: ['body', 'email'],
					msg: 'value is not a valid email address: An email address must have an @-sign.'
				}
			]
		});
		expect(described).toEqual({ field: 'email', message: 'An email address must have an @-sign.' });
	});

	it('splits a "field: message" detail of the calendar API', () => {
		const described = describeProblem({ status: 422, detail: 'end: is before the start', field: 'end' });
		expect(described).toEqual({ field: 'end', message: 'End is before the start.' });
	});

	it('says when to retry after a rate limit', () => {
		expect(describeProblem({ status: 429, detail: 'too many requests; try again in 30 s' }, 30).message).toBe(
			'Too many attempts. Try again in 30 seconds.'
		);
		expect(describeProblem({ status: 429 }, 600).message).toBe('Too many attempts. Try again in 10 minutes.');
	});

	it('falls back to the title, then to a generic sentence by status', () => {
		expect(describeProblem({ status: 404, title: 'Not found' }).message).toBe('Not found.');
		expect(describeProblem({ status: 502 }).message).toBe('Something went wrong on the server. Try again in a moment.');
	});
});

describe('helpers', () => {
	it('labels fields', () => {
		expect(fieldLabel('current_password')).toBe('Current password');
		expect(fieldLabel('recurrence_id')).toBe('Recurrence id');
	});

	it('capitalises and ends sentences once', () => {
		expect(sentence('done')).toBe('Done.');
		expect(sentence('Done!')).toBe('Done!');
	});

	it('exposes the problem code', () => {
		const error = new ApiError(409, { type: 'https://aiwfe.dev/problems/email-taken', detail: 'taken', field: 'email' });
		expect(error.code).toBe('email-taken');
		expect(error.field).toBe('email');
		expect(error.message).toBe('Taken.');
	});
});
