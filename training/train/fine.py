# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``python -m training.train.fine --data DIR ...``: train the fine net (training.train.cli)."""

import sys

from training.train.cli import main

if __name__ == "__main__":
    sys.exit(main(net="fine"))
