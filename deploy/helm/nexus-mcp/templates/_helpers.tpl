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
    (list "NEXUS_MCP_STORE_FILE" "store" $s.store.secret)
    (list "NEXUS_MCP_STORE_PASSWORD_FILE" "store-password" ($s.store.passwordSecret | default dict))
    (list "OTEL_EXPORTER_OTLP_HEADERS_FILE" "otlp-headers" .Values.telemetry.headersSecret) -}}
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

{{/*
Every refusal of values the schema cannot word, in the chart's words, each
naming the value to set; none shows a value that may hold a secret.
*/}}
{{- define "nexus-mcp.refusals" -}}
{{- $s := .Values.serve -}}
{{- if lt (int .Values.replicaCount) 2 }}
{{- fail (printf "replicaCount (%v): at least 2, so that a rolling update or a drained node always leaves one serving" .Values.replicaCount) }}
{{- end }}
{{- /* A URL's user or password: an `@` anywhere past `://` in one string, so that a
password's own `/ ? #` or space, unencoded, is caught too (a JSON string's escapes skipped). */}}
{{- $url := `[A-Za-z][A-Za-z0-9+.-]*://(?:[^"\\]|\\.)*@` }}
{{- range $key, $value := $s }}
{{- if regexMatch $url (toJson $value) }}
{{- fail (printf "serve.%s holds a URL with a user or password in it (its value is not shown): a password comes from a Secret, as a file (serve.store.secret, or serve.store.url with serve.store.passwordSecret)" $key) }}
{{- end }}
{{- end }}
{{- range $key := list "timeout" "tokenBuffer" "connectWait" }}
{{- $given := toString (index $s $key | default "") }}
{{- if and $given (not (regexMatch `^[0-9]+(\.[0-9]+)?(ms|s)?$` $given)) }}
{{- fail (printf "serve.%s (%q): a duration such as 30, 30s, 2.5s or 500ms" $key $given) }}
{{- end }}
{{- end }}
{{- if and $s.signInLife (not (regexMatch `^[0-9]+[hd]$` (toString $s.signInLife))) }}
{{- fail (printf "serve.signInLife (%q): hours or days, such as 12h or 7d" (toString $s.signInLife)) }}
{{- end }}
{{- range $s.allowSignIn }}
{{- if not (regexMatch `^[^=]+=.+$` .) }}
{{- fail (printf "serve.allowSignIn (%q): CLAIM=VALUE, such as hd=acme.com or groups=mcp-users" .) }}
{{- end }}
{{- end }}
{{- with .Values.telemetry.otlpEndpoint }}
{{- if not (regexMatch `^https?://[^\s]+$` .) }}
{{- fail "telemetry.otlpEndpoint: the collector's http:// or https:// URL, with no space (its value is not shown)" }}
{{- end }}
{{- end }}
{{- if regexMatch $url (toJson .Values.telemetry.otlpEndpoint) }}
{{- fail "telemetry.otlpEndpoint holds a user or password (its value is not shown): the collector's key comes from telemetry.headersSecret" }}
{{- end }}
{{- if and .Values.telemetry.headersSecret.name (not .Values.telemetry.otlpEndpoint) }}
{{- fail "telemetry.headersSecret needs telemetry.otlpEndpoint: the headers go to the collector that names" }}
{{- end }}
{{- if regexMatch $url (toJson .Values.gateway.url) }}
{{- fail "gateway.url holds a user or password (its value is not shown): the Gateway's api key comes from gateway.apiKeySecret" }}
{{- end }}
{{- range $s.extraArgs }}
{{- if regexMatch "^--store(=|$)" . }}
{{- fail "serve.extraArgs gives --store (its value is not shown): the store is serve.store, its password from a Secret (serve.store.secret, or serve.store.passwordSecret)" }}
{{- end }}
{{- end }}
{{- $secrets := splitList " " (include "nexus-mcp.secretVariables" .) }}
{{- range .Values.extraEnv }}
{{- if or (has .name $secrets) (has (trimSuffix "_FILE" .name) $secrets) }}
{{- fail (printf "extraEnv names %s, a secret's variable (its value is not shown): the chart sets it from the Secret named in its own value, as a file" .name) }}
{{- end }}
{{- if regexMatch $url (toJson (omit . "name")) }}
{{- fail (printf "extraEnv %s holds a URL with a user or password in it (its value is not shown): give it through valueFrom.secretKeyRef" .name) }}
{{- end }}
{{- end }}
{{- with $s.store }}
{{- if and .url .secret.name }}
{{- fail "serve.store.url and serve.store.secret.name both give the store: give one (the URL with no password in serve.store.url and its password in serve.store.passwordSecret, or the whole URL in the Secret serve.store.secret names)" }}
{{- end }}
{{- if and .secret.name .passwordSecret.name }}
{{- fail "serve.store.secret.name and serve.store.passwordSecret.name both give the store's password: the first holds the whole URL; give one" }}
{{- end }}
{{- if and .passwordSecret.name (not .url) }}
{{- fail "serve.store.passwordSecret needs serve.store.url (redis://HOST:PORT): the Secret holds the password alone" }}
{{- end }}
{{- if and .url (not (regexMatch "^rediss?://" .url)) }}
{{- fail "serve.store.url is a redis:// or rediss:// URL (its value is not shown)" }}
{{- end }}
{{- end }}
{{- if and $s.oauthProxy (not $s.loginClient.id) }}
{{- fail "serve.oauthProxy needs serve.loginClient.id: people sign in at the issuer with that client (its secret in serve.loginClient.secret for a confidential one)" }}
{{- end }}
{{- if and $s.oauthProxy (not (or $s.store.url $s.store.secret.name)) }}
{{- fail (printf "serve.oauthProxy on %v replicas or more needs serve.store: without it each replica catches a refresh token used twice alone, and a stolen one is taken on another; set serve.store.secret (a Secret holding the whole redis:// URL) or serve.store.url with serve.store.passwordSecret" (ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" (.Values.resources | default dict))) }}
{{- fail "autoscaling.enabled needs resources.requests.cpu: the HorizontalPodAutoscaler scales on the CPU used against that request, and computes nothing without it" }}
{{- end }}
{{- end -}}

{{/* The program's secret variables (its --help names them): each refused in extraEnv, as itself and as its _FILE twin. */}}
{{- define "nexus-mcp.secretVariables" -}}
NEXUS_API_KEY NEXUS_MCP_STATE_KEY NEXUS_MCP_STATE_KEYS NEXUS_MCP_LOGIN_CLIENT_SECRET NEXUS_MCP_INTROSPECTION_CLIENT_SECRET NEXUS_MCP_STORE NEXUS_MCP_STORE_PASSWORD OTEL_EXPORTER_OTLP_HEADERS
{{- end -}}

{{/* The image, as every container of the chart runs it. */}}
{{- define "nexus-mcp.image" -}}
{{ required "image.repository: where you pushed the image scripts/build-image built (skopeo copy)" .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The container's environment: the Gateway, each secret's file, the collector, the log level, extraEnv. */}}
{{- define "nexus-mcp.env" -}}
- name: NEXUS_GATEWAY_URL
  value: {{ required "gateway.url: the Nexus Gateway's URL" .Values.gateway.url | quote }}
{{- range fromYamlArray (include "nexus-mcp.secretFiles" .) }}
- name: {{ .variable }}
  value: /var/run/secrets/nexus-mcp/{{ .volume }}/{{ .key }}
{{- end }}
{{- with .Values.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.serve.logLevel }}
- name: NEXUS_LOG
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* What every container of the chart mounts: the Secrets' files, the ConfigMap's, extraVolumeMounts. */}}
{{- define "nexus-mcp.mounts" -}}
{{- range fromYamlArray (include "nexus-mcp.secretFiles" .) }}
- name: {{ .volume }}
  mountPath: /var/run/secrets/nexus-mcp/{{ .volume }}
  readOnly: true
{{- end }}
{{- if include "nexus-mcp.files" . }}
- name: files
  mountPath: /etc/nexus-mcp
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The volumes those mounts name. */}}
{{- define "nexus-mcp.volumes" -}}
{{- range fromYamlArray (include "nexus-mcp.secretFiles" .) }}
- name: {{ .volume }}
  secret:
    secretName: {{ .secret }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- if include "nexus-mcp.files" . }}
- name: files
  configMap:
    name: {{ include "nexus-mcp.fullname" . }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A container's hardening: no privilege, a read-only root, no capability. */}}
{{- define "nexus-mcp.containerSecurity" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The pod's: non-root, its volumes' files given to its group, RuntimeDefault seccomp. */}}
{{- define "nexus-mcp.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
