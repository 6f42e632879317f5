{{/* NetworkPolicy building blocks: who may talk to PostgreSQL, Redis, the outside world. */}}

{{- define "aiwfe.np.namespace" -}}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ . }}
{{- end -}}

{{/* Pods of some components of this release; call with (dict "ctx" $ "components" (list "api" ...)). */}}
{{- define "aiwfe.np.components" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/name: {{ include "aiwfe.name" .ctx }}
    app.kubernetes.io/instance: {{ .ctx.Release.Name }}
  matchExpressions:
    - key: app.kubernetes.io/component
      operator: In
      values: {{ toJson .components }}
{{- end -}}

{{- define "aiwfe.np.egressPostgres" -}}
{{- if eq .Values.postgresql.mode "cloudnativepg" }}
- to:
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "aiwfe.postgresql.clusterName" . }}
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- {{- with .Values.postgresql.external.cidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ .Values.postgresql.external.port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{- define "aiwfe.np.egressRedis" -}}
{{- if eq .Values.redis.mode "internal" }}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/instance: {{ .Release.Name }}
          aiwfe.dev/redis: "true"
  ports:
    - port: 6379
      protocol: TCP
{{- else }}
- {{- with .Values.redis.external.cidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ .Values.redis.external.port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/* Egress to a list of {cidr, except, ports}. */}}
{{- define "aiwfe.np.egressCidrs" -}}
{{- range . }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
        {{- with .except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
  ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}

{{/* Traces to an OTLP collector in the monitoring namespace, when tracing is configured. */}}
{{- define "aiwfe.np.egressOtlp" -}}
{{- if .Values.config.otlpEndpoint }}
- to:
    - {{ include "aiwfe.np.namespace" .Values.networkPolicy.monitoringNamespace | nindent 6 | trim }}
  ports:
    - port: 4318
      protocol: TCP
{{- end }}
{{- end -}}
