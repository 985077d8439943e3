"""ROS 2 adapters around the ROS-free core: the tracker node and its message conversions.

This is the only sub-package that imports rclpy or ROS message packages.
"""
