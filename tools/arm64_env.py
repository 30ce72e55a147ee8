#!/usr/bin/env python3
"""Run Python code on an emulated ARM64 (aarch64) CPU, for checking arm64 builds.

A standalone developer script (standard library only; it does not import
``agent_sdk``). It prepares, once and in a cache folder, everything needed to
run an aarch64 CPython 3.11 with the aarch64 wheels of Apache TVM under
``qemu-aarch64-static`` (qemu-user) on an x86_64 Debian host:

* an arm64 root file system holding Debian 12's arm64 ``python3.11-minimal``,
  ``libpython3.11-stdlib`` and the C/C++ runtime libraries. It is fetched with
  a *private* apt configuration (its own package lists, cache and an empty
  dpkg status), so the host's dpkg state is never read or written, and the
  ``.deb`` files are simply unpacked with ``dpkg-deb -x``;
* a folder of unpacked aarch64 wheels (``apache-tvm``, ``apache-tvm-ffi``,
  ``numpy``, ``ml-dtypes``, ``typing-extensions``, ``tokenizers``) that is put
  on ``PYTHONPATH``.

Usage::

    python tools/arm64_env.py setup [--cache DIR] [--force]
    python tools/arm64_env.py check [--cpu cortex-a76] [--cache DIR]
    python tools/arm64_env.py run [--cpu cortex-a72|cortex-a76] [--cache DIR]
        [--pythonpath EXTRA ...] -- SCRIPT [ARGS...]

Everything after ``--`` is handed to the arm64 interpreter as is, so
``-- -c "print(1)"`` and ``-- -m module`` work too.

Host requirements: ``apt-get install -y qemu-user-static`` (and, to build
aarch64 libraries with TVM, ``gcc-aarch64-linux-gnu g++-aarch64-linux-gnu``),
plus ``apt-get``/``dpkg-deb`` and ``pip`` for the one-time ``setup``.
Emulated timings say nothing about the speed of a real ARM board.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

QEMU = "qemu-aarch64-static"
CPUS = ("cortex-a72", "cortex-a76")
DEFAULT_CPU = "cortex-a76"
DEFAULT_CACHE = Path("~/.cache/agent_sdk/arm64")
GUEST_PYTHON = "usr/bin/python3.11"
GUEST_PY_VERSION = "3.11"

#: Debian 12 (bookworm) arm64 packages unpacked into the root, with their
#: dependencies. libstdc++6/libgcc-s1 are needed by TVM and tokenizers, zlib by
#: the stdlib; the rest of the closure (libc6, libffi8, libssl3, ...) follows.
DEBIAN_PACKAGES = (
    "python3.11-minimal",
    "libpython3.11-stdlib",
    "libstdc++6",
    "libgcc-s1",
    "zlib1g",
)

#: Wheels fetched for aarch64. ``None`` means: the version installed in the
#: Python running this script when there is one (so host and guest agree),
#: otherwise the newest.
WHEELS: dict[str, str | None] = {
    "apache-tvm": "0.27.0.post1",
    "apache-tvm-ffi": None,
    "numpy": None,
    "ml-dtypes": None,
    "typing-extensions": None,
    "tokenizers": None,
    "sentencepiece": None,
}

#: pip matches each platform tag exactly, so list every glibc level the
#: bookworm root (glibc 2.36) can run.
WHEEL_PLATFORMS = tuple(f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1)) + (
    "manylinux2014_aarch64",
    "linux_aarch64",
)

#: Host environment variables that must not reach the guest interpreter:
#: PYTHONHOME/PYTHONPATH would point at x86_64 installs, and OPENBLAS_* names
#: an x86 core type that the aarch64 OpenBLAS inside numpy does not know.
GUEST_ENV_DROP = (
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONEXECUTABLE",
    "VIRTUAL_ENV",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "QEMU_LD_PREFIX",
    "QEMU_CPU",
)

MANIFEST = "manifest.json"


class ToolError(Exception):
    """An error reported to the user as a plain message and exit code 1."""


@dataclass(frozen=True)
class Layout:
    """Paths inside the cache folder.

    Attributes:
        cache: The cache folder itself.
    """

    cache: Path

    @property
    def apt(self) -> Path:
        """Private apt state and download cache."""
        return self.cache / "apt"

    @property
    def root(self) -> Path:
        """The arm64 root file system (``qemu -L`` prefix)."""
        return self.cache / "root"

    @property
    def site(self) -> Path:
        """Unpacked wheels, put on the guest's ``PYTHONPATH``."""
        return self.cache / "site"

    @property
    def python(self) -> Path:
        """The arm64 interpreter inside the root."""
        return self.root / GUEST_PYTHON

    @property
    def manifest(self) -> Path:
        """JSON record of what ``setup`` built, used to stay idempotent."""
        return self.cache / MANIFEST


