# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared pytest set-up: DDS isolation and an rclpy context fixture.

Run the tests through ``bash tools/run_tests.sh`` (or ``source tools/env.sh`` first), which puts
the install space on the path so ``face3d_ros.msg`` (generated) and the hand-written modules
import together.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Domain IDs 1..100 leave 0 (the ROS default) to interactive use; parallel test runs on one
# machine pick different domains from their process ids and never discover each other.
_DOMAIN_SPAN = 100


def pytest_configure(config: pytest.Config) -> None:
    """Keep DDS traffic of this test session on this machine and on its own domain.

    Args:
        config: The pytest configuration (unused).
    """
    del config
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % _DOMAIN_SPAN))


@pytest.fixture
def rclpy_context() -> Iterator[object]:
    """Yield an initialised ``rclpy.context.Context`` and shut it down afterwards.

    Tests that create nodes pass ``context=rclpy_context`` to ``rclpy.create_node`` so no global
    ROS state leaks from one test into the next.

    Yields:
        The initialised context.
    """
    import rclpy  # only the tests that ask for ROS import it

    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)
