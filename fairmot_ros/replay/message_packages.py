"""ROS 2 interface packages built from a bag's own message definitions, to publish their types.

Why: a publisher needs the type support libraries of its type (and in rclpy the generated Python
class too); ``ros2 bag play`` ignores a topic whose type support is not installed, with a
warning, even when the bag carries the definitions (rosbag2 issue 1809). A bag recorded
elsewhere (``test_msgs``, a robot's own ``*_msgs``) would then be partly unplayable here. MCAP
bags carry every type's ``.msg`` definition (with those of its dependencies), which is all
rosidl needs to generate the real interface package, so we do exactly what a ROS user would do
with the sources: write ``package.xml``, ``CMakeLists.txt`` (``rosidl_generate_interfaces``) and
``msg/*.msg``, build with CMake against the installed ROS prefix, install. The bytes on the wire
are then those of the bag (``publisher.publish(bytes)``) with the type name, hash and QoS a
subscriber expects.

Caching: a package is installed once into
``${XDG_CACHE_HOME:-~/.cache}/fairmot_ros/message_packages/<pkg>-<hash>``, the hash covering its
definitions, the packages it depends on and the toolchain (interpreter, ROS prefix, rosidl
versions), so a later call or process reuses it and a different definition never reuses a stale
build. A file lock per package keeps two processes from building the same one at once; a
``.complete`` marker written last means an interrupted build is never reused.

Loading into the running process: the prefix's ``site-packages`` goes first on ``sys.path``,
its ``lib`` first on ``LD_LIBRARY_PATH`` and the prefix first on ``AMENT_PREFIX_PATH``, then
``importlib.invalidate_caches()``, and every library in ``<prefix>/lib`` is loaded with
``ctypes`` by full path. The environment alone is not enough (tried: the class imports, but
rclpy's ``deserialize_message`` then fails with "Could not load library
libtest_msgs__rosidl_typesupport_fastrtps_c.so"): the Kilted ``rosidl_typesupport_c`` opens a
package's type support library for the RMW by bare file name, and the dynamic loader reads
``LD_LIBRARY_PATH`` only at process start. A library that is already loaded is found by its
``SONAME`` though, so loading them beforehand is what makes the lookup succeed. The Python
extension and the libraries find their own dependencies through their ``RUNPATH``:
``<prefix>/lib`` (``CMAKE_INSTALL_RPATH``) plus the directories of what they link against
(``CMAKE_INSTALL_RPATH_USE_LINK_PATH``: the ROS prefix, other packages built here). The
variables still matter for ``ament_index``, for child processes and for
``rosidl_typesupport_c`` releases that search ``LD_LIBRARY_PATH`` themselves at call time.

Types that cannot be built fail with :class:`MessagePackageError` and a one-line reason: no
definition of a dependency, an installed package of the same name without the type, no CMake
or compiler or rosidl, a build that failed (with the path of its log).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fairmot_ros.locations import share_file

__all__ = [
    "MessagePackageError",
    "PackageInstall",
    "cache_root",
    "installed_packages",
    "message_class",
]

# Rewrites the PyPI ROS wheels' stale include directories at configure time (see that file);
# a no-op on a regular ROS install. Installed in the package's share folder.
_FIXUP = "cmake/ros_wheels_fixup.cmake"
# Toolchain packages whose versions are part of a build's identity.
_TOOLCHAIN = ("rosidl_default_generators", "rosidl_generator_c", "rosidl_generator_py",
              "rosidl_typesupport_c", "rosidl_typesupport_fastrtps_c")
_COMPLETE = ".complete"
_MSG_TYPE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/msg/([A-Za-z][A-Za-z0-9]*)$")
# A field or constant type written as pkg/msg/Name (some writers do); .msg files say pkg/Name.
_LONG_FIELD_TYPE = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9_]*)/msg/(?=[A-Za-z])", re.MULTILINE)


class MessagePackageError(RuntimeError):
    """A message type cannot be built or loaded; the message is one line saying why."""


@dataclass(frozen=True)
class PackageInstall:
    """One interface package made importable in this process from the cache."""

    package: str
    prefix: Path
    built: bool  # False: an earlier call or process had built it already
    seconds: float  # time spent building (0 when reused)


_INSTALLS: list[PackageInstall] = []
_FAILED: dict[str, MessagePackageError] = {}  # <pkg>-<hash> -> why its build failed here


def installed_packages() -> list[PackageInstall]:
    """The packages this process loaded from the cache, in order (built or reused)."""
    return list(_INSTALLS)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/fairmot_ros/message_packages`` (``~/.cache`` when unset or relative)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "fairmot_ros" / "message_packages"


# ----- types and definitions -----------------------------------------------------------------
def _split(typename: str) -> tuple[str, str]:
    match = _MSG_TYPE.match(typename)
    if match is None:
        raise MessagePackageError(
            f"{typename} is not a message type (pkg/msg/Name): only messages can be built")
    return match.group(1), match.group(2)


def _import_package(package: str) -> object | None:
    try:
        return importlib.import_module(f"{package}.msg")
    except ImportError:
        return None


def _import_type(typename: str) -> type | None:
    """The class of an importable ``pkg/msg/Name``, else None."""
    package, name = _split(typename)
    module = _import_package(package)
    return getattr(module, name, None) if module is not None else None


def _normalise(text: str) -> str:
    """The definition as a ``.msg`` file: ``pkg/Name`` field types, ``\\n`` line ends."""
    text = _LONG_FIELD_TYPE.sub(r"\1/", text.replace("\r\n", "\n"))
    return text.rstrip("\n") + "\n"


def _references(typename: str, text: str) -> list[str]:
    """The message types (``pkg/msg/Name``) the fields of one definition use."""
    try:
        from rosidl_adapter.parser import parse_message_string
    except ImportError:
        raise MessagePackageError(
            "no rosidl toolchain here (rosidl_adapter is not importable)") from None
    package, name = _split(typename)
    try:
        spec = parse_message_string(package, name, text)
    except Exception as exc:  # noqa: BLE001 - rosidl raises many kinds for bad definitions
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MessagePackageError(f"the definition of {typename} is invalid: {reason}") from None
    found = {f"{f.type.pkg_name}/msg/{f.type.type}" for f in spec.fields
             if not f.type.is_primitive_type()}
    return sorted(found)


def _missing_reason(typename: str) -> str | None:
    """Why a not importable type cannot be built as part of a new package, or None."""
    package, name = _split(typename)
    module = _import_package(package)
    if module is None:
        return None
    where = getattr(module, "__file__", None) or package
    return (f"{package} is already installed or loaded here ({Path(where).parent.parent}) "
            f"without {name}; a second {package} cannot be loaded beside it")


def _buildable(definitions: Mapping[str, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(type -> referenced types) of every given type that is missing and can be built, and
    (type -> reason) of those that cannot: bad definition, or a dependency that is neither
    importable nor buildable."""
    deps: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for typename, text in sorted(definitions.items()):
        try:
            if _import_type(typename) is not None:
                continue
            reason = _missing_reason(typename)
            if reason is not None:
                reasons[typename] = reason
                continue
            deps[typename] = _references(typename, _normalise(text))
        except MessagePackageError as exc:
            reasons[typename] = str(exc)
    changed = True
    while changed:
        changed = False
        for typename in list(deps):
            bad = next((d for d in deps[typename]
                        if d not in deps and _import_type(d) is None), None)
            if bad is not None:
                reasons[typename] = _dependency_reason(typename, bad, definitions, reasons)
                del deps[typename]
                changed = True
    return deps, reasons


