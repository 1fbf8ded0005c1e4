"""kill -9 of a process running the uplink mid-send: every spooled lossless record still arrives.

The test runs this module as a helper process (``python -m system_tests.test_uplink_crash``)
that accepts numbered lossless records and prints ``A <id>`` once ``accept`` returned ACCEPTED
(i.e. the record is in the spool). The cloud acks late, so much is in flight when the helper is
SIGKILLed. A torn partial entry is then appended to the spool's last segment (what a kill in the
middle of a write leaves). A second helper on the same spool must report the corrupt tail and
deliver every record the first one accepted.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from actors.uplink.assembly import build_uplink
from actors.uplink.settings import UplinkSettings
from actors.uplink.uplink_core import AcceptOutcome
from messages.codec import pack_records
from messages.uplink import UplinkRecordKind
from system_tests.test_uplink_outage import received_ids

pytestmark = pytest.mark.system

REPO = pathlib.Path(__file__).resolve().parent.parent


def _helper(settings_json: str, mode: str) -> int:
    settings, errors = UplinkSettings.from_mapping(json.loads(settings_json))
    if errors:
        print("SETTINGS " + "; ".join(errors), flush=True)
        return 2
    stack = build_uplink(settings)
    stack.start()
    next_id, last_report = 0, 0.0
    while True:                      # ends by signal: this process exists to be killed
        if mode == "produce":
            lines = []
            for _ in range(8):
                payload = pack_records([{"id": next_id, "pad": "q" * 300}])
                if stack.core.accept(UplinkRecordKind.EVENTS, 1, payload, True) \
                        is AcceptOutcome.ACCEPTED:
                    lines.append(f"A {next_id}\n")
                    next_id += 1
            sys.stdout.write("".join(lines))
            sys.stdout.flush()
        if time.monotonic() - last_report > 0.2:
            last_report = time.monotonic()
            print("COUNTERS " + json.dumps(stack.counters()), flush=True)
        if not stack.pump.step():
            time.sleep(0.003)


class _Helper:
    def __init__(self, settings: dict[str, object], mode: str) -> None:
        self.accepted: list[int] = []
        self.counters: dict[str, float] = {}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "system_tests.test_uplink_crash", json.dumps(settings), mode],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("A "):
                self.accepted.append(int(line[2:]))
            elif line.startswith("COUNTERS "):
                self.counters = json.loads(line[9:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_kill_9_mid_send_then_restart_delivers_every_accepted_record(tmp_path, processes):
    from sim.cloud.cloud import SimulatedCloud

    cloud = SimulatedCloud(tmp_path / "cloud", ack_every=64, ack_interval_s=0.1).start()
    cloud.stream.faults.ack_delay_s = 0.5            # plenty unacked when the kill lands
    settings = dict(cloud.uplink_settings())
    settings.update(spool_dir=str(tmp_path / "spool"), backoff_min_s=0.1, backoff_max_s=0.5,
                    heartbeat_interval_s=1.0, cloud_silence_timeout_s=5.0,
                    spool_segment_bytes=64 << 10, spool_max_bytes=32 << 20,
                    fsync_interval_s=0.02)
    first = second = None
    try:
        first = _Helper(settings, "produce")
        processes.add_pids([first.proc.pid])
        assert _wait(lambda: len(cloud.recorder.reliable) >= 400 and
                     len(first.accepted) >= 2000, 30), "helper never got going"
        first.kill()
        accepted = set(first.accepted)
        in_flight_at_kill = len(accepted) - cloud.recorder.acked_through
        assert in_flight_at_kill > 0
        segments = sorted((tmp_path / "spool").glob("seg-*.spool"))
        assert segments
        with open(segments[-1], "ab") as torn:       # a half-written next entry
            torn.write(struct.pack("<IIQ", 4096, 0xDEADBEEF, 10**9) + b"half")
        second = _Helper(settings, "drain")
        processes.add_pids([second.proc.pid])
        assert _wait(lambda: accepted <= received_ids(cloud), 40), \
            f"missing {len(accepted - received_ids(cloud))} accepted records after restart"
        assert _wait(lambda: second.counters.get("spool_corrupt_tails") == 1, 10)
        assert _wait(lambda: second.counters.get("spool_unacked_items") == 0, 20)
    finally:
        for helper in (first, second):
            if helper is not None:
                helper.kill()
        cloud.close()
    last = max(cloud.recorder.reliable)
    assert cloud.recorder.reliable == set(range(1, last + 1))
    assert last >= len(accepted)


if __name__ == "__main__":
    sys.exit(_helper(sys.argv[1], sys.argv[2]))
