"""The simulated messaging provider: the one designed fake in the system."""
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


class ProviderError(Exception):
    """The provider refused or failed to deliver one message."""


FAILURES = (
    "Carrier rejected the message",
    "Recipient unreachable",
    "Provider timed out",
    "Number is blocked by the carrier",
)


@dataclass
class SimulatedProvider:
    latency_min: float = 1.0
    latency_max: float = 3.0
    failure_rate: float = 0.08
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_config(cls, config: Any) -> "SimulatedProvider":
        return cls(config["PROVIDER_LATENCY_MIN"], config["PROVIDER_LATENCY_MAX"], config["PROVIDER_FAILURE_RATE"])

    def send(self, channel: str, address: str, message: str) -> str:
        """Deliver one message; returns the provider's message id or raises ProviderError."""
        latency = self.rng.uniform(self.latency_min, self.latency_max)
        if latency > 0:
            time.sleep(latency)
        if self.rng.random() < self.failure_rate:
            raise ProviderError(self.rng.choice(FAILURES))
        return f"sim-{channel}-{uuid.uuid4().hex}"
