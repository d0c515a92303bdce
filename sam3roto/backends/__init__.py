"""Segmentation and depth engines behind small protocols (see :mod:`.base`)."""
