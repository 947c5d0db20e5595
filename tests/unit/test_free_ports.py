"""Helper processes listen below the ephemeral range, where outgoing connections never land."""

from __future__ import annotations

import socket
from pathlib import Path

from devstack.processes import LINUX_EPHEMERAL_LOW, LOWEST_PORT, ephemeral_low, free_port


def test_a_free_port_lies_below_the_ports_outgoing_connections_take() -> None:
    high = ephemeral_low()
    ports = {free_port() for _ in range(50)}
    assert all(LOWEST_PORT <= port < high for port in ports)
    assert len(ports) > 1  # spread at random, not one port every time


def test_a_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_the_ephemeral_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("40000\t60999\n")
    assert ephemeral_low(range_file) == 40_000
    assert ephemeral_low(tmp_path / "missing") == LINUX_EPHEMERAL_LOW
