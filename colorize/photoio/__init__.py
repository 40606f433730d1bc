"""Archive photos in and out: TIFF at full depth, and the metadata a scan carries (ICC profile, DPI, EXIF).

Shared by the model service (model_service.decode, its answers) and ``colorize predict``; split by concern into
common (the error, PhotoMeta, constants), metadata (ICC, DPI, EXIF), tiff (TIFF checks, 16-bit TIFF read and
written), png (16-bit colour PNG read) and writing (each format's answer bytes):

    meta = read_meta(image)                      # before the EXIF orientation is applied
    pixels = full_depth(image, source)           # a 16-bit RGB TIFF or PNG as a uint16 array, else the PIL image
    result = colorize_upright(pixels, model, 128, depth=meta.depth)
    data = encode(result, "tiff", meta)

Pillow reads 16-bit grey at full depth but 16-bit RGB TIFFs and PNGs only as 8-bit, so those are read with
tifffile (LZW and JPEG through imagecodecs) and imagecodecs' libpng. A 16-bit photo is answered in 16 bits in
PNG and TIFF; JPEG and WebP are 8-bit formats. What each format keeps is in docs/limits.md.
"""

from colorize.photoio.common import (
                                     EXIF_IFD,
                                     FORMATS,
                                     MAX_PAGES,
                                     ORIENTATION,
                                     SIXTEEN_BIT_FORMATS,
                                     SRGB_ICC,
                                     TEXT_TAGS,
                                     TIFF_COMPRESSIONS,
                                     PhotoError,
                                     PhotoMeta,
)
from colorize.photoio.metadata import is_sixteen_bit, read_meta
from colorize.photoio.tiff import check_tiff, check_unopened_tiff, full_depth, tiff_stream
from colorize.photoio.writing import encode, png16, to_8bit, write

__all__ = ["EXIF_IFD", "FORMATS", "MAX_PAGES", "ORIENTATION", "SIXTEEN_BIT_FORMATS", "SRGB_ICC", "TEXT_TAGS",
           "TIFF_COMPRESSIONS", "PhotoError", "PhotoMeta", "check_tiff", "check_unopened_tiff", "encode",
           "full_depth", "is_sixteen_bit", "png16", "read_meta", "tiff_stream", "to_8bit", "write"]
