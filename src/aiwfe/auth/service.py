"""The auth domain's logic, with no HTTP, as one service: ``AuthService(db, deps, client)``.

Each concern lives in its own module, and ``AuthService`` puts them together for the routes:
- ``context``: the shared collaborators (``AuthDeps``), the audit log, user lookups, the password policy;
- ``registration``: registration, invitations, the first administrator;
- ``email_links``: email verification and password reset;
- ``signin``: sign-in (password, TOTP, recovery codes), sign-out, re-authentication, session cookies;
- ``account``: the user's profile, password, sessions and two-factor set-up;
- ``access_tokens``: personal access tokens;
- ``admin``: administration of other users.
Each public method is one transaction: all of it or none of it.
"""

from __future__ import annotations

from aiwfe.auth.access_tokens import PAT_PREFIX, AccessTokens
from aiwfe.auth.account import Account
from aiwfe.auth.admin import Administration
from aiwfe.auth.context import AuthDeps, RunTask, SendEmail
from aiwfe.auth.email_links import SEND_PASSWORD_RESET
from aiwfe.auth.registration import Registration
from aiwfe.auth.signin import MfaChallenge, SignedIn

__all__ = [
    "PAT_PREFIX",
    "SEND_PASSWORD_RESET",
    "AuthDeps",
    "AuthService",
    "MfaChallenge",
    "RunTask",
    "SendEmail",
    "SignedIn",
]


class AuthService(Registration, Account, AccessTokens, Administration):
    """Every auth operation on one database session, for one caller (``ClientInfo``)."""
