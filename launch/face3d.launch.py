# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch face3d_node (a lifecycle node) on a camera stream, optionally with rviz2.

Usage:
    ros2 launch face3d_ros face3d.launch.py image_topic:=/camera/image_raw \
        camera_info_topic:=/camera/camera_info rviz:=true

This file only describes processes; it does no work itself. The node configures and activates
itself when the ``autostart`` parameter is true (the default in config/face3d.yaml); set
``autostart:=false`` to drive the lifecycle from a manager instead.

With ``rviz:=true``, rviz2 is looked up before any process starts: when it is not installed,
launch stops with that reason and face3d_node is never started (it used to be started first
and left running).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _require_rviz(context: object) -> list:
    """Fail the launch, before anything starts, when rviz:=true and rviz2 is not installed."""
    from face3d_ros.node.launch_checks import missing_executable, truthy

    if truthy(LaunchConfiguration("rviz").perform(context)):
        problem = missing_executable("rviz2", "rviz2")
        if problem is not None:
            raise RuntimeError(f"rviz:=true but {problem}")
    return []


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the face3d_node / rviz2 processes."""
    share = FindPackageShare("face3d_ros")
    args = [
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="Namespace of face3d_node and its relative topics.",
        ),
        DeclareLaunchArgument(
            "image_topic", default_value="/camera/image_raw",
            description="sensor_msgs/Image input (remapped onto the node's 'image').",
        ),
        DeclareLaunchArgument(
            "camera_info_topic", default_value="/camera/camera_info",
            description="sensor_msgs/CameraInfo of that image (remapped onto 'camera_info').",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "face3d.yaml"]),
            description="Parameter YAML for face3d_node (default: the package's config).",
        ),
        DeclareLaunchArgument(
            "autostart", default_value="true",
            description="Configure and activate the node on start (no lifecycle manager).",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false",
            description="Use /clock (e.g. when playing a bag with --clock).",
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="Also start rviz2 with config/face3d.rviz.",
        ),
    ]
    face3d = LifecycleNode(
        package="face3d_ros",
        executable="face3d_node",
        name="face3d_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image_topic")),
            ("camera_info", LaunchConfiguration("camera_info_topic")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "face3d.rviz"])],
        parameters=[
            {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}
        ],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    # Order matters: the rviz2 check and rviz2's own lookup come before face3d_node starts.
    return LaunchDescription([*args, OpaqueFunction(function=_require_rviz), rviz, face3d])
