#!/usr/bin/env bash
# Installs the Go-built tools the deployment-kit tests run (helm, kubeconform, kube-score, actionlint, and
# OpenTofu with the providers infra/tofu needs) at pinned versions into a cache outside the repository, only
# when missing, and prints the bin folder.
# A second run compares each binary's build info (`go version -m`, or the stamp a source build leaves) with
# the pins and builds nothing.
#
#   AIWFE_TOOLS_CACHE   cache folder (default ~/.cache/aiwfe/go-tools); binaries go to its bin/, and the
#                       OpenTofu providers are laid out as a filesystem mirror in its tofu-mirror/
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

# OpenTofu and its providers carry replace directives in their go.mod, which `go install module@version`
# refuses: their module source (from the Go module proxy, like any module) is built as the main module.
# name|module|version|package|ldflags|extra replaces (old=new@version, space separated)|patch (in scripts/tools)
# tofu is built with the local backends only (tofu-local-backends.patch says why): that halves its build.
# The providers are the newest releases the proxy serves as Go modules (later ones are not served);
# vbom.ml/util, which their Kubernetes libraries need, is served only under its GitHub name.
VBOM="vbom.ml/util=github.com/fvbommel/util@v0.0.0-20160121211510-db5cfe13f5cc"
SOURCE_BUILDS=(
  "tofu|github.com/opentofu/opentofu|v1.12.6|./cmd/tofu|-s -w -X github.com/opentofu/opentofu/version.dev=no||tofu-local-backends.patch"
  "terraform-provider-helm|github.com/hashicorp/terraform-provider-helm|v1.3.2|.|-s -w|$VBOM|"
  "terraform-provider-kubernetes|github.com/hashicorp/terraform-provider-kubernetes|v1.13.4|.|-s -w|$VBOM|"
)
MIRROR="$CACHE/tofu-mirror"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Go's official tarball installs to /usr/local/go and leaves PATH to each user's shell profile: a user
# whose profile lacks it (any account but the one that installed Go) still finds it there.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
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

build_from_source() {
  local line name module version pkg ldflags replaces patch dir work stamp want
  for line in "${SOURCE_BUILDS[@]}"; do
    IFS='|' read -r name module version pkg ldflags replaces patch <<<"$line"
    stamp="$BIN/.$name.stamp"
    # The stamp holds the line and the patch's hash: a changed patch rebuilds.
    want="$line${patch:+ $(sha256sum <"$HERE/$patch" | cut -d' ' -f1)}"
    if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
      continue
    fi
    echo "building $name $version (go build of $module@$version as the main module)" >&2
    dir="$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -n "$dir" ] || { echo "go mod download $module@$version failed" >&2; exit 1; }
    work="$(mktemp -d)"
    # A failed build (set -e) leaves no copy of the module source behind.
    trap 'rm -rf "$work"' EXIT
    cp -r "$dir/." "$work"
    chmod -R u+w "$work"
    # A module zip holds no vendor tree; a go.mod that replaces into ./vendor would point nowhere.
    rm -rf "$work/vendor"
    for replace in $replaces; do
      (cd "$work" && go mod edit -replace "$replace")
    done
    if [ -n "$patch" ]; then
      # The ceiling keeps git from taking a repository above the temp folder for the patch's root.
      (cd "$work" && GIT_CEILING_DIRECTORIES="$(dirname "$work")" git apply "$HERE/$patch") >&2
    fi
    (cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
      go build -trimpath -ldflags "$ldflags" -o "$BIN/$name" "$pkg") >&2
    rm -rf "$work"
    trap - EXIT
    printf '%s\n' "$want" >"$stamp"
  done
}

# The providers as an unpacked filesystem mirror (registry.opentofu.org/hashicorp/<type>/<version>/<os_arch>/),
# so `tofu init` needs no registry: infra/tofu's test points provider_installation at it.
lay_out_mirror() {
  local line name module version platform type target
  platform="$(go env GOOS)_$(go env GOARCH)"
  for line in "${SOURCE_BUILDS[@]}"; do
    IFS='|' read -r name module version _ <<<"$line"
    case "$name" in terraform-provider-*) ;; *) continue ;; esac
    type="${name#terraform-provider-}"
    target="$MIRROR/registry.opentofu.org/hashicorp/$type/${version#v}/$platform"
    mkdir -p "$target"
    ln -sfn "$BIN/$name" "$target/${name}_$version"
  done
}

# One builder at a time: concurrent test sessions share the cache.
if command -v flock >/dev/null; then
  exec 9>"$CACHE/.lock"
  flock 9
fi
install_missing
build_from_source
lay_out_mirror
echo "$BIN"
