{{- define "chmigrate.env" }}
- name: CHMIGRATE_CLICKHOUSE_URL
  value: {{ .Values.clickhouse.url | quote }}
- name: CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.clickhouse.passwordSecret }}
      key: {{ .Values.clickhouse.passwordKey }}
- name: CHMIGRATE_POSTGRES_URL
  value: {{ .Values.postgres.url | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgres.passwordSecret }}
      key: {{ .Values.postgres.passwordKey }}
- name: CHMIGRATE_PROTECTED
  value: {{ .Values.protected | quote }}
{{- end }}
{{- define "chmigrate.container" }}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
resources:
  requests:
    cpu: {{ .Values.resources.requestsCpu }}
    memory: {{ .Values.resources.requestsMemory }}
  limits:
    memory: {{ .Values.resources.limitsMemory }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}
{{- define "chmigrate.podSecurity" }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
volumes:
  - name: tmp
    emptyDir: {}
{{- end }}
