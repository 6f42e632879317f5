output "namespaces" {
  description = "Namespaces made from k8s/namespaces/."
  value       = sort([for ns in kubernetes_namespace.aiwfe : ns.metadata[0].name])
}

output "platform_charts" {
  description = "Platform charts installed: name => chart@version in namespace."
  value       = { for name, app in local.platform : name => "${app.chart}@${app.version} in ${app.namespace}" }
}

output "releases" {
  description = "aiwfe releases: environment => namespace."
  value       = { for env, release in helm_release.aiwfe : env => release.namespace }
}
