"""Untrusted media in, results out: torch-free (Pillow, PyAV), so the bot vets a photo or a
clip with the same code the painter loads it with, before anything is queued.

`images` (photos and image files), `video` (clips and GIFs), `timelapse` (the frames kept
while a picture forms, packed as one job file).
"""
