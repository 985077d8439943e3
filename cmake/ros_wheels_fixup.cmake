# Loaded with -DCMAKE_PROJECT_INCLUDE=<this file> when an interface package is built against the
# ROS 2 wheels from PyPI (scripts/setup and the colcon recipe in doc/install.md do this).
#
# Why: the wheels' exported <pkg>__rosidl_generator_py targets carry the include directories of
# the machine the wheels were built on (/opt/python/cp3XX-cp3XX/include/python3.XX and that
# interpreter's numpy/_core/include). CMake refuses to generate a build that links an imported
# target naming a non-existent include directory, so each affected target gets this
# interpreter's directories instead. The rewrite runs deferred, at the end of the top-level
# CMakeLists.txt, when every find_package() has defined its targets. Nothing on disk is changed,
# and on a regular ROS 2 install (no such paths) this file does nothing.
cmake_minimum_required(VERSION 3.19)

function(_ros_wheels_fixup_include_dirs)
  get_directory_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  set(_py_include "")
  set(_np_include "")
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs "${_target}" INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs OR NOT "${_dirs}" MATCHES "/opt/python/cp3")
      continue()
    endif()
    if(NOT _py_include)
      if(NOT Python3_EXECUTABLE)
        find_package(Python3 REQUIRED COMPONENTS Interpreter)
      endif()
      execute_process(
        COMMAND "${Python3_EXECUTABLE}" -c
          "import sysconfig, numpy; print(sysconfig.get_paths()['include']); print(numpy.get_include())"
        OUTPUT_VARIABLE _out OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
      string(REPLACE "\n" ";" _out "${_out}")
      list(GET _out 0 _py_include)
      list(GET _out 1 _np_include)
    endif()
    set(_fixed "")
    foreach(_dir IN LISTS _dirs)
      if(EXISTS "${_dir}")
        list(APPEND _fixed "${_dir}")
      elseif(_dir MATCHES "/numpy/")
        list(APPEND _fixed "${_np_include}")
      elseif(_dir MATCHES "/include/python3")
        list(APPEND _fixed "${_py_include}")
      else()
        list(APPEND _fixed "${_dir}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _fixed)
    set_target_properties("${_target}" PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _ros_wheels_fixup_include_dirs)
