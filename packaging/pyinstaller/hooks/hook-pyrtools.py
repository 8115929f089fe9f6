"""PyInstaller hook for pyrtools (none ships with PyInstaller or its contrib hooks).

- pyrtools' C convolutions (corrDn, used by drrn_core.metrics.ifc) live in a plain shared library,
  pyramids/c/wrapConv*.so (.pyd on Windows), that wrapper.py finds by globbing next to its own
  __file__ and loads with ctypes. PyInstaller's binary search does not see that, so collect it
  into the same relative folder. The Windows wheel is delvewheel-repaired: the .pyd needs the
  vcruntime copy in pyrtools.libs/, collected as well.
- pyrtools/__init__.py imports tools.display, which imports matplotlib.pyplot at import time,
  only for plotting helpers DRRN Studio never calls. matplotlib stays out of the bundle (about
  35 MB, plus a font-cache build on first start); packaging/pyinstaller/rthook_drrn.py puts a
  stub in place of pyrtools.tools.display at run time.
"""

from pathlib import Path

from PyInstaller.utils.hooks import collect_delvewheel_libs_directory, get_package_paths

_, _pkg_dir = get_package_paths("pyrtools")
_c_dir = Path(_pkg_dir) / "pyramids" / "c"
binaries = [
    (str(p), "pyrtools/pyramids/c")
    for pattern in ("wrapConv*.so", "wrapConv*.pyd")
    for p in sorted(_c_dir.glob(pattern))
]
if not binaries:
    raise SystemExit(f"hook-pyrtools: no wrapConv library in {_c_dir}; IFC would not work")
datas = []
if (Path(_pkg_dir).parent / "pyrtools.libs").is_dir():
    datas, binaries = collect_delvewheel_libs_directory("pyrtools", datas=datas, binaries=binaries)

excludedimports = ["matplotlib"]
