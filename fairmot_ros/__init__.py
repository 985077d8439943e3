"""FairMOT one-shot multi-object tracking for ROS 2.

The package has a ROS-free core (``preprocess``, ``engine``, ``decode``, ``tracking``,
``model``, ``export``) that any Python driver can call frame by frame, and thin ROS 2
adapters in ``fairmot_ros.ros`` on top of it. Nothing outside ``fairmot_ros.ros`` imports
rclpy.
"""

__version__ = "0.1.0"
