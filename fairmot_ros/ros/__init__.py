"""ROS 2 adapters around the ROS-free core: the tracker node and its message conversions.

Besides this sub-package only the DDS side of ``fairmot_ros.replay`` and
``fairmot_ros.bench.dds_harness`` import rclpy or ROS message packages (see ``fairmot_ros``).
"""
