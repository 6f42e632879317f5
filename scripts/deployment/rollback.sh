#!/usr/bin/env bash
# Rolls an aiwfe environment back to an earlier Helm revision and waits for the rollout.
#
#   rollback.sh ENVIRONMENT [REVISION]
#
#   ENVIRONMENT   staging | prod (namespace aiwfe-ENVIRONMENT)
#   REVISION      the revision to return to (`helm history aiwfe -n aiwfe-ENVIRONMENT`);
#                 default: the one before the current
#   AIWFE_RELEASE        Helm release name (default aiwfe)
#   AIWFE_HELM_TIMEOUT   how long to wait for the rollout (default 5m)
#
# A rollback runs no migration: the older code runs on the newer schema, which is why migrations are
# expand/contract (docs/deploy-kubernetes.md, "Rollback").
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
NAMESPACE="aiwfe-$1"
REVISION="${2:-}"
RELEASE="${AIWFE_RELEASE:-aiwfe}"

if [ -z "$REVISION" ]; then
  current="$(helm status "$RELEASE" --namespace "$NAMESPACE" --output json | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')"
  if [ "$current" -le 1 ]; then
    echo "rollback: $RELEASE in $NAMESPACE has no revision before $current; nothing to roll back to" >&2
    exit 1
  fi
  REVISION=$((current - 1))
fi
echo "rollback: $RELEASE in $NAMESPACE to revision $REVISION" >&2
helm rollback "$RELEASE" "$REVISION" --namespace "$NAMESPACE" --wait --timeout "${AIWFE_HELM_TIMEOUT:-5m}" --cleanup-on-fail
helm history "$RELEASE" --namespace "$NAMESPACE" --max 3
