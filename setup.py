# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""pip installation of the ROS-free core and the offline training tools.

For users without ROS who train, export or run the tracker from Python: ``pip install .``
installs exactly what works without ROS: the package ``face3d_ros`` without its ROS side (the
sub-package ``face3d_ros.node``: the lifecycle node, the bag replay and the demo; and the
generated ``face3d_ros.msg``), and the offline ``training`` package, with their data files. It
installs no console scripts (the training tools run as ``python -m training.<tool>``).
test/test_pip_install.py checks that nothing installed imports rclpy or a message package.

The ROS side is installed by the ROS 2 build only: package.xml declares ``build_type``
``ament_cmake``, so colcon builds CMakeLists.txt, which generates the FaceParams message, installs
the whole ``face3d_ros`` package (``node`` included) and the ``face3d_node``, ``face3d-replay``
and ``face3d-demo`` executables (``ros2 run face3d_ros <name>``).
"""

from setuptools import find_packages, setup

# Data files shipped inside the Python package (default face model, network weights and their
# JSON sidecars, provenance notes). Keep in step with the install() patterns in CMakeLists.txt.
PACKAGE_DATA = {"face3d_ros": ["**/*.npz", "**/*.onnx", "**/*.json", "**/*.md"]}

#: The ROS side, installed only by colcon (CMakeLists.txt).
ROS_PACKAGES = ["face3d_ros.node", "face3d_ros.node.*", "face3d_ros.msg", "face3d_ros.msg.*"]

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
    packages=find_packages(
        include=["face3d_ros", "face3d_ros.*", "training", "training.*"], exclude=ROS_PACKAGES
    ),
    package_data=PACKAGE_DATA,
    include_package_data=False,
    install_requires=INSTALL_REQUIRES,
    zip_safe=False,
)
