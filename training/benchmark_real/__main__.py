# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``python -m training.benchmark_real``."""

import sys

from training.benchmark_real.cli import main

if __name__ == "__main__":
    sys.exit(main())
