# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""pip installation of the ROS-free core and the offline training tools.

For users who only train or process recordings offline: ``pip install .`` installs the packages
``face3d_ros`` (without the generated ``face3d_ros.msg`` and without a working ``face3d_ros.node``)
and ``training`` with their data files and console scripts.

ROS 2 builds do not use this file: package.xml declares ``build_type`` ``ament_cmake``, so colcon
builds CMakeLists.txt (which generates the FaceParams message and installs the same modules).
"""

from setuptools import find_packages, setup

# Data files shipped inside the Python package (default face model, network weights and their
# JSON sidecars, provenance notes). Keep in step with the install() patterns in CMakeLists.txt.
PACKAGE_DATA = {"face3d_ros": ["**/*.npz", "**/*.onnx", "**/*.json", "**/*.md"]}

# One line per command: "<command>=<module>:<function>".
CONSOLE_SCRIPTS = [
    "face3d-replay=face3d_ros.replay:main",
    "face3d-demo=face3d_ros.demo:main",
]

INSTALL_REQUIRES = [
    "numpy>=2.0",
    "scipy>=1.13",
    "torch>=2.4",
    "numba>=0.60",
    "onnx>=1.16",
    "onnxruntime>=1.18",
    "opencv-python-headless>=4.9",
    "scikit-image>=0.24",
    "dlib-bin>=19.24",
    "rosbags>=0.10",
    "rosbags-image>=0.10",
    "tqdm>=4.66",
    "matplotlib>=3.8",
    "PyYAML>=6.0",
]

setup(
    name="face3d_ros",
    version="0.1.0",
    description="Real-time dense 3D face reconstruction (3DFaceNet-style), ROS 2 package core",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["face3d_ros", "face3d_ros.*", "training", "training.*"]),
    package_data=PACKAGE_DATA,
    include_package_data=False,
    install_requires=INSTALL_REQUIRES,
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    zip_safe=False,
)
