# aiwfe per environment: the chart of this repository with k8s/environments/<env>.yaml, in aiwfe-<env>.
# No wait on install: the migration Job is a post-install hook, so the API turns ready only after it
# (docs/deploy-kubernetes.md, "Install"); `helm test aiwfe -n aiwfe-<env>` checks the result.
locals {
  images = {
    for env, release in var.environments : env => {
      image = merge(
        release.image_tag == "" ? {} : { tag = release.image_tag },
        release.image_digest == "" ? {} : { digest = release.image_digest },
      )
      webui = {
        image = merge(
          release.image_tag == "" ? {} : { tag = release.image_tag },
          release.webui_image_digest == "" ? {} : { digest = release.webui_image_digest },
        )
      }
    }
  }
}

resource "helm_release" "aiwfe" {
  for_each = var.environments

  name      = "aiwfe"
  chart     = "${local.repo_root}/k8s/charts/aiwfe"
  namespace = kubernetes_namespace.aiwfe["aiwfe-${each.key}"].metadata[0].name
  values = [
    file("${local.repo_root}/k8s/environments/${each.key}.yaml"),
    yamlencode(local.images[each.key]),
  ]
  wait        = false
  timeout     = 600
  max_history = 10

  depends_on = [helm_release.operators, helm_release.addons, helm_release.ingress_nginx]
}
