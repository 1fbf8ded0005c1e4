"""Kubernetes ingestion: list+watch, converters, incident monitors, pod-log capture.

Logic (no thespian, no sockets, injected clocks) and how actors wire it:
- ``watch_state.WatchState(converters.RESOURCES[resource], Backoff, clock)``: one per watched
  resource. Loop: ``step = state.next_step()`` → LIST: ``state.on_list_body(
  adapter.list_page(step.path, limit=, continue_token=step.continue_token,
  field_selector=step.field_selector))``; WATCH: ``state.on_watch_line(line)`` for each line of
  ``adapter.watch(step.path, resource_version=step.resource_version, timeout_seconds=, ...)``
  then ``state.on_watch_closed()``; WAIT: come back after ``step.delay_s``. Any
  ``errors.KubeApiError``/``KubeTransportError`` goes to ``state.on_failure(exc)``. Every call
  returns deltas ``(op, kind, (kind, ns, name), record)``. ``state.synced`` turning True is the
  moment to send ``KubeResourceSynced``. WatchState is single-threaded: call it from one thread.
- ``incident_monitors.IncidentMonitors``: hook into ``state.observers`` of pods, nodes, events,
  deployments, statefulsets and daemonsets (``observe(resource, event_type, obj)``) and call
  ``tick()`` every few seconds; returns signal records (``incident_signals``).
- ``policy_targets.PolicyTargets(workload_index.WorkloadIndex())`` then
  ``inventory.InventoryTracker``: in the actor that owns the inventory,
  ``tracker.apply(targets.process(deltas))``, ``mark_synced(kinds)``, ``open_session(id)``,
  ``drain(n)`` while the uplink link has credit. ``targets.index`` is the shared read API
  (``workload_of_pod``, ``pod_by_ip``, ``pods_matching``).
- ``pod_logs.LogCapturePlanner``: ``on_signals(signals)``, ``next_requests()``,
  ``finished(request)``; fetch with ``adapter.pod_log`` and read with ``log_errors.parse_log``.
- ``delta_batches``: deltas / inventory output / signals ⇄ ``messages.kube`` payloads.
The only I/O is ``kube_http_adapter.KubeHttpAdapter``.
"""
