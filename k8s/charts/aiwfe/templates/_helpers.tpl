{{/* Names, labels, images and the pod pieces every component shares. */}}

{{- define "aiwfe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aiwfe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>; call with (dict "ctx" $ "component" "api"). */}}
{{- define "aiwfe.componentName" -}}
{{- printf "%s-%s" (include "aiwfe.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aiwfe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aiwfe.labels" -}}
helm.sh/chart: {{ include "aiwfe.chart" . }}
app.kubernetes.io/name: {{ include "aiwfe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aiwfe
{{- end -}}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "api"). */}}
{{- define "aiwfe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aiwfe.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "aiwfe.componentLabels" -}}
{{ include "aiwfe.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "aiwfe.image" -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "aiwfe.configMapName" -}}
{{- printf "%s-config" (include "aiwfe.fullname" .) -}}
{{- end -}}

{{/* The Secret holding AIWFE_SECRET_KEY and the credentials the chart does not get from CloudNativePG. */}}
{{- define "aiwfe.secretName" -}}
{{- if eq .Values.secrets.source "existingSecret" -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-secrets" (include "aiwfe.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "aiwfe.postgresql.clusterName" -}}
{{- printf "%s-pg" (include "aiwfe.fullname" .) -}}
{{- end -}}

{{- define "aiwfe.redis.primaryHost" -}}
{{- printf "%s-redis-primary" (include "aiwfe.fullname" .) -}}
{{- end -}}

{{/* Checksums that roll the pods when their configuration or their secret's source changes. */}}
{{- define "aiwfe.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if eq .Values.secrets.source "externalSecret" }}
checksum/secret: {{ include (print .Template.BasePath "/externalsecret.yaml") . | sha256sum }}
{{- else }}
checksum/secret: {{ printf "%s/%s" .Values.secrets.source (include "aiwfe.secretName" .) | sha256sum }}
{{- end }}
{{- end -}}

{{/*
Application environment: the ConfigMap, then the secrets. The URLs of the chart-made PostgreSQL
and Redis are composed from their credentials with Kubernetes' $(VAR) expansion, so no URL with a
password is ever stored in values or a ConfigMap.
*/}}
{{- define "aiwfe.env" -}}
- name: HOME
  value: /tmp
- name: AIWFE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.secretName" . }}
      key: AIWFE_SECRET_KEY
{{- if eq .Values.postgresql.mode "cloudnativepg" }}
{{- $pg := .Values.postgresql.cloudnativepg }}
- name: DB_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.postgresql.clusterName" . }}-app
      key: username
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.postgresql.clusterName" . }}-app
      key: password
- name: AIWFE_DATABASE_URL
  value: {{ printf "postgresql+asyncpg://$(DB_USERNAME):$(DB_PASSWORD)@%s-rw:5432/%s%s" (include "aiwfe.postgresql.clusterName" .) $pg.database (ternary "?ssl=require" "" (eq $pg.sslMode "require")) | quote }}
{{- else }}
- name: AIWFE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.secretName" . }}
      key: AIWFE_DATABASE_URL
{{- end }}
{{- if eq .Values.redis.mode "internal" }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.secretName" . }}
      key: REDIS_PASSWORD
- name: AIWFE_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/0" (include "aiwfe.redis.primaryHost" .) | quote }}
{{- else }}
- name: AIWFE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.secretName" . }}
      key: AIWFE_REDIS_URL
{{- end }}
{{- /* Optional keys of the Secret (the Vault path): set them there and the pods get them. */}}
{{- range $key := list "AIWFE_BROKER_URL" "AIWFE_SMTP_PASSWORD" "AIWFE_OAUTH_PROVIDERS" "AIWFE_ENCRYPTION_KEYS" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "aiwfe.secretName" $ }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* AIWFE_PUBLIC_URL: config.publicUrl, else the Ingress host over https. */}}
{{- define "aiwfe.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "https://%s" .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{- define "aiwfe.envFrom" -}}
- configMapRef:
    name: {{ include "aiwfe.configMapName" . }}
{{- end -}}

{{- define "aiwfe.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "aiwfe.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* The only writable path of every container: an emptyDir at /tmp. */}}
{{- define "aiwfe.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolumeSizeLimit }}
{{- end -}}

{{- define "aiwfe.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "aiwfe.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Zone and node spread for a component; call with (dict "ctx" $ "component" "api"). */}}
{{- define "aiwfe.topologySpread" -}}
{{- $spread := .ctx.Values.topologySpread -}}
{{- if $spread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $spread.zone.maxSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ $spread.zone.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "aiwfe.selectorLabels" . | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
  - maxSkew: {{ $spread.hostname.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ $spread.hostname.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "aiwfe.selectorLabels" . | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end -}}

{{/* nodeSelector, tolerations, affinity of a component's values. */}}
{{- define "aiwfe.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The body limit at the ingress controller, in bytes: the API's own (config.maxBodyBytes; config.importMaxBodyBytes
with "import" true) plus ingress.bodyLimitHeadroomPercent. A body a little over the API's limit gets through
and the API answers 413 as a problem (application/problem+json); only a body far over it meets the
controller's own 413 page. Call with (dict "ctx" $ "import" false).
*/}}
{{- define "aiwfe.ingressBodyLimit" -}}
{{- $config := .ctx.Values.config -}}
{{- $limit := ternary $config.importMaxBodyBytes $config.maxBodyBytes .import | int64 -}}
{{- div (mul $limit (add 100 .ctx.Values.ingress.bodyLimitHeadroomPercent)) 100 -}}
{{- end -}}

{{/* Traefik router annotations for the release's Ingresses: HTTPS entrypoint when TLS is on. */}}
{{- define "aiwfe.traefikRouter" -}}
{{- if .Values.ingress.tls.enabled -}}
traefik.ingress.kubernetes.io/router.entrypoints: websecure
traefik.ingress.kubernetes.io/router.tls: "true"
{{- end -}}
{{- end -}}

{{/* Argo CD sync wave annotation; call with (dict "ctx" $ "wave" "data"). */}}
{{- define "aiwfe.syncWave" -}}
argocd.argoproj.io/sync-wave: {{ index .ctx.Values.argocd.syncWaves .wave | quote }}
{{- end -}}

{{/*
Values the schema cannot express across keys; each failure says what to change.
*/}}
{{- define "aiwfe.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.secrets.source "existingSecret") (not $v.secrets.existingSecret) -}}
{{- fail "secrets.source=existingSecret needs secrets.existingSecret: the name of a Secret with AIWFE_SECRET_KEY (and the other keys listed in values.yaml)" -}}
{{- end -}}
{{- if and (eq $v.secrets.source "generated") (or (eq $v.postgresql.mode "external") (eq $v.redis.mode "external")) -}}
{{- fail "secrets.source=generated cannot know an external database or Redis URL: use secrets.source=existingSecret or externalSecret" -}}
{{- end -}}
{{- if lt (int $v.worker.terminationGracePeriodSeconds) 900 -}}
{{- fail "worker.terminationGracePeriodSeconds must be >= 900, the Celery task_time_limit, so a warm shutdown never kills a running task" -}}
{{- end -}}
{{- if lt (int $v.api.terminationGracePeriodSeconds) (add $v.api.preStopSleepSeconds $v.config.gracefulShutdownSeconds) -}}
{{- fail "api.terminationGracePeriodSeconds must cover api.preStopSleepSeconds + config.gracefulShutdownSeconds" -}}
{{- end -}}
{{- if gt (int $v.worker.autoscaling.minReplicas) (int $v.worker.autoscaling.maxReplicas) -}}
{{- fail "worker.autoscaling.minReplicas must not exceed worker.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if gt (int $v.api.autoscaling.minReplicas) (int $v.api.autoscaling.maxReplicas) -}}
{{- fail "api.autoscaling.minReplicas must not exceed api.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $v.worker.autoscaling.keda.enabled (eq $v.redis.mode "external") (not $v.worker.autoscaling.keda.externalAddress) -}}
{{- fail "worker.autoscaling.keda.externalAddress (host:port) is needed when redis.mode=external" -}}
{{- end -}}
{{- if and (eq $v.postgresql.mode "cloudnativepg") $v.postgresql.cloudnativepg.backup.enabled (not $v.postgresql.cloudnativepg.backup.objectStore.destinationPath) -}}
{{- fail "postgresql.cloudnativepg.backup.enabled needs backup.objectStore.destinationPath (e.g. s3://bucket/path) and credentialsSecret" -}}
{{- end -}}
{{- if and (eq $v.postgresql.mode "cloudnativepg") $v.postgresql.cloudnativepg.backup.enabled (not $v.postgresql.cloudnativepg.backup.objectStore.credentialsSecret) -}}
{{- fail "postgresql.cloudnativepg.backup.enabled needs backup.objectStore.credentialsSecret" -}}
{{- end -}}
{{- if and $v.postgresql.cloudnativepg.recovery.enabled (not $v.postgresql.cloudnativepg.recovery.sourceServerName) -}}
{{- fail "postgresql.cloudnativepg.recovery.enabled needs recovery.sourceServerName (the old cluster's name)" -}}
{{- end -}}
{{- if and $v.postgresql.cloudnativepg.recovery.enabled (not $v.postgresql.cloudnativepg.backup.objectStore.destinationPath) -}}
{{- fail "postgresql.cloudnativepg.recovery.enabled reads from backup.objectStore: set its destinationPath and credentialsSecret" -}}
{{- end -}}
{{- /* Last, so the checks above keep their own messages. Without them mail and links point at localhost. */}}
{{- if not (include "aiwfe.publicUrl" .) -}}
{{- fail "config.publicUrl is required when the Ingress is off (the address users reach aiwfe at)" -}}
{{- end -}}
{{- if not $v.config.smtp.host -}}
{{- fail "config.smtp.host is required: the SMTP relay for verification, password-reset and reminder mail" -}}
{{- end -}}
{{- if not $v.config.mailFrom -}}
{{- fail "config.mailFrom is required: the sender of every e-mail, e.g. aiwfe <no-reply@your-domain>" -}}
{{- end -}}
{{- end -}}
