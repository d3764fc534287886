"""Clips: painting a video's frames in order without flicker (`painting`: the temporal term,
each frame warm-started from the previous one warped along the optical flow of `flow`).

Uses the painting (engine/paint/), never the painter process. Decoding and encoding the
video itself is torch-free and shared with the bot: media/video.py.
"""
