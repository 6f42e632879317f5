"""The auth domain's errors, each mapped to one HTTP problem by the shared handler."""

from __future__ import annotations

from aiwfe.core.errors import AppError


class AuthenticationRequired(AppError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class InvalidCredentials(AppError):
    status = 401
    code = "invalid-credentials"
    title = "Email or password is wrong"


class MfaRequired(AppError):
    status = 401
    code = "mfa-required"
    title = "A second factor is required"


class InvalidMfaCode(AppError):
    status = 401
    code = "invalid-mfa-code"
    title = "The code is wrong or was already used"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class CsrfFailed(AppError):
    status = 403
    code = "csrf-failed"
    title = "CSRF check failed"


class RateLimited(AppError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class WeakPassword(AppError):
    status = 422
    code = "weak-password"
    title = "The password is not allowed"


class RegistrationClosed(AppError):
    status = 403
    code = "registration-closed"
    title = "Registration is not open"


class EmailTaken(AppError):
    status = 409
    code = "email-taken"
    title = "An account with this email exists"


class BadToken(AppError):
    status = 400
    code = "bad-token"
    title = "The token cannot be used"


class EmailNotVerified(AppError):
    status = 403
    code = "email-not-verified"
    title = "Verify your email first"


class ReauthRequired(AppError):
    """The session has not proved its password (or TOTP code) recently: POST /api/v1/me/reauth first."""

    status = 403
    code = "reauth-required"
    title = "Confirm it is you"
