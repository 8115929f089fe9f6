"""DRRN Studio's engine: model, MATLAB-exact imaging, the paper's evaluation protocol, inference
and training. Nothing in this package imports Qt.

Conventions used throughout (as in BasicSR's metrics):
- "Y" images are 2-D float64 arrays in [0, 1] unless a name says ``_u8`` (uint8, [0, 255]).
- Colour images are HWC; torch tensors are NCHW.
"""

import os as _os

__version__ = "0.1.0"

CPU_ISA_ENV = "DRRN_CPU_ISA"
"""Laptop mode: ``DRRN_CPU_ISA=avx2`` runs everything as on an AVX2 CPU without bf16/AMX units
(what desktops and laptops have): ``engine.device`` hides AVX-512/AMX/bf16 from detection and
``auto``, and PyTorch's and oneDNN's kernels are capped at AVX2. Set it before torch is imported
(here, for every process that imports drrn_core first; CI sets all three variables itself)."""
if _os.environ.get(CPU_ISA_ENV, "").strip().lower() == "avx2":
    _os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
    _os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
