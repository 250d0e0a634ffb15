# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``python -m training.train --net {coarse,tracking,fine} --data DIR ...``."""

import sys

from training.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
