"""Reading an RGB image's pixels straight out of Pillow's memory, without the GIL.

``numpy.asarray(image)`` goes through ``Image.tobytes``, which repacks Pillow's
four-bytes-per-pixel RGB storage into three bytes while holding the GIL: about 0.3 ms for
a 640x480 image, and threads cannot share it. Since 11.2 Pillow exports its pixel block
through the Arrow C data interface (``Image.__arrow_c_array__``), a stable ABI: an RGB
image is a fixed-size list of four uint8 per pixel (R, G, B, padding) pointing at
Pillow's own memory. ``copy_rgbx`` copies that block with ``ctypes.memmove``, which
releases the GIL, so the threads that fill a GPU's pinned batch run side by side.

``pack_rgb`` goes the other way: four bytes per pixel to three, through Pillow's packer.
"""

from __future__ import annotations

import ctypes

import numpy as np
from PIL import Image


class _ArrowArray(ctypes.Structure):
    """``struct ArrowArray`` of the Arrow C data interface."""


_ArrowArray._fields_ = [  # pylint: disable=protected-access
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.POINTER(_ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def copy_rgbx(image: Image.Image, target: np.ndarray) -> bool:
    """Copy an RGB ``image`` into ``target`` (H, W, 4) uint8 as R, G, B, padding.

    False, with ``target`` untouched, where Pillow cannot export the pixels in one block
    (a Pillow before 11.2, another mode, or an image spread over several memory blocks):
    the caller then copies through ``numpy.asarray``.
    """
    width, height = image.size
    export = getattr(image, "__arrow_c_array__", None)
    if image.mode != "RGB" or target.shape != (height, width, 4) or export is None:
        return False
    if not target.flags.c_contiguous:
        return False
    try:
        schema, array = export()
    except (ValueError, OSError):  # several memory blocks, or nothing to export
        return False
    start = _pixel_block(schema, array, width * height * 4)
    if start is None:
        return False
    # the capsules (and with them Pillow's block) live until this function returns;
    # ctypes releases the GIL for the copy
    ctypes.memmove(target.ctypes.data, start, width * height * 4)
    return True


def _pixel_block(schema: object, array: object, count: int) -> int | None:
    """The address of the ``count`` pixel bytes of an exported RGB image, or None where
    the export is not the expected fixed-size list of four uint8 per pixel."""
    # ``struct ArrowSchema`` begins with ``const char* format``
    format_address = ctypes.c_void_p.from_address(_capsule_pointer(schema, b"arrow_schema"))
    if ctypes.c_char_p(format_address.value).value != b"+w:4":
        return None
    exported = _ArrowArray.from_address(_capsule_pointer(array, b"arrow_array"))
    if exported.n_children != 1:
        return None
    values = exported.children[0].contents
    if values.n_buffers != 2 or values.length - values.offset < count or not values.buffers[1]:
        return None
    return int(values.buffers[1]) + int(values.offset)


def pack_rgb(block: np.ndarray, target: np.ndarray) -> None:
    """Copy the R, G, B bytes of each pixel of ``block`` (H, W, 4) uint8 into ``target``
    (H, W, 3) uint8, whose rows may be strided (a view of a larger canvas).

    numpy and torch copy a 4-to-3-channel slice one pixel at a time: 0.6-0.8 ms for
    384x288 pixels on the 2-core machine. Pillow's packer, on an image that borrows
    ``block``'s memory, makes the three-byte rows in 0.15 ms.
    """
    height, width, _ = block.shape
    if not block.flags.c_contiguous or block.shape[2] != 4:
        target[...] = block[..., :3]
        return
    borrowed = Image.frombuffer("RGBX", (width, height), block, "raw", "RGBX", 0, 1)
    packed = borrowed.tobytes("raw", "RGB")
    target[...] = np.frombuffer(packed, dtype=np.uint8).reshape(height, width, 3)
