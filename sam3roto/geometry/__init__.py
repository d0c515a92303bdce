"""Geometry from depth and cameras: camera conventions, chunk alignment, normals, point
clouds and false-colour previews. Pure numpy/OpenCV, no I/O.

Every function states its convention. The base convention is OpenCV's (DA3's output):
camera +X right, +Y down, +Z forward; extrinsics are world-to-camera ``4x4``.
"""
