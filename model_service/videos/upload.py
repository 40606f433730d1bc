"""A video upload streamed to a file a chunk at a time (never held in memory), raw or as the multipart field
``video``, and refused once it passes VIDEO_MAX_BYTES however it is sent (with or without Content-Length)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO

from werkzeug.formparser import MultiPartParser
from werkzeug.utils import secure_filename

from colorize.video import VideoTooLarge
from model_service.errors import ApiError
from model_service.gate import Busy

CHUNK = 1 << 20
FIELD = "video"
# The options beside the file are a few short strings, but Werkzeug holds its decoder's buffer to this bound
# too, and a file's data passes through that buffer a read chunk at a time: keep it well above CHUNK.
MAX_FORM_FIELD_BYTES = 4 * CHUNK
MAX_FORM_PARTS = 16


class BoundedStream:
    """``stream`` read in chunks; VideoTooLarge once more than ``limit`` bytes have come."""

    def __init__(self, stream: IO[bytes], limit: int):
        self.stream, self.limit, self.count = stream, limit, 0

    def read(self, size: int = CHUNK) -> bytes:
        data = self.stream.read(CHUNK if size is None or size < 0 else size)
        self.count += len(data)
        if self.count > self.limit:
            raise VideoTooLarge(f"the upload is larger than {self.limit:,} bytes (VIDEO_MAX_BYTES)")
        return data


def _disk_full(error: OSError) -> None:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        raise Busy("the video jobs folder is full; try again later", "disk_full") from None


def receive_raw(stream: IO[bytes], path: Path, limit: int) -> int:
    """Copy the raw body to ``path``; its size in bytes."""
    source = BoundedStream(stream, limit)
    try:
        with open(path, "wb") as file:
            while chunk := source.read(CHUNK):
                file.write(chunk)
    except OSError as error:
        _disk_full(error)
        raise
    return source.count


def receive_multipart(stream: IO[bytes], boundary: str | None, folder: Path, limit: int,
                      content_length: int | None) -> tuple[Path, str | None, dict[str, str]]:
    """Parse a multipart body into ``folder``: the path of the field ``video``'s file (renamed ``input``), its
    file name as sent, and the form's other fields."""
    if not boundary:
        raise ApiError(400, "invalid_multipart", "the multipart/form-data Content-Type has no boundary")
    opened: list[IO[bytes]] = []

    def factory(total_content_length=None, content_type=None, filename=None, content_length=None) -> IO[bytes]:
        file = open(folder / f"part-{len(opened)}", "wb+")
        opened.append(file)
        return file

    parser = MultiPartParser(factory, max_form_memory_size=MAX_FORM_FIELD_BYTES, max_form_parts=MAX_FORM_PARTS)
    try:
        form, files = parser.parse(BoundedStream(stream, limit), boundary.encode("latin-1"), content_length)
    except VideoTooLarge:
        raise
    except ValueError as error:  # Werkzeug's parser: a body that is not the multipart it says
        raise ApiError(400, "invalid_multipart", f"the multipart/form-data body cannot be parsed: {error}") from None
    except OSError as error:
        _disk_full(error)
        raise
    finally:
        for file in opened:
            file.close()
    uploads = files.getlist(FIELD)
    if not uploads:
        raise ApiError(400, "missing_video", f"the multipart form has no file field {FIELD!r}")
    if len(uploads) > 1:
        raise ApiError(400, "too_many_videos", f"the field {FIELD!r} holds {len(uploads)} files; send one video "
                                               "per request")
    path = folder / "input"
    os.replace(uploads[0].stream.name, path)
    for other in opened:
        if other.name != str(path) and os.path.exists(other.name):
            os.unlink(other.name)
    return path, uploads[0].filename, {key: form[key] for key in form}


def result_name(filename: str | None, job_id: str) -> str:
    """The download's name: the upload's stem with ``-colorized.mp4`` (as photos), else one from the job's id."""
    stem = secure_filename(Path(filename or "").stem)[:80]
    return f"{stem or 'video-' + job_id[:8]}-colorized.mp4"
