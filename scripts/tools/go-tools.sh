#!/usr/bin/env bash
# Installs the Go-built tools the deployment-kit tests run (helm, kubeconform, kube-score, actionlint) at pinned
# versions into a cache outside the repository, only when missing, and prints the bin folder.
# A second run compares each binary's build info (`go version -m`) with the pins and builds nothing.
#
#   AIWFE_TOOLS_CACHE   cache folder (default ~/.cache/aiwfe/go-tools); binaries go to its bin/
#
# kube-linter would be the usual third tool, but the Go module proxy refuses its module
# (golang.stackrox.io/kube-linter is not served); kube-score checks the same ground (probes,
# resources, security contexts, PDBs, network policies) and is served.
set -euo pipefail

CACHE="${AIWFE_TOOLS_CACHE:-$HOME/.cache/aiwfe/go-tools}"
BIN="$CACHE/bin"

HELM_VERSION=v3.22.0
# Helm's release build stamps its version and the Kubernetes version `helm template` assumes
# (that of its client-go, 1.37); without these a `go install` build would report 1.20.
HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
HELM_LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
HELM_LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"

# name|package|version|ldflags
TOOLS=(
  "helm|helm.sh/helm/v3/cmd/helm|$HELM_VERSION|$HELM_LDFLAGS"
  "kubeconform|github.com/yannh/kubeconform/cmd/kubeconform|v0.7.0|-s -w"
  "kube-score|github.com/zegl/kube-score/cmd/kube-score|v1.20.0|-s -w"
  "actionlint|github.com/rhysd/actionlint/cmd/actionlint|v1.7.12|-s -w"
)

command -v go >/dev/null || { echo "go (>= 1.24) is required to build helm, kubeconform and kube-score" >&2; exit 1; }
mkdir -p "$BIN"

# "<module version> <ldflags>" of a Go binary, from its embedded build info; empty when absent.
build_stamp() {
  [ -x "$1" ] || return 0
  go version -m "$1" 2>/dev/null | awk -F'\t' '
    $2 == "mod" { version = $4 }
    $2 == "build" && $3 ~ /^-ldflags=/ { flags = substr($3, 10); gsub(/"/, "", flags) }
    END { if (version != "") print version " " flags }'
}

install_missing() {
  local line name pkg version ldflags
  for line in "${TOOLS[@]}"; do
    IFS='|' read -r name pkg version ldflags <<<"$line"
    if [ "$(build_stamp "$BIN/$name")" = "$version $ldflags" ]; then
      continue
    fi
    echo "building $name $version (go install $pkg@$version)" >&2
    # -mod=mod lets `go install` resolve a module whose go.sum lags its go.mod.
    GOBIN="$BIN" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
      go install -ldflags "$ldflags" "$pkg@$version" >&2
    if [ "$(build_stamp "$BIN/$name")" != "$version $ldflags" ]; then
      echo "$name was built but its build info does not match $version" >&2
      exit 1
    fi
  done
}

# One builder at a time: concurrent test sessions share the cache.
if command -v flock >/dev/null; then
  exec 9>"$CACHE/.lock"
  flock 9
fi
install_missing
echo "$BIN"
