{{/* The release's name for its objects: the release's own, or release-chart. */}}
{{- define "nexus-mcp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexus-mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nexus-mcp.labels" -}}
{{ include "nexus-mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
One flag as serve reads it, from (list NAME VALUE): `--NAME=VALUE` for a
string or number, once per item of a list, `--NAME` for true; nothing for
an empty value, so the program's default holds.
*/}}
{{- define "nexus-mcp.flag" -}}
{{- $name := index . 0 -}}
{{- $value := index . 1 -}}
{{- if kindIs "bool" $value -}}
{{- if $value }}
- {{ printf "--%s" $name | quote }}
{{- end -}}
{{- else if kindIs "slice" $value -}}
{{- range $value }}
- {{ printf "--%s=%v" $name . | quote }}
{{- end -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- if ne (toString $value) "" }}
- {{ printf "--%s=%v" $name $value | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The files the ConfigMap holds, mounted at /etc/nexus-mcp. */}}
{{- define "nexus-mcp.files" -}}
{{- with .Values.policy }}
policy.cedar: |
  {{- . | nindent 2 }}
{{- end }}
{{- with .Values.denyList }}
deny.txt: |
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* serve's arguments, in the order its guide lists the flags. */}}
{{- define "nexus-mcp.args" -}}
{{- $s := .Values.serve -}}
- serve
{{- include "nexus-mcp.flag" (list "listen" (printf "%s:%v" .Values.bindAddress .Values.ports.http)) }}
{{- include "nexus-mcp.flag" (list "public-url" (required "serve.publicUrl: the URL hosts reach, MCP at its path (https://mcp.example.com/mcp)" $s.publicUrl)) }}
{{- include "nexus-mcp.flag" (list "issuer" (required "serve.issuer: the authorization server, exactly as its tokens name it" $s.issuer)) }}
{{- range $flag := list
    (list "audience" $s.audiences)
    (list "subject-claim" $s.subjectClaim)
    (list "group-claim" $s.groupClaims)
    (list "policy-claim" $s.policyClaims)
    (list "scope" $s.scopes)
    (list "workspace-claim" $s.workspaceClaim)
    (list "workspace-prefix" $s.workspacePrefix)
    (list "allowed-origin" $s.allowedOrigins)
    (list "login-scope" $s.loginScopes)
    (list "login-client-id" $s.loginClient.id)
    (list "oauth-proxy" $s.oauthProxy)
    (list "oauth-client-document-origin" $s.clientDocumentOrigins)
    (list "introspection-client-id" $s.introspectionClient.id)
    (list "store" $s.store.url)
    (list "sign-in-life" $s.signInLife)
    (list "allow-sign-in" $s.allowSignIn)
    (list "person-rate" $s.personRate)
    (list "provider" $s.providers)
    (list "allow-write" $s.allowWrite)
    (list "timeout" $s.timeout)
    (list "token-buffer" $s.tokenBuffer)
    (list "connect" $s.connect)
    (list "connect-wait" $s.connectWait)
    (list "return-url" $s.returnUrl)
    (list "account" $s.accounts)
    (list "log-format" $s.logFormat) }}
{{- include "nexus-mcp.flag" $flag }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- include "nexus-mcp.flag" (list "metrics-listen" (printf "%s:%v" .Values.bindAddress .Values.ports.metrics)) }}
{{- end }}
{{- if .Values.policy }}
- --policy=/etc/nexus-mcp/policy.cedar
{{- end }}
{{- if .Values.denyList }}
- --deny-file=/etc/nexus-mcp/deny.txt
{{- end }}
{{- range $s.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The Secrets mounted as files, each (list VARIABLE VOLUME SECRET): the
variable names the file, under /var/run/secrets/nexus-mcp/VOLUME/.
*/}}
{{- define "nexus-mcp.secretFiles" -}}
{{- $s := .Values.serve -}}
{{- $_ := required "gateway.apiKeySecret.name: the Secret holding the Gateway's api key" .Values.gateway.apiKeySecret.name -}}
{{- $_ := required "stateKeysSecret.name: the Secret holding the keyring every replica shares" .Values.stateKeysSecret.name -}}
{{- $files := list
    (list "NEXUS_API_KEY_FILE" "api-key" .Values.gateway.apiKeySecret)
    (list "NEXUS_MCP_STATE_KEYS_FILE" "state-keys" .Values.stateKeysSecret)
    (list "NEXUS_MCP_LOGIN_CLIENT_SECRET_FILE" "login-client" $s.loginClient.secret)
    (list "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET_FILE" "introspection-client" $s.introspectionClient.secret)
    (list "NEXUS_MCP_STORE_FILE" "store" $s.store.secret) -}}
{{- range $files }}
{{- $secret := index . 2 }}
{{- if $secret.name }}
- variable: {{ index . 0 }}
  volume: {{ index . 1 }}
  secret: {{ $secret.name }}
  key: {{ $secret.key }}
{{- end }}
{{- end }}
{{- end -}}
