"""Accounts and authentication: users, passwords, sessions, CSRF, rate limits, TOTP, tokens, audit log."""
