"""What to simulate: the run as a whole and each charger in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voltbill.domain.errors import InvalidInput

PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
KINDS = ("ac", "dc")
# OCPP 1.6 IdToken is CiString20Type; OCPP 2.0.1 IdTokenType.idToken is identifierString[36]
ID_TAG_MAX = {"ocpp1.6": 20, "ocpp2.0.1": 36}


@dataclass(frozen=True)
class ChargerSpec:
    """One simulated charger: ``charger_id`` (OCPP identity), ``password`` (HTTP Basic, None = no auth),
    ``id_tag`` it authorizes with, ``protocol`` (``ocpp1.6``/``ocpp2.0.1``), ``kind`` (``ac``/``dc``) and
    ``limit_w`` the connector's maximum power (W)."""

    charger_id: str
    password: str | None
    id_tag: str
    protocol: str
    kind: str
    limit_w: float


@dataclass(frozen=True)
class SimulationConfig:
    """A simulation run. Intervals and durations marked *simulated* are divided by ``speed`` on the wall clock.

    ``url`` base OCPP URL (the charger id is appended); ``sessions`` per charger (0 = until ``duration_s``);
    ``heartbeat_interval_s`` (simulated; None = the interval the server sets at boot); ``meter_interval_s``
    (simulated); ``max_session_s`` / ``idle_s`` / ``gap_s`` (simulated: longest charge, parking after charging
    with SuspendedEV, pause between sessions; a charge ends when the car is full or when its driver's stay, drawn
    between half and all of ``max_session_s``, is over); ``duration_s`` wall-clock limit of the run (None = until all
    sessions are done); ``ramp_s`` wall-clock spread of the chargers' first connection; ``warmup_s`` wall-clock
    time before latencies count; ``timeout_s`` wait for an answer; ``validate`` JSON-schema checks of own
    messages (off for load runs); ``seed`` for reproducible curves and jitter;
    ``start`` simulated start time (None: see ``runner.simulated_start``).
    """

    url: str
    chargers: tuple[ChargerSpec, ...]
    sessions: int = 1
    speed: float = 1.0
    heartbeat_interval_s: float | None = None
    meter_interval_s: float = 60.0
    max_session_s: float = 4 * 3600.0
    idle_s: float = 0.0
    gap_s: float = 60.0
    duration_s: float | None = None
    ramp_s: float = 0.0
    warmup_s: float = 0.0
    timeout_s: float = 30.0
    validate: bool = True
    seed: int | None = None
    start: datetime | None = None
    vendor: str = "voltbill"
    model: str = "Simulator"

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise InvalidInput(f"--url must start with ws:// or wss://, got {self.url!r}.")
        checks = [
            (len(self.chargers) >= 1, "--chargers must be at least 1."),
            (self.sessions >= 0, "--sessions must be 0 (until --duration) or more."),
            (self.speed > 0, "--speed must be positive."),
            (self.meter_interval_s > 0, "--meter-interval must be positive."),
            (
                self.heartbeat_interval_s is None or self.heartbeat_interval_s > 0,
                "--heartbeat-interval must be positive.",
            ),
            (self.max_session_s > 0, "--max-session-minutes must be positive."),
            (self.idle_s >= 0, "--idle-minutes must not be negative."),
            (self.duration_s is None or self.duration_s > 0, "--duration must be positive."),
            (self.sessions > 0 or self.duration_s is not None, "--sessions 0 needs a --duration."),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInput(message)
        for spec in self.chargers:
            if spec.protocol not in PROTOCOLS:
                raise InvalidInput(f"--protocol must be one of {', '.join(PROTOCOLS)} or mixed.")
            if spec.kind not in KINDS:
                raise InvalidInput("--kind must be ac, dc or mixed.")
            limit = ID_TAG_MAX[spec.protocol]
            if len(spec.id_tag) > limit:
                raise InvalidInput(
                    f"--id-tag gives {spec.id_tag!r} ({len(spec.id_tag)} characters); {spec.protocol} allows {limit}."
                )