def _dependency_reason(typename: str, dep: str, definitions: Mapping[str, str],
                       reasons: Mapping[str, str]) -> str:
    if dep in reasons:
        return f"{typename} needs {dep}: {reasons[dep]}"
    if dep not in definitions:
        return f"{typename} needs {dep}, which is not installed and has no definition here"
    return f"{typename} needs {dep}, which cannot be built"


# ----- what to build -------------------------------------------------------------------------
@dataclass
class _Package:
    name: str
    texts: dict[str, str]  # message name -> .msg text
    built_deps: list[str]  # other packages built from the same definitions
    installed_deps: list[str]


def _plan(typename: str, definitions: Mapping[str, str]) -> list[_Package]:
    """The packages to build for ``typename``, dependencies first. Each holds every buildable
    type of that package in ``definitions`` (not just the ones needed), so that callers that
    pass the same definitions for several types get one package, built once."""
    deps, reasons = _buildable(definitions)
    if typename in reasons:
        raise MessagePackageError(reasons[typename])
    if typename not in deps:
        raise MessagePackageError(f"{typename} is not installed and has no definition here")
    by_package: dict[str, list[str]] = {}
    for name in deps:
        by_package.setdefault(_split(name)[0], []).append(name)
    needed, pending = set(), [_split(typename)[0]]
    while pending:
        package = pending.pop()
        if package not in needed:
            needed.add(package)
            pending += [_split(d)[0] for t in by_package[package] for d in deps[t]
                        if d in deps]
    packages = {p: _package(p, by_package[p], deps, definitions) for p in needed}
    return _dependency_order(packages)