def say(message: str) -> None:
    """Prints a progress line of this tool to standard error.

    Args:
        message: The text to print.
    """
    print(f"[arm64_env] {message}", file=sys.stderr, flush=True)


def host_hint_install(packages: str) -> str:
    """Returns the exact apt command that installs ``packages`` on the host.

    Args:
        packages: Space-separated Debian package names.

    Returns:
        The command line, with ``sudo`` when not running as root.
    """
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {packages}"


def require_qemu() -> str:
    """Finds ``qemu-aarch64-static``.

    Returns:
        Its absolute path.

    Raises:
        ToolError: If it is not installed, naming the apt command to run.
    """
    path = shutil.which(QEMU)
    if path is None:
        raise ToolError(
            f"{QEMU} was not found on PATH. Install it with:\n"
            f"    {host_hint_install('qemu-user-static')}\n"
            "(to cross-compile for aarch64 with TVM, also: "
            f"{host_hint_install('gcc-aarch64-linux-gnu g++-aarch64-linux-gnu')})"
        )
    return path


def require_host_tool(name: str, package: str) -> str:
    """Finds a host program needed by ``setup``.

    Args:
        name: Program name.
        package: Debian package that provides it.

    Returns:
        Its absolute path.

    Raises:
        ToolError: If it is missing.
    """
    path = shutil.which(name)
    if path is None:
        raise ToolError(
            f"'{name}' was not found on PATH; setup needs a Debian-like host with it "
            f"(package {package}: {host_hint_install(package)})."
        )
    return path


def run_host(cmd: Sequence[str], *, quiet: bool = True, env: dict[str, str] | None = None) -> str:
    """Runs a host command, failing with its output when it fails.

    Args:
        cmd: The command line.
        quiet: Capture output (returned) instead of streaming it.
        env: Environment, default: inherited.

    Returns:
        The captured standard output (empty when not quiet).

    Raises:
        ToolError: If the command exits non-zero.
    """
    proc = subprocess.run(cmd, capture_output=quiet, text=True, env=env, check=False)
    if proc.returncode != 0:
        detail = ""
        if quiet:
            detail = "\n" + "\n".join(
                part.strip() for part in (proc.stdout or "", proc.stderr or "") if part.strip()
            )
        raise ToolError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}{detail}")
    return proc.stdout if quiet else ""


