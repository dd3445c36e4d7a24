"""rtt_sdk: Python client of the rtt HTTP API (/api/rtt).

    from rtt_sdk import RTTClient
    client = RTTClient()            # RTT_URL / RTT_TOKEN, else http://127.0.0.1:8080/api/rtt
    client.beacon(payload)

Standard library only. See README.md for the retry and event_id contract.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    RTTError,
    RTTHTTPError,
    RTTTimeoutError,
    RTTUnavailableError,
    RTTValidationError,
)
from .canonical import (  # noqa: E402
    canonical_json,
    content_id,
    derivable,
    derive_event_id,
    random_event_id,
)
from .helpers import (  # noqa: E402
    ZERO_STRUCTURE,
    build_beacon_payload,
    build_corridor_payload,
    build_topology_payload,
    build_validate_payload,
    create_profile,
    create_session_id,
    now_rfc3339,
    validate_profile,
)
from .client import DEFAULT_BASE_URL, RETRYABLE_STATUSES, RTTClient, prepare_beacon  # noqa: E402
from .background import BatchSender, HeartbeatThread  # noqa: E402

__all__ = [
    "__version__",
    "RTTClient",
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUSES",
    "HeartbeatThread",
    "BatchSender",
    "RTTError",
    "RTTHTTPError",
    "RTTValidationError",
    "RTTUnavailableError",
    "RTTTimeoutError",
    "create_profile",
    "validate_profile",
    "build_beacon_payload",
    "build_validate_payload",
    "build_corridor_payload",
    "build_topology_payload",
    "create_session_id",
    "now_rfc3339",
    "ZERO_STRUCTURE",
    "canonical_json",
    "derivable",
    "derive_event_id",
    "random_event_id",
    "content_id",
    "prepare_beacon",
]