def _package(package: str, types: list[str], deps: Mapping[str, list[str]],
             definitions: Mapping[str, str]) -> _Package:
    used = {_split(d)[0] for t in types for d in deps[t]} - {package}
    built = sorted(p for p in used if _import_package(p) is None)
    return _Package(package, {_split(t)[1]: _normalise(definitions[t]) for t in sorted(types)},
                    built, sorted(used - set(built)))


def _dependency_order(packages: dict[str, _Package]) -> list[_Package]:
    ordered: list[_Package] = []
    done: set[str] = set()
    while len(ordered) < len(packages):
        ready = [p for p in sorted(packages) if p not in done
                 and all(d in done for d in packages[p].built_deps)]
        if not ready:
            cycle = ", ".join(sorted(set(packages) - done))
            raise MessagePackageError(f"the packages {cycle} depend on each other in a cycle")
        for name in ready:
            ordered.append(packages[name])
            done.add(name)
    return ordered


# ----- toolchain -----------------------------------------------------------------------------
def _prefixes() -> list[Path]:
    return [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def _package_prefix(package: str) -> Path | None:
    """The first ament prefix that holds ``share/<package>/package.xml``."""
    candidates = [*_prefixes(), Path(sys.prefix)]
    return next((p for p in candidates if (p / "share" / package / "package.xml").is_file()),
                None)


def _version(prefix: Path, package: str) -> str:
    text = (prefix / "share" / package / "package.xml").read_text(encoding="utf-8")
    match = re.search(r"<version>\s*([^<\s]+)\s*</version>", text)
    return match.group(1) if match else "?"


def _toolchain_key() -> str:
    """What a build depends on besides its definitions: interpreter, ROS prefix, versions."""
    parts = [sys.implementation.cache_tag or "", sys.platform, os.uname().machine]
    for package in _TOOLCHAIN:
        prefix = _package_prefix(package)
        if prefix is None:
            raise MessagePackageError(
                f"no rosidl toolchain here: {package} is not on AMENT_PREFIX_PATH")
        parts.append(f"{package}={_version(prefix, package)}@{prefix.resolve()}")
    return "\n".join(parts)


def _build_tools() -> tuple[str, Path | None]:
    """The CMake to run and the wheels fix-up file; MessagePackageError when one is missing."""
    cmake = shutil.which("cmake") or shutil.which("cmake", path=str(Path(sys.executable).parent))
    if cmake is None:
        raise MessagePackageError("no cmake on PATH (building message packages needs CMake)")
    for variable, default in (("CC", "cc"), ("CXX", "c++")):
        compiler = os.environ.get(variable, default).split()[0]
        if shutil.which(compiler) is None:
            raise MessagePackageError(
                f"no {'C' if variable == 'CC' else 'C++'} compiler ({compiler}) on PATH")
    try:
        return cmake, share_file(_FIXUP)
    except FileNotFoundError:
        return cmake, None


# ----- building ------------------------------------------------------------------------------
def _package_hash(package: _Package, dep_prefixes: Mapping[str, Path], toolchain: str) -> str:
    digest = hashlib.sha256()
    for name, text in sorted(package.texts.items()):
        digest.update(f"{name}\0{text}\0".encode())
    for dep in package.installed_deps:
        prefix = _package_prefix(dep)
        version = _version(prefix, dep) if prefix is not None else "?"
        digest.update(f"dep {dep}={version}@{prefix}\0".encode())
    for dep in package.built_deps:
        digest.update(f"built {dep}@{dep_prefixes[dep].name}\0".encode())
    digest.update(toolchain.encode())
    return digest.hexdigest()[:12]


def _package_xml(package: _Package) -> str:
    depends = "".join(f"  <depend>{d}</depend>\n"
                      for d in sorted([*package.installed_deps, *package.built_deps]))
    return f"""<?xml version="1.0"?>
<package format="3">
  <name>{package.name}</name>
  <version>0.0.0</version>
  <description>{package.name} generated from message definitions recorded in a rosbag2 bag
    (fairmot_ros.replay.message_packages).</description>
  <maintainer email="maintainers@example.com">fairmot_ros maintainers</maintainer>
  <license>unknown</license>

  <buildtool_depend>ament_cmake</buildtool_depend>
  <buildtool_depend>rosidl_default_generators</buildtool_depend>

{depends}
  <exec_depend>rosidl_default_runtime</exec_depend>

  <member_of_group>rosidl_interface_packages</member_of_group>

  <export>
    <build_type>ament_cmake</build_type>
  </export>
</package>
"""


def _cmakelists(package: _Package) -> str:
    deps = sorted([*package.installed_deps, *package.built_deps])
    finds = "".join(f"find_package({d} REQUIRED)\n" for d in deps)
    files = "".join(f'  "msg/{name}.msg"\n' for name in sorted(package.texts))
    depends = f"  DEPENDENCIES {' '.join(deps)}\n" if deps else ""
    return f"""cmake_minimum_required(VERSION 3.16)
project({package.name})

find_package(ament_cmake REQUIRED)
find_package(rosidl_default_generators REQUIRED)
{finds}
rosidl_generate_interfaces(${{PROJECT_NAME}}
{files}{depends})

ament_export_dependencies(rosidl_default_runtime)
ament_package()
"""


def _write_sources(package: _Package, source: Path) -> None:
    if source.exists():
        shutil.rmtree(source)
    (source / "msg").mkdir(parents=True)
    (source / "package.xml").write_text(_package_xml(package), encoding="utf-8")
    (source / "CMakeLists.txt").write_text(_cmakelists(package), encoding="utf-8")
    for name, text in package.texts.items():
        (source / "msg" / f"{name}.msg").write_text(text, encoding="utf-8")


def _build_env(dep_prefixes: Mapping[str, Path]) -> dict[str, str]:
    """The environment of the build: the ROS prefixes this process uses, plus the packages
    built here that this one depends on, on every search path CMake and rosidl look at."""
    env = dict(os.environ)
    prefixes = [str(p) for p in dep_prefixes.values()]
    prefixes += [str(p) for p in _prefixes()] or [sys.prefix]

    def join(variable: str, paths: list[str]) -> str:
        old = [p for p in env.get(variable, "").split(os.pathsep) if p]
        return os.pathsep.join(dict.fromkeys([*paths, *old]))

    env["AMENT_PREFIX_PATH"] = join("AMENT_PREFIX_PATH", prefixes)
    env["CMAKE_PREFIX_PATH"] = join("CMAKE_PREFIX_PATH", prefixes)
    env["LD_LIBRARY_PATH"] = join("LD_LIBRARY_PATH", [f"{p}/lib" for p in prefixes])
    env["PYTHONPATH"] = join("PYTHONPATH", [str(_site_packages(p))
                                            for p in dep_prefixes.values()])
    env["PATH"] = join("PATH", [str(Path(sys.executable).parent)])
    return env


def _run_build(source: Path, build: Path, prefix: Path, log: Path,
               env: Mapping[str, str], tools: tuple[str, Path | None]) -> None:
    cmake, fixup = tools
    configure = [cmake, "-S", str(source), "-B", str(build), f"-DCMAKE_INSTALL_PREFIX={prefix}",
                 "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF",
                 f"-DPython3_EXECUTABLE={sys.executable}",
                 f"-DCMAKE_INSTALL_RPATH={prefix}/lib", "-DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON"]
    if fixup is not None:
        configure.append(f"-DCMAKE_PROJECT_INCLUDE={fixup}")
    jobs = str(max(1, min(os.cpu_count() or 1, 8)))
    steps = (("configure", configure), ("compile", [cmake, "--build", str(build), "-j", jobs]),
             ("install", [cmake, "--install", str(build)]))
    with log.open("w", encoding="utf-8") as out:
        for step, command in steps:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=dict(env),
                                  check=False)
            if done.returncode != 0:
                raise MessagePackageError(f"building message package {source.name} failed at "
                                          f"{step} (exit {done.returncode}); log: {log}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (waits for another process building the same package)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install(package: _Package, dep_prefixes: Mapping[str, Path], toolchain: str,
             on_build: Callable[[str, Path], None] | None) -> PackageInstall:
    """The package's cache prefix, built there first unless an earlier build completed."""
    root = cache_root()
    key = f"{package.name}-{_package_hash(package, dep_prefixes, toolchain)}"
    if key in _FAILED:  # one failed try per process, not one per topic of the type
        raise _FAILED[key]
    prefix = root / key
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / f"{key}.lock"):
            if (prefix / _COMPLETE).is_file():
                return PackageInstall(package.name, prefix, False, 0.0)
            return _build(package, key, dep_prefixes, on_build)
    except MessagePackageError as exc:
        _FAILED[key] = exc
        raise
    except OSError as exc:
        _FAILED[key] = MessagePackageError(f"cannot build {package.name} in {root}: {exc}")
        raise _FAILED[key] from None


