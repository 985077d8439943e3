"""FairMOT one-shot multi-object tracking for ROS 2.

The package has a ROS-free core (``preprocess``, ``engine``, ``decode``, ``detector``,
``tracking``, ``model``, ``export``, ``image_bytes``, ``stamps``, ...) that any Python driver
can call frame by frame, and thin ROS 2 adapters on top of it. Exactly three subpackages import
rclpy or ROS message packages: ``fairmot_ros.ros`` (the tracker node and its message
conversions), ``fairmot_ros.replay`` (its DDS side: ``session``, ``player``, ``recorder``,
``lockstep``, ``node_reports`` and the ``fairmot-bag``/``fairmot-demo`` commands that play or
record through them; bag I/O, frames, results, eval and render are ROS-free) and
``fairmot_ros.bench`` (only ``dds_harness``, the DDS side of ``fairmot-bench node`` and
``multi``). Nothing else imports rclpy.
"""

__version__ = "0.1.0"
