"""OAuth / OpenID Connect: sign-in through providers, account linking, connected accounts, token refresh."""