def _build(package: _Package, key: str, dep_prefixes: Mapping[str, Path],
           on_build: Callable[[str, Path], None] | None) -> PackageInstall:
    """Build and install one package into ``cache_root() / key`` (under its lock)."""
    tools = _build_tools()
    root = cache_root()
    prefix, build = root / key, root / f"{key}.build"
    if on_build is not None:
        on_build(package.name, prefix)
    started = time.perf_counter()
    for stale in (prefix, build):
        if stale.exists():
            shutil.rmtree(stale)
    source = root / f"{key}.src" / package.name  # kept: what was built, for the curious
    _write_sources(package, source)
    _run_build(source, build, prefix, root / f"{key}.log", _build_env(dep_prefixes), tools)
    shutil.rmtree(build, ignore_errors=True)  # hundreds of generated files, not needed
    (prefix / _COMPLETE).write_text(f"{package.name}\n", encoding="utf-8")
    return PackageInstall(package.name, prefix, True, time.perf_counter() - started)


# ----- loading -------------------------------------------------------------------------------
def _site_packages(prefix: Path) -> Path:
    wanted = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    found = sorted((prefix / "lib").glob("python3*/site-packages"))
    return wanted / "site-packages" if (wanted / "site-packages").is_dir() or not found \
        else found[0]


