{{/* The release's name prefix for every object. */}}
{{- define "cloudcord.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "cloudcord.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: cloudcord
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "command-api"). */}}
{{- define "cloudcord.selector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The image of one service. */}}
{{- define "cloudcord.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .component (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* The Secret holding the database URLs. */}}
{{- define "cloudcord.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "cloudcord.fullname" .)) -}}
{{- end -}}

{{/* The Secret holding the token signing key. */}}
{{- define "cloudcord.signingKeySecret" -}}
{{- .Values.auth.signingKeySecret | default (printf "%s-signing-key" (include "cloudcord.fullname" .)) -}}
{{- end -}}

{{- define "cloudcord.vapidKeySecret" -}}
{{- .Values.push.vapidKeySecret | default (printf "%s-vapid-key" (include "cloudcord.fullname" .)) -}}
{{- end -}}

{{/*
The services, with what differs between them: the values key, the HTTP port (0:
none), which stores it needs and how it scales. Every template ranges over this.
`files`: it signs or checks attachment URLs (needs the URL key). command-api
stores uploads in GridFS, hence its `mongo`.
*/}}
{{- define "cloudcord.services" -}}
command-api: {values: commandApi, http: true, kafka: true, postgres: true, mongo: true, files: true}
query-api: {values: queryApi, http: true, kafka: false, postgres: true, mongo: true, files: true}
projectors: {values: projectors, http: false, kafka: true, postgres: true, mongo: true, files: false}
gateway-ws: {values: gatewayWs, http: true, kafka: true, postgres: true, mongo: false, files: false}
sfu: {values: sfu, http: true, kafka: true, postgres: false, mongo: false, files: false}
{{- end -}}

{{/* The Secret holding the HMAC key of attachment URLs. */}}
{{- define "cloudcord.filesSecret" -}}
{{- .Values.files.urlKeySecret | default (printf "%s-files-url-key" (include "cloudcord.fullname" .)) -}}
{{- end -}}
