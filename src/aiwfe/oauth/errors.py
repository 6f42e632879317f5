"""The oauth domain's errors, each mapped to one HTTP problem by the shared handler."""

from __future__ import annotations

from aiwfe.core.errors import AppError, DependencyUnavailableError


class UnknownProvider(AppError):
    status = 404
    code = "unknown-provider"
    title = "No such sign-in provider"


class InvalidFlow(AppError):
    """The callback does not belong to a sign-in this browser started (unknown, reused or foreign state)."""

    status = 400
    code = "invalid-oauth-state"
    title = "The sign-in cannot be finished"


class AuthorizationDenied(AppError):
    status = 403
    code = "oauth-denied"
    title = "The provider did not authorize the sign-in"


class ProviderRefused(AppError):
    """The provider answered with an OAuth error (an invalid, reused or PKCE-mismatched code, say)."""

    status = 400
    code = "oauth-provider-refused"
    title = "The provider refused the request"


class InvalidIdToken(AppError):
    status = 401
    code = "invalid-id-token"
    title = "The provider's ID token is not valid"


class ProviderMisconfigured(AppError):
    """The provider's metadata cannot be trusted (e.g. its discovery document names another issuer)."""

    status = 502
    code = "oauth-provider-invalid"
    title = "The provider's answer cannot be trusted"


class ProviderUnavailable(DependencyUnavailableError):
    code = "oauth-provider-unavailable"
    title = "The sign-in provider is unavailable"


class SignInFirst(AppError):
    """An account with this email exists but cannot be linked safely: its owner must sign in and link."""

    status = 409
    code = "oauth-sign-in-first"
    title = "Sign in to your account first, then link this provider"


class IdentityLinkedElsewhere(AppError):
    status = 409
    code = "oauth-identity-taken"
    title = "This provider account is linked to another user"


class LastSignInMethod(AppError):
    status = 409
    code = "last-sign-in-method"
    title = "This is your only way to sign in"


class SignUpRefused(AppError):
    status = 403
    code = "oauth-sign-up-refused"
    title = "No account can be created through this provider"


class NotLinked(AppError):
    status = 404
    code = "not-found"
    title = "Not found"


class ReconnectNeeded(AppError):
    """The provider refused the stored refresh token: the user has to link the account again."""

    status = 409
    code = "oauth-reconnect-needed"
    title = "The connected account must be linked again"