def _prepend_env(variable: str, value: str) -> None:
    old = [p for p in os.environ.get(variable, "").split(os.pathsep) if p and p != value]
    os.environ[variable] = os.pathsep.join([value, *old])


def _preload(prefix: Path) -> None:
    """Load the package's libraries by full path, so the type support dispatch finds them."""
    libraries = sorted((prefix / "lib").glob("lib*.so"))
    # generator_c first: the type support libraries link against it.
    libraries.sort(key=lambda lib: "rosidl_generator_c" not in lib.name)
    for library in libraries:
        try:
            ctypes.CDLL(str(library))
        except OSError as exc:
            raise MessagePackageError(f"{library} does not load: {exc}") from None


def _activate(prefix: Path) -> None:
    """Make an installed prefix importable and publishable here (see the module doc)."""
    site = str(_site_packages(prefix))
    if site not in sys.path:
        sys.path.insert(0, site)
    _prepend_env("LD_LIBRARY_PATH", str(prefix / "lib"))
    _prepend_env("AMENT_PREFIX_PATH", str(prefix))
    importlib.invalidate_caches()
    _preload(prefix)


def message_class(typename: str, definitions: Mapping[str, str],
                  on_build: Callable[[str, Path], None] | None = None) -> type:
    """The rclpy class of ``typename`` (``pkg/msg/Name``), built from ``definitions`` if needed.

    ``definitions`` maps ``pkg/msg/Name`` to ``.msg`` text for the type and the types it uses
    (those a bag holds; installed ones are not needed). An importable type is returned as is;
    otherwise its package, with every other buildable type of that package in
    ``definitions``, is built once into the cache (see the module doc) and loaded.
    ``on_build(package, prefix)`` is called just before a build starts (not on cache hits).
    Raises :class:`MessagePackageError` with a one-line reason when that cannot be done.
    """
    found = _import_type(typename)
    if found is not None:
        return found
    plan = _plan(typename, definitions)
    toolchain = _toolchain_key()
    prefixes: dict[str, Path] = {}
    for package in plan:
        install = _install(package, {d: prefixes[d] for d in package.built_deps}, toolchain,
                           on_build)
        _activate(install.prefix)
        _INSTALLS.append(install)
        prefixes[package.name] = install.prefix
    found = _import_type(typename)
    if found is None:
        raise MessagePackageError(
            f"{typename} was built into {prefixes[_split(typename)[0]]} but does not import")
    return found
