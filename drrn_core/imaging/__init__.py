"""Image maths shared by every caller: MATLAB-exact bicubic, BT.601 colour, crops and file IO."""

from drrn_core.imaging.color import rgb_to_y_u8, rgb_to_ycbcr, ycbcr_to_rgb
from drrn_core.imaging.crop import modcrop, shave
from drrn_core.imaging.resize import imresize

__all__ = ["imresize", "modcrop", "shave", "rgb_to_y_u8", "rgb_to_ycbcr", "ycbcr_to_rgb"]