def load_manifest(layout: Layout) -> dict[str, object]:
    """Reads the manifest written by earlier ``setup`` runs.

    Args:
        layout: Cache paths.

    Returns:
        The manifest, or an empty dict when there is none or it is unreadable.
    """
    try:
        data = json.loads(layout.manifest.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_manifest(layout: Layout, manifest: dict[str, object]) -> None:
    """Writes the manifest atomically.

    Args:
        layout: Cache paths.
        manifest: Data to store.
    """
    tmp = layout.manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(layout.manifest)


# --------------------------------------------------------------------------- root


def apt_options(apt_dir: Path) -> list[str]:
    """Builds the private apt configuration (arm64 only, no host state).

    The host's sources and keyrings are reused; package lists, the download
    cache, the dpkg status (an empty file) and logs all live in ``apt_dir``.

    Args:
        apt_dir: Folder for apt's private state.

    Returns:
        ``-o`` options for ``apt-get``.
    """
    state = apt_dir / "state"
    cache = apt_dir / "cache"
    for folder in (state / "lists" / "partial", cache / "archives" / "partial", apt_dir / "log"):
        folder.mkdir(parents=True, exist_ok=True)
    status = state / "status"
    if not status.exists():
        status.write_text("")
    opts = {
        "APT::Architecture": "arm64",
        "APT::Architectures": "arm64",
        "APT::Install-Recommends": "false",
        "APT::Install-Suggests": "false",
        "Dir::State": str(state),
        "Dir::State::Lists": str(state / "lists"),
        "Dir::State::status": str(status),
        "Dir::Cache": str(cache),
        "Dir::Log": str(apt_dir / "log"),
        "Debug::NoLocking": "true",
    }
    if os.geteuid() == 0:
        # The cache is usually under /root, which apt's "_apt" user can't enter.
        opts["APT::Sandbox::User"] = "root"
    return [f"-o{key}={value}" for key, value in opts.items()]


def build_root(layout: Layout, force: bool) -> dict[str, object]:
    """Downloads and unpacks the arm64 Debian packages into the root.

    Args:
        layout: Cache paths.
        force: Rebuild even if the manifest says the root is complete.

    Returns:
        The manifest section describing the root.

    Raises:
        ToolError: If apt or dpkg-deb fail.
    """
    manifest = load_manifest(layout)
    previous = manifest.get("root")
    if (
        not force
        and isinstance(previous, dict)
        and previous.get("packages") == list(DEBIAN_PACKAGES)
        and layout.python.is_file()
    ):
        say(f"arm64 root: cached at {layout.root} ({len(previous.get('debs', []))} .debs)")
        return previous

    apt_get = require_host_tool("apt-get", "apt")
    dpkg_deb = require_host_tool("dpkg-deb", "dpkg")
    opts = apt_options(layout.apt)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")

    say("arm64 root: apt-get update (private arm64 package lists, host sources)")
    started = time.monotonic()
    try:
        run_host([apt_get, *opts, "-q", "update"], env=env)
    except ToolError as exc:
        # One broken third-party source must not stop us; a missing Debian
        # source will make the install below fail with a clear message.
        say(f"warning: apt-get update reported errors, trying anyway:\n{exc}")
    say(f"arm64 root: package lists ready in {time.monotonic() - started:.1f}s")

    say(f"arm64 root: downloading {' '.join(DEBIAN_PACKAGES)} and their dependencies")
    started = time.monotonic()
    run_host(
        [apt_get, *opts, "-q", "-y", "--download-only", "install", *DEBIAN_PACKAGES],
        env=env,
    )
    archives = layout.apt / "cache" / "archives"
    debs = sorted(archives.glob("*.deb"))
    if not debs:
        raise ToolError(f"apt downloaded no .deb files into {archives}")
    say(f"arm64 root: {len(debs)} .debs present in {time.monotonic() - started:.1f}s")

    started = time.monotonic()
    staging = layout.cache / "root.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for deb in debs:
        run_host([dpkg_deb, "-x", str(deb), str(staging)])
    if not (staging / GUEST_PYTHON).is_file():
        raise ToolError(f"unpacked root has no {GUEST_PYTHON}; check the apt output")
    if layout.root.exists():
        shutil.rmtree(layout.root)
    staging.rename(layout.root)
    seconds = time.monotonic() - started
    say(f"arm64 root: unpacked {len(debs)} .debs into {layout.root} in {seconds:.1f}s")
    run_host([apt_get, *opts, "clean"], env=env)  # the .debs are no longer needed
    return {"packages": list(DEBIAN_PACKAGES), "debs": [deb.name for deb in debs]}


# ------------------------------------------------------------------------- wheels


def wheel_requirements() -> list[str]:
    """Resolves the wheel requirement strings.

    Unpinned wheels take the version installed in the running interpreter
    when there is one, so code compiled on the host meets the same
    ``apache-tvm-ffi`` ABI and numpy in the guest.

    Returns:
        Requirement strings for pip.
    """
    from importlib import metadata

    requirements = []
    for name, pinned in WHEELS.items():
        version = pinned
        if version is None:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                version = None
        requirements.append(f"{name}=={version}" if version else name)
    return requirements


def pip_command() -> list[str]:
    """Finds a pip that can download wheels.

    Returns:
        The pip command prefix.

    Raises:
        ToolError: If neither ``python -m pip`` nor ``pip3`` is usable.
    """
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    pip3 = shutil.which("pip3") or shutil.which("pip")
    if pip3:
        return [pip3]
    raise ToolError("pip is needed for setup: run this script with a Python that has pip.")


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Unpacks a wheel as an installer would for ``PYTHONPATH`` use.

    The contents of ``*.data/purelib`` and ``*.data/platlib`` are merged into
    ``target``; other ``.data`` parts (scripts, headers, data) are dropped.

    Args:
        wheel: The ``.whl`` file.
        target: Folder to unpack into.
    """
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            if info.is_dir() or not parts or not parts[-1]:
                continue
            dest = target.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                dest.chmod(mode | 0o600)


def build_site(layout: Layout, force: bool) -> dict[str, object]:
    """Downloads the aarch64 wheels and unpacks them into one folder.

    Args:
        layout: Cache paths.
        force: Rebuild even if the manifest says the folder is complete.

    Returns:
        The manifest section describing the wheels.

    Raises:
        ToolError: If pip fails (for example no aarch64 wheel for a version).
    """
    requirements = wheel_requirements()
    manifest = load_manifest(layout)
    previous = manifest.get("wheels")
    if (
        not force
        and isinstance(previous, dict)
        and previous.get("requirements") == requirements
        and layout.site.is_dir()
    ):
        say(f"wheels: cached at {layout.site} ({', '.join(requirements)})")
        return previous

    say(f"wheels: downloading aarch64 wheels: {' '.join(requirements)}")
    say(f"  (unpinned ones follow the versions installed for {sys.executable})")
    started = time.monotonic()
    platforms = [arg for tag in WHEEL_PLATFORMS for arg in ("--platform", tag)]
    staging = layout.cache / "site.partial"
    if staging.exists():
        shutil.rmtree(staging)
    with tempfile.TemporaryDirectory(dir=layout.cache) as fresh:
        run_host(
            [
                *pip_command(),
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                GUEST_PY_VERSION,
                "--implementation",
                "cp",
                *platforms,
                "--dest",
                fresh,
                *requirements,
            ],
            quiet=False,
            env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
        )
        wheels = sorted(Path(fresh).glob("*.whl"))
        bad = [
            w.name for w in wheels if "aarch64" not in w.name and not w.name.endswith("-any.whl")
        ]
        if bad:
            raise ToolError(f"pip returned wheels that are not for aarch64: {', '.join(bad)}")
        say(f"wheels: {len(wheels)} wheels downloaded in {time.monotonic() - started:.1f}s:")
        for wheel in wheels:
            say(f"  {wheel.name} ({wheel.stat().st_size / 2**20:.1f} MiB)")
        started = time.monotonic()
        staging.mkdir()
        for wheel in wheels:
            unpack_wheel(wheel, staging)
    if layout.site.exists():
        shutil.rmtree(layout.site)
    staging.rename(layout.site)
    say(f"wheels: unpacked into {layout.site} in {time.monotonic() - started:.1f}s")
    return {"requirements": requirements, "files": [w.name for w in wheels]}


def precompile(layout: Layout, qemu: str) -> float:
    """Byte-compiles the guest stdlib and wheels with the arm64 interpreter.

    Debian's python3.11-minimal ships no ``.pyc`` files and hosts often set
    ``PYTHONDONTWRITEBYTECODE``, so without this every emulated start would
    recompile the stdlib and TVM's Python sources.

    Args:
        layout: Cache paths.
        qemu: Path of ``qemu-aarch64-static``.

    Returns:
        Seconds taken.

    Raises:
        ToolError: If compileall fails.
    """
    started = time.monotonic()
    stdlib = layout.root / "usr" / "lib" / "python3.11"
    cmd = [
        qemu,
        "-L",
        str(layout.root),
        "-cpu",
        DEFAULT_CPU,
        str(layout.python),
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "-x",
        r"(/test/|/tests/|/lib2to3/tests/|/idlelib/|/tkinter/|/turtledemo/)",
        str(stdlib),
        str(layout.site),
    ]
    # compileall exits 1 when any file has a syntax error (test fixtures do);
    # that is harmless, so only a crash of the interpreter counts as failure.
    proc = subprocess.run(
        cmd, env=guest_env(layout, []), capture_output=True, text=True, check=False
    )
    if proc.returncode not in (0, 1):
        raise ToolError(
            f"byte-compiling under qemu failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    return time.monotonic() - started


def folder_size(path: Path) -> int:
    """Sums the sizes of the regular files under ``path``.

    Args:
        path: Folder to measure.

    Returns:
        Size in bytes (symlinks are not followed).
    """
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total


def cmd_setup(args: argparse.Namespace) -> int:
    """Implements ``setup``.

    Args:
        args: Parsed command line.

    Returns:
        Exit code.
    """
    qemu = require_qemu()
    layout = Layout(args.cache)
    layout.cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    manifest = load_manifest(layout)
    changed = False
    for key, build in (("root", build_root), ("wheels", build_site)):
        info = build(layout, args.force)
        if manifest.get(key) != info:
            changed = True
            manifest.pop("precompiled", None)
        manifest[key] = info
        save_manifest(layout, manifest)

    if changed or args.force or not manifest.get("precompiled"):
        say("byte-compiling stdlib and wheels with the arm64 python (under qemu)")
        seconds = precompile(layout, qemu)
        say(f"byte-compiled in {seconds:.1f}s")
        manifest["precompiled"] = True
        save_manifest(layout, manifest)
    else:
        say("byte-code: cached")

    if shutil.which("aarch64-linux-gnu-g++") is None:
        say(
            "note: no aarch64 cross compiler; to export TVM libraries for arm64 run: "
            + host_hint_install("gcc-aarch64-linux-gnu g++-aarch64-linux-gnu")
        )
    size_mb = folder_size(layout.cache) / 2**20
    say(f"ready in {time.monotonic() - started:.1f}s; cache {layout.cache} holds {size_mb:.0f} MiB")
    say(f"  root:   {layout.root}")
    say(f"  wheels: {layout.site}")
    say(f"  python: {QEMU} -L {layout.root} -cpu {DEFAULT_CPU} {layout.python}")
    return 0


# ----------------------------------------------------------------------- run/check


def guest_env(layout: Layout, extra_paths: Sequence[str]) -> dict[str, str]:
    """Builds the environment of the guest interpreter.

    Args:
        layout: Cache paths.
        extra_paths: Folders appended to ``PYTHONPATH`` after the wheels.

    Returns:
        The environment.
    """
    env = {key: value for key, value in os.environ.items() if key not in GUEST_ENV_DROP}
    paths = [str(layout.site), *(str(Path(p).resolve()) for p in extra_paths)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    # Keep ~/.local/lib/python3.11/site-packages (x86_64 builds) out of the guest.
    env["PYTHONNOUSERSITE"] = "1"
    return env


def require_setup(layout: Layout) -> None:
    """Checks that ``setup`` has completed for this cache.

    Args:
        layout: Cache paths.

    Raises:
        ToolError: If the root or the wheels are missing.
    """
    manifest = load_manifest(layout)
    cache_arg = "" if layout.cache == DEFAULT_CACHE.expanduser() else f" --cache {layout.cache}"
    wheels = manifest.get("wheels")
    if not (layout.python.is_file() and layout.site.is_dir() and isinstance(wheels, dict)):
        raise ToolError(
            f"no arm64 environment in {layout.cache}; run first:\n"
            f"    python {sys.argv[0]} setup{cache_arg}"
        )
    wanted = wheel_requirements()
    if wheels.get("requirements") != wanted:
        say(
            f"warning: the arm64 wheels ({', '.join(map(str, wheels.get('requirements', [])))}) "
            f"differ from this Python's ({', '.join(wanted)}); "
            f"to match them run: python {sys.argv[0]} setup{cache_arg}"
        )


def run_guest(
    layout: Layout, cpu: str, extra_paths: Sequence[str], python_args: Sequence[str]
) -> int:
    """Runs the arm64 interpreter under qemu, forwarding I/O and the exit code.

    Args:
        layout: Cache paths.
        cpu: qemu CPU model.
        extra_paths: Extra ``PYTHONPATH`` folders.
        python_args: Arguments for the interpreter (script and its arguments).

    Returns:
        The interpreter's exit code, or 128 + signal number if it was killed.
    """
    qemu = require_qemu()
    require_setup(layout)
    cmd = [qemu, "-L", str(layout.root), "-cpu", cpu, str(layout.python), *python_args]
    proc = subprocess.Popen(cmd, env=guest_env(layout, extra_paths))
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    return 128 - code if code < 0 else code


def cmd_run(args: argparse.Namespace) -> int:
    """Implements ``run``.

    Args:
        args: Parsed command line.

    Returns:
        The guest's exit code.

    Raises:
        ToolError: If no script was given.
    """
    python_args = list(args.python_args)
    if python_args and python_args[0] == "--":
        python_args = python_args[1:]
    if not python_args:
        raise ToolError("nothing to run: give the script after '--', e.g. run -- script.py ARGS")
    return run_guest(Layout(args.cache), args.cpu, args.pythonpath, python_args)


CHECK_SCRIPT = """
import platform, sys, time
t0 = time.perf_counter()
machine = platform.machine()
print(f"machine: {machine}")
print(f"python: {sys.version.split()[0]} ({sys.executable})")
import numpy
print(f"numpy: {numpy.__version__}")
import tvm
print(f"tvm: {tvm.__version__}")
import tvm.runtime
print(f"tvm.runtime: imported ({tvm.runtime.__name__})")
try:
    import tvm_ffi
    print(f"tvm_ffi: {getattr(tvm_ffi, '__version__', '?')}")
except ImportError as exc:
    print(f"tvm_ffi: not importable ({exc})")
try:
    import tokenizers
    print(f"tokenizers: {tokenizers.__version__}")
except ImportError as exc:
    print(f"tokenizers: not importable ({exc})")
print(f"imports took {time.perf_counter() - t0:.1f}s (emulated)")
sys.exit(0 if machine == "aarch64" else 3)
"""


def cmd_check(args: argparse.Namespace) -> int:
    """Implements ``check``.

    Args:
        args: Parsed command line.

    Returns:
        0 when the guest is aarch64 and TVM imports, else non-zero.
    """
    started = time.monotonic()
    code = run_guest(Layout(args.cache), args.cpu, [], ["-c", CHECK_SCRIPT])
    verdict = "passed" if code == 0 else "FAILED"
    say(f"check {verdict} in {time.monotonic() - started:.1f}s (cpu {args.cpu})")
    return code


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """Builds the command-line parser.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="arm64_env.py",
        description="Run Python on an emulated aarch64 CPU (qemu-user) with TVM's aarch64 wheels.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache",
        type=lambda value: Path(value).expanduser().resolve(),
        default=DEFAULT_CACHE.expanduser(),
        help=f"cache folder (default: {DEFAULT_CACHE})",
    )
    cpu = argparse.ArgumentParser(add_help=False)
    cpu.add_argument(
        "--cpu", choices=CPUS, default=DEFAULT_CPU, help=f"qemu CPU model (default: {DEFAULT_CPU})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    setup = sub.add_parser(
        "setup", parents=[common], help="create the cached arm64 root and wheels"
    )
    setup.add_argument("--force", action="store_true", help="rebuild even if the cache is complete")
    setup.set_defaults(func=cmd_setup)

    run = sub.add_parser(
        "run",
        parents=[common, cpu],
        help="run a script with the arm64 python",
        usage="arm64_env.py run [--cpu CPU] [--cache DIR] [--pythonpath DIR ...]"
        " -- SCRIPT [ARGS...]",
    )
    run.add_argument(
        "--pythonpath",
        nargs="+",
        action="extend",
        default=[],
        metavar="EXTRA",
        help="folders added to PYTHONPATH after the wheels (e.g. the project root)",
    )
    run.add_argument("python_args", nargs=argparse.REMAINDER, help="-- SCRIPT [ARGS...]")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", parents=[common, cpu], help="smoke-test the arm64 environment")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        Exit code.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse's REMAINDER does not stop "--pythonpath a b" from swallowing the
    # script, so split the guest's arguments off at the first "--" ourselves.
    guest: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, guest = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    if args.command == "run":
        args.python_args = list(args.python_args) + guest
    elif guest:
        build_parser().error(f"'{args.command}' takes no arguments after '--'")
    try:
        return int(args.func(args))
    except ToolError as exc:
        print(f"arm64_env: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("arm64_env: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
