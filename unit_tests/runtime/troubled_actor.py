"""A sink that reports a standing problem through ``current_error`` (status tests only)."""

from actors.runtime.synthetic_actor import SyntheticSink


class TroubledSink(SyntheticSink):
    """Runs normally but says what is wrong, as a receiver with a bad certificate would."""

    def current_error(self) -> str:
        return "relay: certificate not trusted"
