#!/usr/bin/env bash
# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# The README's main job: set everything up, then run the demo (arguments pass through):
#     bash tools/run_demo.sh [--help | demo options...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

bash tools/bootstrap.sh
# shellcheck source=tools/env.sh
source tools/env.sh
exec python -m face3d_ros.node.demo "$@"
