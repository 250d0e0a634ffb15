# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Source this file (bash) after tools/bootstrap.sh to use the project without a ROS install:
#     source tools/env.sh
# It puts the project .venv (rclpy, message packages) and this package's install space (the
# generated face3d_ros.msg beside the symlinked hand-written modules) on the search paths, so
# `import rclpy`, `from face3d_ros.msg import FaceParams`, `import face3d_ros.model` and
# `import training` all work.
# DDS discovery stays on this machine; ROS_DOMAIN_ID is left as the caller set it (tests pick
# their own).

_face3d_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_face3d_venv="${_face3d_root}/.venv"
_face3d_install="${_face3d_root}/install"

if [[ ! -x "${_face3d_venv}/bin/python" || ! -d "${_face3d_install}" ]]; then
  echo "tools/env.sh: run tools/bootstrap.sh first (no .venv or install/ in ${_face3d_root})" >&2
  unset _face3d_root _face3d_venv _face3d_install
  return 1 2>/dev/null || exit 1
fi

_face3d_prepend() {
  # _face3d_prepend VAR DIR: put DIR first in the colon-separated VAR, without duplicates.
  local var="$1" dir="$2" current
  current="${!var:-}"
  current=":${current}:"
  current="${current//:${dir}:/:}"
  current="${current#:}"
  current="${current%:}"
  export "${var}=${dir}${current:+:${current}}"
}

_face3d_prepend PATH "${_face3d_venv}/bin"
for _face3d_prefix in "${_face3d_venv}" "${_face3d_install}"; do
  _face3d_prepend AMENT_PREFIX_PATH "${_face3d_prefix}"
  _face3d_prepend CMAKE_PREFIX_PATH "${_face3d_prefix}"
  _face3d_prepend LD_LIBRARY_PATH "${_face3d_prefix}/lib"
done
# The checkout itself comes after the install space: it provides the offline `training`
# package (not installed by colcon); `face3d_ros` resolves to the install space (links to the
# checkout's files plus the generated msg module).
_face3d_prepend PYTHONPATH "${_face3d_root}"
_face3d_prepend PYTHONPATH "${_face3d_install}/lib/python3.11/site-packages"
_face3d_prepend PATH "${_face3d_install}/lib/face3d_ros"

export FACE3D_ROOT="${_face3d_root}"
export VIRTUAL_ENV="${_face3d_venv}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
export PYTHONDONTWRITEBYTECODE="${PYTHONDONTWRITEBYTECODE:-1}"

unset -f _face3d_prepend
unset _face3d_root _face3d_venv _face3d_install _face3d_prefix
