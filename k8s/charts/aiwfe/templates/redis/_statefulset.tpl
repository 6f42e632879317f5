{{/* A Redis StatefulSet; call with (dict "ctx" $ "role" "primary"|"replica" "replicas" N). */}}
{{- define "aiwfe.redis.statefulset" -}}
{{- $ := .ctx -}}
{{- $r := $.Values.redis -}}
{{- $ctx := dict "ctx" $ "component" (printf "redis-%s" .role) -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ include "aiwfe.componentName" $ctx }}
  labels:
    {{- include "aiwfe.componentLabels" $ctx | nindent 4 }}
  annotations:
    {{- include "aiwfe.syncWave" (dict "ctx" $ "wave" "data") | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  serviceName: {{ include "aiwfe.fullname" $ }}-redis-headless
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      {{- include "aiwfe.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "aiwfe.componentLabels" $ctx | nindent 8 }}
        aiwfe.dev/redis: "true"
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/redis/configmap.yaml") $ | sha256sum }}
    spec:
      serviceAccountName: {{ include "aiwfe.fullname" $ }}-redis
      automountServiceAccountToken: false
      # The chart's UID, not the image's redis user: the PVC is writable through fsGroup.
      securityContext:
        {{- include "aiwfe.podSecurityContext" $ | nindent 8 }}
      terminationGracePeriodSeconds: 30
      {{- with $r.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      affinity:
        {{- if $r.affinity }}
        {{- toYaml $r.affinity | nindent 8 }}
        {{- else }}
        # Primary and replicas on different nodes, so one node loss keeps a copy.
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    app.kubernetes.io/instance: {{ $.Release.Name }}
                    aiwfe.dev/redis: "true"
        {{- end }}
      containers:
        - name: redis
          image: {{ include "aiwfe.image" (dict "image" $r.image "ctx" $) }}
          imagePullPolicy: {{ $r.image.pullPolicy }}
          command: ["sh", "-c"]
          args:
            - |
              umask 077
              printf 'requirepass "%s"\nmasterauth "%s"\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD" > /tmp/redis-auth.conf
              {{- if eq .role "primary" }}
              exec redis-server /etc/redis/redis.conf
              {{- else }}
              exec redis-server /etc/redis/redis.conf --replicaof {{ include "aiwfe.redis.primaryHost" $ }} 6379
              {{- end }}
          ports:
            - name: redis
              containerPort: 6379
              protocol: TCP
          env:
            - name: REDIS_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ include "aiwfe.secretName" $ }}
                  key: REDIS_PASSWORD
            # redis-cli reads the password from here, keeping it out of the probe's command line.
            - name: REDISCLI_AUTH
              valueFrom:
                secretKeyRef:
                  name: {{ include "aiwfe.secretName" $ }}
                  key: REDIS_PASSWORD
          startupProbe:
            tcpSocket:
              port: redis
            periodSeconds: 2
            failureThreshold: 30
          readinessProbe:
            exec:
              command: ["sh", "-c", "redis-cli -h 127.0.0.1 ping | grep -q PONG"]
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          livenessProbe:
            tcpSocket:
              port: redis
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml $r.resources | nindent 12 }}
          securityContext:
            {{- include "aiwfe.containerSecurityContext" $ | nindent 12 }}
          volumeMounts:
            - name: data
              mountPath: /data
            - name: config
              mountPath: /etc/redis
              readOnly: true
            {{- include "aiwfe.tmpVolumeMount" $ | nindent 12 }}
        {{- if $r.exporter.enabled }}
        # redis_exporter next to each Redis: redis_up, memory and rejected connections for the Redis
        # alerts and dashboard (the same exporter compose runs), scraped by the PodMonitor.
        - name: exporter
          image: {{ include "aiwfe.image" (dict "image" $r.exporter.image "ctx" $) }}
          imagePullPolicy: {{ $r.exporter.image.pullPolicy }}
          env:
            - name: REDIS_ADDR
              value: redis://127.0.0.1:6379
            - name: REDIS_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ include "aiwfe.secretName" $ }}
                  key: REDIS_PASSWORD
            - name: REDIS_EXPORTER_WEB_LISTEN_ADDRESS
              value: ":9121"
          ports:
            - name: metrics
              containerPort: 9121
              protocol: TCP
          readinessProbe:
            httpGet:
              path: /health
              port: metrics
            periodSeconds: 10
            timeoutSeconds: 3
          livenessProbe:
            tcpSocket:
              port: metrics
            periodSeconds: 20
            timeoutSeconds: 3
          resources:
            {{- toYaml $r.exporter.resources | nindent 12 }}
          securityContext:
            {{- include "aiwfe.containerSecurityContext" $ | nindent 12 }}
          volumeMounts:
            {{- include "aiwfe.tmpVolumeMount" $ | nindent 12 }}
        {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "aiwfe.fullname" $ }}-redis
        {{- include "aiwfe.tmpVolume" $ | nindent 8 }}
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- include "aiwfe.selectorLabels" $ctx | nindent 10 }}
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with $r.persistence.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $r.persistence.size }}
{{- end -}}
