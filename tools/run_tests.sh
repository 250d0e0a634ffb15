#!/usr/bin/env bash
# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# The project's test command (from a fresh clone, from any working directory):
#     bash tools/run_tests.sh [pytest arguments...]
# 1. tools/bootstrap.sh (system packages, .venv, colcon build of the message and the package);
# 2. lint: ruff (pycodestyle, pyflakes, isort, pydocstyle google, naming, pyupgrade, bugbear),
#    licence headers, package.xml (xmllint well-formedness + catkin_pkg format-3 parser);
# 3. pytest on test/ with the install space on the path, extra arguments passed through.
# Every step runs; the exit status is non-zero when any of them failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

bash tools/bootstrap.sh
# shellcheck source=tools/env.sh
source tools/env.sh

failed=()
step() {
  # step NAME COMMAND...: run a command, remember its name when it fails.
  local name="$1"
  shift
  printf '\n=== %s ===\n' "${name}"
  if "$@"; then
    printf '=== %s: OK\n' "${name}"
  else
    printf '=== %s: FAILED (exit %d)\n' "${name}" "$?"
    failed+=("${name}")
  fi
}

check_package_xml() {
  xmllint --noout package.xml || return 1
  python - <<'PYEOF'
"""Parse package.xml with catkin_pkg (validates format 3 content); warnings count as errors."""
import sys

from catkin_pkg.package import InvalidPackage, parse_package

warnings: list[str] = []
try:
    package = parse_package("package.xml", warnings=warnings)
except InvalidPackage as error:
    sys.exit(f"package.xml is invalid: {error}")
for warning in warnings:
    print(f"package.xml: {warning}", file=sys.stderr)
if warnings:
    sys.exit(1)
if package.package_format != 3:
    sys.exit(f"package.xml: format {package.package_format}, expected 3")
print(f"package.xml: {package.name} {package.version} (format 3) OK")
PYEOF
}

step "ruff" ruff check --no-cache .
step "licence headers" python tools/check_licence_headers.py
step "package.xml" check_package_xml
step "pytest" pytest "$@"

if ((${#failed[@]})); then
  printf '\nFAILED: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
  exit 1
fi
printf '\nAll checks passed.\n'
