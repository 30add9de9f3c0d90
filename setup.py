"""mottrack-sdk: one distribution, several import roots (see README "Architecture").

- ``mottrack_sdk``          <- ``sdk/``          runtime (numpy + onnxruntime/TensorRT only)
- ``mottrack_training``     <- ``training/``     CSTrack / CSTrack-S in PyTorch, training
- ``mottrack_export``       <- ``export/``       ONNX export, TensorRT engine building
- ``mottrack_calibration``  <- ``calibration/``  INT8 / FP16 calibration
- ``mottrack_sdk._native``  <- ``bindings/``     optional C++ tracking core

The CLI (``mottrack``) lives in the runtime; the training/export/calibration packages add their
sub-commands through the ``mottrack.commands`` entry-point group, so the runtime never imports them.
"""
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
PACKAGE_DIRS = {
    "mottrack_sdk": "sdk",
    "mottrack_training": "training",
    "mottrack_export": "export",
    "mottrack_calibration": "calibration",
}


def _read_pins(name: str) -> list[str]:
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "-r"))]


def _packages() -> tuple[list[str], dict[str, str]]:
    packages, package_dir = [], {}
    for root, folder in PACKAGE_DIRS.items():
        if not (ROOT / folder / "__init__.py").exists():
            continue  # a component not built yet
        packages.append(root)
        package_dir[root] = folder
        for sub in find_packages(where=folder):
            packages.append(f"{root}.{sub}")
            package_dir[f"{root}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


def _version() -> str:
    for line in (ROOT / "sdk" / "_version.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip("\"'")
    raise RuntimeError("sdk/_version.py has no __version__")


def _native_extensions() -> list:
    """``mottrack_sdk._native`` (pybind11) from bindings/, or none when pybind11 is not installed."""
    try:
        from pybind11.setup_helpers import ParallelCompile, Pybind11Extension
    except ImportError:
        print("mottrack-sdk: pybind11 not installed; skipping the native core (pure-Python core only)",
              file=sys.stderr)
        return []
    ParallelCompile("MOTTRACK_BUILD_JOBS", default=2).install()
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bindings" / "src").glob("*.cpp")
                     if p.name != "c_api.cpp") + ["bindings/python/python_module.cpp"]
    headers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bindings" / "src").glob("*.hpp"))
    return [Pybind11Extension("mottrack_sdk._native", sources, include_dirs=["bindings/src"], depends=headers,
                              cxx_std=17)]


class OptionalBuildExt(build_ext):
    """Builds the native core when it can; a failure warns and leaves the pure-Python core."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type != "msvc":  # results must not depend on FMA contraction
            for ext in self.extensions:
                ext.extra_compile_args += ["-O3", "-ffp-contract=off"]
        super().build_extensions()

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all, or a failed copy: the package still installs
            self._skip("the native core", exc)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # failed compile or link
            self._skip(ext.name, exc)
            self.extensions = [e for e in self.extensions if e is not ext]  # nothing to install
            # an editable install builds in place: a module left from an earlier build would be
            # imported as if it were this source's (tests/sdk/test_import.py then says it is missing)
            if self.inplace or getattr(self, "editable_mode", False):
                package_dir = self.get_finalized_command("build_py").get_package_dir(ext.name.rpartition(".")[0])
                (Path(package_dir) / Path(self.get_ext_filename(ext.name)).name).unlink(missing_ok=True)

    @staticmethod
    def _skip(what: str, exc: Exception) -> None:
        print(f"mottrack-sdk: WARNING: {what} was not built ({exc}); mottrack_sdk uses the pure-Python "
              "tracking core", file=sys.stderr)


packages, package_dir = _packages()
dev_pins = _read_pins("dev.txt")

setup(
    name="mottrack-sdk",
    version=_version(),
    description="Edge deployment SDK for real-time multi-object tracking (CSTrack / CSTrack-S)",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    package_data={"mottrack_sdk": ["assets/*", "assets/models/*", "py.typed"], "mottrack_training": ["configs/*.yaml", "weights/*/*"]},
    ext_modules=_native_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    install_requires=_read_pins("runtime.txt"),
    extras_require={
        "train": [p for p in dev_pins if p.split("==")[0] in {"torch", "matplotlib"}],
        "export": [p for p in dev_pins if p.split("==")[0] in {"torch", "onnx", "matplotlib"}],
        # trackeval also declares opencv-python; see README "Dependencies" for the clean install.
        "eval": ["trackeval==1.3.0", *_read_pins("eval.txt")],
        # teacher pseudo-labelling (mottrack_training.distill): OpenVINO teachers + onnx for YOLOX's graph
        "distill": [*_read_pins("distill.txt"), *(p for p in dev_pins if p.split("==")[0] == "onnx")],
        "trt": ["tensorrt>=8.5", "cuda-python>=11.8"],
        "dev": dev_pins,
    },
    entry_points={
        "console_scripts": ["mottrack=mottrack_sdk.cli.main:main"],
        # Sub-commands contributed by components (each folder's cli.py exposes `register`).
        "mottrack.commands": [
            f"{root.split('_', 1)[1]} = {root}.cli:register"
            for root, folder in PACKAGE_DIRS.items()
            if root != "mottrack_sdk" and (ROOT / folder / "cli.py").exists()
        ],
    },
)
