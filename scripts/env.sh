# shellcheck shell=bash
# Source this file (bash or zsh) after `make setup` to work in fairmot_ros's ROS 2 environment:
#   source scripts/env.sh
# It activates the virtual environment (.venv, or $FAIRMOT_ROS_VENV) and puts its ROS prefix on
# the ROS variables. The venv is the install prefix of the ROS 2 wheels, of vision_msgs (where
# it was built here) and of fairmot_ros_msgs, so one prefix covers everything. Prefixes already
# on AMENT_PREFIX_PATH (a sourced ROS install providing vision_msgs) stay after it.
if [ -n "${BASH_SOURCE:-}" ]; then
  _fr_env_file="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
  eval '_fr_env_file="${(%):-%x}"'
else
  _fr_env_file="$0"
fi
FAIRMOT_ROS_ROOT="$(cd "$(dirname "$_fr_env_file")/.." && pwd)"
export FAIRMOT_ROS_ROOT
unset _fr_env_file
_fr_venv="${FAIRMOT_ROS_VENV:-$FAIRMOT_ROS_ROOT/.venv}"
if [ ! -x "$_fr_venv/bin/python" ]; then
  echo "fairmot_ros: no environment at $_fr_venv; run 'make setup' in $FAIRMOT_ROS_ROOT" >&2
  unset _fr_venv
  return 1 2>/dev/null || exit 1
fi

# Prepend $2 to the colon-separated variable named $1 unless it is there already.
_fr_prepend() {
  eval "_fr_cur=\"\${$1:-}\""
  case ":$_fr_cur:" in
    *":$2:"*) ;;
    *) export "$1=$2${_fr_cur:+:$_fr_cur}" ;;
  esac
  unset _fr_cur
}

export VIRTUAL_ENV="$_fr_venv"
_fr_prepend PATH "$_fr_venv/bin"
_fr_prepend AMENT_PREFIX_PATH "$_fr_venv"
_fr_prepend CMAKE_PREFIX_PATH "$_fr_venv"
_fr_prepend LD_LIBRARY_PATH "$_fr_venv/lib"
export ROS_VERSION=2
export ROS_PYTHON_VERSION=3
export ROS_DISTRO="${ROS_DISTRO:-kilted}"
# The only RMW implementation installed (the wheels do not pick one by themselves).
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# The tracker's matrices are small (tracks x detections x embedding width): a multi-threaded
# OpenBLAS spends more time waking threads than multiplying, and competes with ONNX Runtime's
# own threads for the cores (measured: 200-track update 60 ms -> 16 ms on 2 cores).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
unset _fr_venv
unset -f _fr_prepend
