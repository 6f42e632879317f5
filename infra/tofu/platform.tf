# The operators and monitoring the chart needs (CloudNativePG and its Barman Cloud plugin, KEDA,
# cert-manager, external-secrets, the Prometheus operator's CRDs, Loki, Alloy), installed from the chart,
# version and values of their Argo CD Applications. Argo CD's sync waves give the order: wave -5 (the
# operators and their CRDs) before wave -4 (what needs them: the plugin needs cert-manager, Alloy needs Loki).
locals {
  apps = {
    for name in var.platform_apps : name => yamldecode(file("${local.repo_root}/k8s/argocd/apps/${name}.yaml"))
  }

  platform = {
    for name, app in local.apps : name => {
      repository       = app.spec.source.repoURL
      chart            = app.spec.source.chart
      version          = app.spec.source.targetRevision
      namespace        = app.spec.destination.namespace
      create_namespace = contains(try(app.spec.syncPolicy.syncOptions, []), "CreateNamespace=true")
      wave             = tonumber(app.metadata.annotations["argocd.argoproj.io/sync-wave"])
      values           = yamlencode(try(app.spec.source.helm.valuesObject, {}))
    }
  }
}

resource "helm_release" "operators" {
  for_each = { for name, app in local.platform : name => app if app.wave <= -5 }

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = each.value.version
  namespace        = each.value.namespace
  create_namespace = each.value.create_namespace
  values           = [each.value.values]
  atomic           = true
  timeout          = 600

  depends_on = [kubernetes_namespace.aiwfe]
}

resource "helm_release" "addons" {
  for_each = { for name, app in local.platform : name => app if app.wave > -5 }

  name             = each.key
  repository       = each.value.repository
  chart            = each.value.chart
  version          = each.value.version
  namespace        = each.value.namespace
  create_namespace = each.value.create_namespace
  values           = [each.value.values]
  atomic           = true
  timeout          = 600

  depends_on = [helm_release.operators]
}

resource "helm_release" "ingress_nginx" {
  count = var.ingress_nginx_version == null ? 0 : 1

  name             = "ingress-nginx"
  repository       = "https://kubernetes.github.io/ingress-nginx"
  chart            = "ingress-nginx"
  version          = var.ingress_nginx_version
  namespace        = "ingress-nginx"
  create_namespace = true
  atomic           = true
  timeout          = 600
}
