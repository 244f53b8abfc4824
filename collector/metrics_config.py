"""``[metrics]``: the config model of the metrics and health server.

Apart from the server (:mod:`collector.metrics`), which reads a whole running
:class:`~collector.app.Collector`: the config must not import what imports the config.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MetricsConfig(BaseModel):
    """``[metrics]``: where to serve /metrics, /healthz and /readyz."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    address: str = Field(
        description='host:port to listen on, e.g. "127.0.0.1:9464" (use "0.0.0.0:9464" in a '
        "container so the kubelet and Prometheus can reach it)."
    )

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f'must be "host:port", e.g. "127.0.0.1:9464", got {value!r}')
        return value

    @property
    def host(self) -> str:
        """The host part, without IPv6 brackets."""
        return self.address.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port part."""
        return int(self.address.rpartition(":")[2])
