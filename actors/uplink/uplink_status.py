"""The CloudUplink's status counters, picked from the uplink stack's raw counters (plain logic).

``uplink_status_counters(raw, last_error)`` keeps the gauges as they are (``connected`` is what
the readiness check reads), renames monotonically increasing counters with a ``_total`` suffix,
derives ``reconnects_total`` (stream attempts after the first) and ``commands_answered_total``
(owner and local answers), and classifies the adapter's last error text as a number
(``last_error_code``) because status counters are numbers; the text itself is logged by the
actor. Missing raw counters read as 0, never raise.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["last_error_code", "uplink_status_counters"]

GAUGES = ("connected", "acked_sequence", "next_sequence", "sent_sequence", "spool_bytes",
          "spool_segments", "spool_unacked_items", "oldest_unacked_age_s", "in_flight_items",
          "lossy_buffered_records", "commands_pending", "control_backlog", "token_seconds_left")
TOTALS = ("lossless_accepted_records", "lossy_accepted_records", "lossy_dropped_records",
          "lossy_dropped_batches", "sessions", "stream_failures", "stream_tls_errors",
          "stream_token_errors", "token_fetches", "token_failures", "stream_token_refreshed_ahead",
          "stream_heartbeats_sent", "frames_sent", "resent_reliable", "bogus_acks",
          "spool_corrupt_tails", "commands_received", "commands_duplicate", "commands_expired",
          "commands_late_or_unknown_results")
_ERROR_CLASSES = (("TLS", 1), ("token", 2), ("cloud refused the token", 3),
                  ("no Welcome", 4), ("cloud silent", 4), ("stream ", 5))


def last_error_code(text: str) -> float:
    """0 none, 1 TLS, 2 token endpoint, 3 token refused, 4 no Welcome / silent cloud, 5 stream
    closed by the cloud or the network, 9 anything else."""
    if not text:
        return 0.0
    return float(max((code for prefix, code in _ERROR_CLASSES if text.startswith(prefix)),
                     default=9))


def uplink_status_counters(raw: Mapping[str, float], last_error: str) -> dict[str, float]:
    out = {name: float(raw.get(name, 0.0)) for name in GAUGES}
    out.update({f"{name}_total": float(raw.get(name, 0.0)) for name in TOTALS})
    out["reconnects_total"] = max(0.0, float(raw.get("stream_attempts", 0.0)) - 1.0)
    out["commands_answered_total"] = float(sum(
        value for name, value in raw.items()
        if name.startswith(("commands_completed.", "commands_answered_locally."))))
    out["last_error_code"] = last_error_code(last_error)
    return out
