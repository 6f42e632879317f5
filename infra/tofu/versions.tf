# OpenTofu >= 1.12 (built from its Go module by scripts/tools/go-tools.sh). The providers are pinned to the
# newest releases the Go module proxy serves as Go modules (helm 1.3.2, kubernetes 1.13.4), which is how
# `make test` builds them and runs `tofu init` offline from a filesystem mirror (docs/deploy-kubernetes.md,
# "OpenTofu"). On a machine that reaches the OpenTofu registry the same constraints resolve there.
terraform {
  required_version = ">= 1.12.0"

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 1.3.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 1.13.4"
    }
  }
}
