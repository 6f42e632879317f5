#!/usr/bin/env bash
# Deploys one aiwfe version to an environment with Helm and waits until it is rolled out.
#
#   deploy.sh ENVIRONMENT VERSION [extra helm arguments...]
#
#   ENVIRONMENT   staging | prod: namespace aiwfe-ENVIRONMENT, values k8s/environments/ENVIRONMENT.yaml
#   VERSION       release version without the v (e.g. 1.4.0): the image tags, recorded in the release
#   AIWFE_CHART          chart to install (default: k8s/charts/aiwfe of this checkout; release.yml
#                        publishes oci://ghcr.io/aiwfe/charts/aiwfe, installed at --version VERSION)
#   AIWFE_IMAGE_DIGEST / AIWFE_WEBUI_IMAGE_DIGEST
#                        sha256:... of the api and webui images (pins them; the tag is then informative)
#   AIWFE_RELEASE        Helm release name (default aiwfe)
#   AIWFE_HELM_TIMEOUT   how long to wait for the rollout (default 5m, the rolling-update target)
#
# An upgrade runs `helm upgrade --install --atomic --wait`: a rollout that does not become ready in
# time is rolled back by Helm itself. The very first install runs without --wait because the
# migration Job is a post-install hook (docs/deploy-kubernetes.md, "Install"); the smoke test that
# follows waits for /ready instead.
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
ENVIRONMENT="$1"
VERSION="${2#v}"
shift 2

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VALUES="$ROOT/k8s/environments/$ENVIRONMENT.yaml"
[ -f "$VALUES" ] || { echo "deploy: no values file $VALUES for environment '$ENVIRONMENT'" >&2; exit 2; }
NAMESPACE="aiwfe-$ENVIRONMENT"
RELEASE="${AIWFE_RELEASE:-aiwfe}"
CHART="${AIWFE_CHART:-$ROOT/k8s/charts/aiwfe}"
TIMEOUT="${AIWFE_HELM_TIMEOUT:-5m}"

args=(upgrade --install "$RELEASE" "$CHART" --namespace "$NAMESPACE" --values "$VALUES"
  --set-string "image.tag=$VERSION" --set-string "webui.image.tag=$VERSION"
  --description "aiwfe $VERSION (${GITHUB_SHA:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)})"
  --timeout "$TIMEOUT")
case "$CHART" in oci://*) args+=(--version "$VERSION") ;; esac
[ -z "${AIWFE_IMAGE_DIGEST:-}" ] || args+=(--set-string "image.digest=$AIWFE_IMAGE_DIGEST")
[ -z "${AIWFE_WEBUI_IMAGE_DIGEST:-}" ] || args+=(--set-string "webui.image.digest=$AIWFE_WEBUI_IMAGE_DIGEST")

if helm status "$RELEASE" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "deploy: upgrading $RELEASE in $NAMESPACE to $VERSION (atomic, wait $TIMEOUT)" >&2
  args+=(--atomic --wait)
else
  echo "deploy: first install of $RELEASE in $NAMESPACE ($VERSION); migrations run as a post-install hook" >&2
fi
helm "${args[@]}" "$@"
helm history "$RELEASE" --namespace "$NAMESPACE" --max 3
