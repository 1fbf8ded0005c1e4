{{/*
The operator's topology file (actors/runtime/topology.py), rendered from values. Each seed value
maps to components: disableFlows removes the hubble_flows shards, istio.enabled adds envoy_als,
otel.enabled adds metrics_ring with its OTLP receiver inside (one process; a separate
otlp_receiver component is for topologies that want it apart). `kestrel-operator topology
validate` checks it.
*/}}
{{- define "kestrel.topology" -}}
{{- $op := .Values.operator -}}
{{- $flows := include "kestrel.flowsEnabled" . -}}
operator:
  cluster_name: {{ default .Release.Namespace .Values.clusterName | quote }}
  status: {host: 0.0.0.0, port: {{ $op.statusPort }}}
  actor_system: {admin_port: 0}
  logging: {format: {{ $op.logging.format }}, level: {{ $op.logging.level }}}
  drain_timeout: 10s
  shutdown_timeout: 20s
actors:
  supervisor/root:
    strategy: one_for_one
    max_restarts: 10
    within: 60s
    # downstream first: everything feeds the uplink; the kube watcher feeds the others.
    # Flow shards and the metrics ring (which serves OTLP itself) sit directly under the root,
    # as in DESIGN §3: every supervisor or receiver is a process of its own (~10-15 MiB PSS).
    # The price: their restarts count against the root's intensity.
    children:
      - supervisor/uplink
      - command_runner/main
      {{- if $op.otel.enabled }}
      - metrics_ring/main
      {{- end }}
      {{- if $flows }}
      {{- range $i := until (int $op.cilium.shards) }}
      - hubble_flows/shard-{{ $i }}
      {{- end }}
      {{- end }}
      {{- if $op.istio.enabled }}
      - envoy_als/main
      {{- end }}
      - supervisor/kube
  supervisor/uplink:
    strategy: one_for_one
    children: [cloud_uplink/main]
  cloud_uplink/main:
    cluster_id: {{ default .Release.Namespace .Values.clusterName | quote }}
    server_address: {{ .Values.server.address | quote }}
    server_name: {{ .Values.server.serverName | quote }}
    token_url: {{ .Values.server.tokenUrl | quote }}
    client_id_file: /var/run/secrets/kestrel/auth/client-id
    client_secret_file: /var/run/secrets/kestrel/auth/client-secret
    cert_file: /var/run/secrets/kestrel/tls/tls.crt
    key_file: /var/run/secrets/kestrel/tls/tls.key
    ca_file: /var/run/secrets/kestrel/tls/ca.crt
    spool_dir: /var/lib/kestrel/spool
  command_runner/main:
    safe_apply: {{ $op.safeApply.enabled }}
    timeout_s: {{ $op.commands.timeoutSeconds }}
    max_output_bytes: {{ int $op.commands.maxOutputBytes }}
    concurrency: {{ $op.commands.concurrency }}
    hubble_relay_address: {{ $op.cilium.hubble.address | quote }}
    hubble_tls_enabled: {{ $op.cilium.hubble.tls.enabled }}
    hubble_tls_server_name: {{ $op.cilium.hubble.tls.serverName | quote }}
    hubble_tls_ca_secret: {{ $op.cilium.hubble.tls.caSecret | quote }}
    hubble_tls_client_secret: {{ $op.cilium.hubble.tls.clientSecret | quote }}
    {{- with $op.commands.extraShellAllowlist }}
    extra_shell_allowlist: {{ toJson . }}
    {{- end }}
  {{- if $op.otel.enabled }}
  metrics_ring/main:
    retention: {{ $op.metricsStore.retention | quote }}
    max_series: {{ int $op.metricsStore.maxSeries }}
    ring_size: {{ $op.metricsStore.ringSize }}
    receiver: {enabled: true, port: {{ $op.otel.receiverPort }}}
  {{- end }}
  supervisor/kube:
    strategy: one_for_one
    children: [pod_logs/main, kube_watcher/main]
  kube_watcher/main:
    not_ready_threshold: {{ $op.kube.notReadyThreshold | quote }}
  pod_logs/main:
    capture_lines: {{ $op.kube.logCapture.lines }}
    capture_max_bytes: {{ int $op.kube.logCapture.maxBytes }}
    stream_namespace_label: {{ $op.kube.streamLogsNamespaceLabel | quote }}
    max_streams: {{ int $op.kube.maxLogStreams }}
  {{- if $flows }}
  {{- range $i := until (int $op.cilium.shards) }}
  hubble_flows/shard-{{ $i }}:
    relay_address: {{ $op.cilium.hubble.address | quote }}
    tls_enabled: {{ $op.cilium.hubble.tls.enabled }}
    tls_server_name: {{ $op.cilium.hubble.tls.serverName | quote }}
    tls_ca_secret: {{ $op.cilium.hubble.tls.caSecret | quote }}
    tls_client_secret: {{ $op.cilium.hubble.tls.clientSecret | quote }}
    shard_index: {{ $i }}
    shard_count: {{ $op.cilium.shards }}
  {{- end }}
  {{- end }}
  {{- if $op.istio.enabled }}
  envoy_als/main:
    port: {{ $op.istio.alsPort }}
  {{- end }}
links:
  # data to the cloud (lossless kinds block; flows and L7 are lossy and drop oldest, counted)
  - {from: kube_watcher/main, to: cloud_uplink/main, window: 8, overflow: block}
  - {from: pod_logs/main, to: cloud_uplink/main, window: 4, overflow: block}
  - {from: kube_watcher/main, to: pod_logs/main, window: 4, overflow: block}
  # cloud commands to their owners (request links) and the answers back
  - {from: cloud_uplink/main, to: command_runner/main, window: 4, overflow: block, request: true}
  - {from: command_runner/main, to: cloud_uplink/main, window: 4, overflow: block}
  - {from: cloud_uplink/main, to: pod_logs/main, window: 4, overflow: block, request: true}
  - {from: cloud_uplink/main, to: kube_watcher/main, window: 2, overflow: block, request: true}
  {{- if $op.otel.enabled }}
  - {from: cloud_uplink/main, to: metrics_ring/main, window: 4, overflow: block, request: true}
  - {from: metrics_ring/main, to: cloud_uplink/main, window: 4, overflow: block}
  - {from: kube_watcher/main, to: metrics_ring/main, window: 4, overflow: block}
  {{- end }}
  {{- if $flows }}
  {{- range $i := until (int $op.cilium.shards) }}
  - {from: hubble_flows/shard-{{ $i }}, to: cloud_uplink/main, window: 8, overflow: drop_oldest}
  - {from: kube_watcher/main, to: hubble_flows/shard-{{ $i }}, window: 4, overflow: block}
  {{- end }}
  {{- end }}
  {{- if $op.istio.enabled }}
  - {from: envoy_als/main, to: cloud_uplink/main, window: 8, overflow: drop_oldest}
  - {from: kube_watcher/main, to: envoy_als/main, window: 4, overflow: block}
  {{- end }}
{{- end -}}
