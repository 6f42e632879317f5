# The namespaces of k8s/namespaces/ (Pod Security labels included), read from the same files Argo CD
# applies, so the two installers cannot drift.
locals {
  repo_root = "${path.module}/../.."

  namespaces = {
    for file in fileset("${local.repo_root}/k8s/namespaces", "*.yaml") :
    trimsuffix(file, ".yaml") => yamldecode(file("${local.repo_root}/k8s/namespaces/${file}")).metadata
  }
}

resource "kubernetes_namespace" "aiwfe" {
  for_each = local.namespaces

  metadata {
    name   = each.value.name
    labels = each.value.labels
  }
}
