"""Video: old films coloured frame by frame with the photo models, stabilised over time, as a stream.

``colorize_video(source, destination, model)`` colours a file into an H.264 MP4 with the input's luma,
timestamps, rotation and audio; ``probe`` checks a file against ``VideoLimits`` first. PyAV (FFmpeg) and
OpenCV are imported when a video is opened, not with this package.
"""

from colorize.video.colour import Cancelled, VideoReport, colorize_video
from colorize.video.probe import (
           NotAVideo,
           NoVideoStream,
           UnreadableVideo,
           VideoError,
           VideoInfo,
           VideoLimits,
           VideoTooLarge,
           looks_like_video,
           probe,
)

__all__ = ["Cancelled", "NoVideoStream", "NotAVideo", "UnreadableVideo", "VideoError", "VideoInfo", "VideoLimits",
           "VideoReport", "VideoTooLarge", "colorize_video", "looks_like_video", "probe"]
