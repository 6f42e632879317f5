#!/bin/sh
# Writes .env for docker compose with fresh random secrets: compose/generate-env.sh DOMAIN [ACME_EMAIL]
# Refuses to overwrite an existing .env (the database and Redis keep the passwords they were created with).
# Also creates the empty Alertmanager secret files under secrets/ (fill them in; see docs/deploy-compose.md).
set -eu

cd "$(dirname "$0")/.."
domain="${1:?usage: compose/generate-env.sh DOMAIN [ACME_EMAIL]}"
email="${2:-}"

if [ -e .env ]; then
    echo ".env already exists; remove it first if you really mean to replace every secret" >&2
    exit 1
fi

secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

if [ -n "$email" ]; then
    tls="tls $email"
elif [ "$domain" = "localhost" ]; then
    tls="tls internal"
else
    tls=""
fi
if [ "$domain" = "localhost" ]; then
    hsts="max-age=0"
else
    hsts="max-age=31536000; includeSubDomains"
fi

umask 077
sed \
    -e "s|^AIWFE_DOMAIN=.*|AIWFE_DOMAIN=$domain|" \
    -e "s|^AIWFE_CADDY_TLS=.*|AIWFE_CADDY_TLS=$tls|" \
    -e "s|^AIWFE_HSTS=.*|AIWFE_HSTS=$hsts|" \
    -e "s|^AIWFE_MAIL_FROM=.*|AIWFE_MAIL_FROM=aiwfe <no-reply@$domain>|" \
    -e "s|^AIWFE_SECRET_KEY=.*|AIWFE_SECRET_KEY=$(secret)$(secret)|" \
    -e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$(secret)|" \
    -e "s|^POSTGRES_APP_PASSWORD=.*|POSTGRES_APP_PASSWORD=$(secret)|" \
    -e "s|^POSTGRES_MONITOR_PASSWORD=.*|POSTGRES_MONITOR_PASSWORD=$(secret)|" \
    -e "s|^REDIS_PASSWORD=.*|REDIS_PASSWORD=$(secret)|" \
    -e "s|^GRAFANA_ADMIN_PASSWORD=.*|GRAFANA_ADMIN_PASSWORD=$(secret)|" \
    compose/env.example > .env

mkdir -p secrets
# The folder ignores itself, so nothing in it can be committed by accident.
[ -e secrets/.gitignore ] || printf '*\n' > secrets/.gitignore
for name in alertmanager-smtp-password alertmanager-pager-token; do
    [ -e "secrets/$name" ] || : > "secrets/$name"
done
echo "wrote .env (mode 0600) for https://$domain and empty secrets/alertmanager-* files"
echo "next: set the AIWFE_SMTP_* lines in .env to your mail provider's relay"
