variable "kubeconfig_path" {
  description = "Kubeconfig of the existing cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Context of the kubeconfig to use; null = its current context."
  type        = string
  default     = null
}

variable "platform_apps" {
  description = <<-EOT
    Platform charts to install, by the name of their Argo CD Application in k8s/argocd/apps/ (chart,
    version, namespace and values are read from there, so both installers install the same thing).
    Empty when Argo CD (k8s/argocd/root.yaml) owns the platform: never both.
  EOT
  type        = set(string)
  default = [
    "cert-manager",
    "cloudnative-pg",
    "external-secrets",
    "keda",
    "kube-prometheus-stack",
    "plugin-barman-cloud",
    "loki",
    "alloy",
  ]

  validation {
    condition = alltrue([
      for name in var.platform_apps : fileexists("${path.module}/../../k8s/argocd/apps/${name}.yaml")
    ])
    error_message = "Each platform app must be an Application of k8s/argocd/apps/ (e.g. cert-manager)."
  }
}

variable "ingress_nginx_version" {
  description = <<-EOT
    Version of the ingress-nginx chart to install into the namespace ingress-nginx (the class "nginx" and
    the namespace the environments' NetworkPolicies admit); null = the cluster already has an ingress
    controller (docs/deploy-kubernetes.md, "What the cluster needs").
  EOT
  type        = string
  default     = null
}

variable "environments" {
  description = <<-EOT
    aiwfe releases to install, keyed by environment (values from k8s/environments/<key>.yaml, namespace
    aiwfe-<key>). Leave out an environment the Deploy workflow deploys: one deployer per environment.
    Images: digest pins (sha256:...), tag = the chart's appVersion when empty.
  EOT
  type = map(object({
    image_tag          = optional(string, "")
    image_digest       = optional(string, "")
    webui_image_digest = optional(string, "")
  }))
  default = {
    staging = {}
    prod    = {}
  }

  validation {
    condition     = alltrue([for env in keys(var.environments) : contains(["staging", "prod"], env)])
    error_message = "Environments are staging and prod (k8s/environments/*.yaml)."
  }

  validation {
    condition = alltrue([
      for env in values(var.environments) : alltrue([
        for digest in [env.image_digest, env.webui_image_digest] : digest == "" || can(regex("^sha256:[0-9a-f]{64}$", digest))
      ])
    ])
    error_message = "Image digests are sha256:<64 hex digits>."
  }
}
