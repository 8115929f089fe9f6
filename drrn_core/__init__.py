"""DRRN Studio's engine: model, MATLAB-exact imaging, the paper's evaluation protocol, inference
and training. Nothing in this package imports Qt.

Conventions used throughout (as in BasicSR's metrics):
- "Y" images are 2-D float64 arrays in [0, 1] unless a name says ``_u8`` (uint8, [0, 255]).
- Colour images are HWC; torch tensors are NCHW.
"""

__version__ = "0.1.0"
