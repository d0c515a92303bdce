"""Media in: movies (PyAV), image sequences (fileseq), stills, ZIPs of frames."""

from sam3roto.media.source import FrameSource, MediaInfo, open_media

__all__ = ["FrameSource", "MediaInfo", "open_media"]
