"""User-facing strings of the style flow: friendly, short, emoji used sparingly.

Every string a user can see from the style flows (`bot/submit.py`, `bot/handlers/style*.py`,
`albums.py`, `results.py`), `bot/notifier.py`, `bot/requests.py` and `bot/intake.py` lives here,
so wording is reviewed in one place. Strings are plain text (no parse mode) unless their name
ends in `_HTML`.
"""

from __future__ import annotations

import html

# --- help ---------------------------------------------------------------------------------

STYLE_HELP = """\
🎨 How to get a painting

• Send a photo with the caption /style monet
• Or reply /style monet to a photo already in the chat
• Or just send me a photo (private chat) and tap a style
• Blend styles: /style monet:0.7 udnie:0.3
• Options: size=1024 strength=1.5 colors=keep seed=3 (colors=keep keeps your photo's colours)

Your own painting as the style:
• Send an album of two photos captioned /style: first your photo, then the painting
• Or reply to your photo with the painting, captioned /style

Short videos, GIFs and round video messages too: the same caption, reply or buttons, and
back comes the clip, painted (without its sound).

See /styles for the list of paintings. Photos or image files up to 20 MB."""

STYLE_USAGE = (
    "Send a photo with the caption /style <name>, or reply /style <name> to a photo. "
    "See /styles for the names, /help for more."
)

# --- request parsing ------------------------------------------------------------------------

UNKNOWN_STYLE = "I don't know the style “{name}”."
UNKNOWN_STYLE_SUGGEST = "I don't know the style “{name}”. Did you mean {suggestions}?"
SEE_STYLES = "See /styles for the list."
BAD_OPTION = "I don't understand “{token}”. Options: {options}."
BAD_VALUE = "“{key}” should be {expected} (got “{value}”)."
BAD_WEIGHT = "A style weight should be a number above 0, like monet:0.7 (got “{token}”)."
TOO_MANY_STYLES = "That's a lot of paintings — blend at most {max} styles at once."
SIZE_CLAMPED = "Size {asked} is above the limit, painting at {size} px instead."
ITERATIONS_CLAMPED = "Iterations capped at {iterations}."
SIZE_TOO_SMALL = "Size should be at least {min} px."

# --- intake ---------------------------------------------------------------------------------

FILE_TOO_BIG = "That file is {size} — I can only fetch files up to {limit} from Telegram."
NOT_AN_IMAGE = "That file isn't an image I can paint. Send a photo, or a JPEG/PNG/WebP file."
BAD_IMAGE = "I couldn't read that image — it may be damaged or cut off. Try sending it again."
IMAGE_TOO_MANY_PIXELS = (
    "That image is huge ({width}×{height}). Please send one under {megapixels} megapixels."
)
IMAGE_TOO_THIN = (
    "That image is too long and thin ({width}×{height}) to paint nicely. "
    "Crop it to something closer to a rectangle (at most {ratio}:1)."
)
IMAGE_TOO_SMALL = "That image is tiny ({width}×{height}). Send one at least {min} px on each side."
IMAGE_DOWNSCALED = (
    "Your image is {width}×{height}; I'll paint it smaller (at most {size} px on the long side)."
)
DOWNLOAD_FAILED = "I couldn't download that file from Telegram. Please try again in a moment."

MEDIA_HINT = {
    "sticker": "Stickers can't be painted, sorry — send me a photo instead. 🙂",
    "voice": "I can only paint photos. Send one with the caption /style monet.",
    "audio": "I can only paint photos. Send one with the caption /style monet.",
}
NEED_PHOTO = (
    "Reply /style <name> to a photo, or send a photo with that caption. See /help for more."
)
PRIVATE_HINT_TEXT = "Send me a photo and I'll paint it. 🎨 /help shows how."

# --- queueing -------------------------------------------------------------------------------

BANNED = "Sorry, you can't use this bot."
USER_LIMIT = (
    "You already have {count} pictures in the works (the limit is {limit}). "
    "I'll take more once one is done — /cancel drops one."
)
CHAT_LIMIT = (
    "This chat already has {count} pictures in the works (the limit is {limit}). "
    "Try again when one is done."
)
ALREADY_QUEUED = "That one is already in the works."
QUEUED_NEXT = "🎨 Queued — you're next{eta}. I'll update this message as it paints."
QUEUED_POS = "🎨 Queued — you're #{pos} in line{eta}. I'll update this message as it paints."
QUEUED_RUNNING = "🖌 Painting now{eta}. I'll update this message as it paints."
QUEUED_ETA = ", about {eta}"
QUEUED_PAUSED = (
    "⏸ Queued (#{pos} in line), but painting is paused by an admin right now — "
    "your picture will wait and I'll update this message when it starts."
)
WAITING_NOTE = "You have {count} pictures waiting."

KEYBOARD_PROMPT = "Pick a style for this photo 🎨"
KEYBOARD_PROMPT_GROUP = "Pick a style for this photo 🎨 (/styles describes them)"
KEYBOARD_GONE = "I can't find that photo any more — send it again."
KEYBOARD_NOT_YOURS = "This menu belongs to someone else's photo."

ALBUM_OWN_STYLE_NEEDS_TWO = (
    "For your own style send exactly two photos in one album captioned /style: "
    "first your photo, then the painting."
)
ALBUM_TOO_MANY = "I'll paint the first {max} photos of that album."

# --- progress & results ---------------------------------------------------------------------

PROGRESS = "🖌 Painting… {bar} {percent}%\nStep {iteration}/{total} · {elapsed} elapsed{eta}"
PROGRESS_ETA = " · about {eta} left"
PROGRESS_STARTING = "🖌 Painting… getting the brushes ready."
DONE = "✅ Done in {duration}."
CLIP_PROGRESS = (
    "🖌 Painting your clip… {bar} {percent}%\nFrame {iteration} of {total} · {elapsed} elapsed{eta}"
)
CLIP_SOUND_DROPPED = "🔇 The sound is dropped: the painted clip comes back silent."
CLIP_TOO_LONG = "This clip is {seconds} s long; I paint clips of at most {limit:g} seconds."
CLIP_AS_STYLE = "The painting to copy must be a picture, not a video."
FAILED = "😕 {error}"
FAILED_FALLBACK = "Something went wrong while painting. Please try again."
CANCELLED = "Cancelled."
RESULT_CAPTION = "🎨 {style} · {width}×{height} · {duration}"
OPTION_STRENGTH = "strength {strength:g}"
OPTION_YOUR_COLOURS = "your colours"
RESULT_CREDIT_HTML = "for {mention}"
FULL_RES_BUTTON = "Full resolution (PNG)"
FULL_RES_GONE = "That picture has expired — paint it again with /style."
FULL_RES_SENDING = "Sending the full-resolution file…"
TIMELAPSE_BUTTON = "🎞 Timelapse"
TIMELAPSE_CAPTION = "🎞 {style}: from photo to painting"
TIMELAPSE_MAKING = "Making the timelapse…"
TIMELAPSE_BUSY = "The timelapse is on its way."
TIMELAPSE_GONE = "That picture has expired — its timelapse went with it."
TIMELAPSE_FAILED = "Sorry, I couldn't make the timelapse of this picture."

# --- variations (buttons under a result) ----------------------------------------------------

STRONGER_BUTTON = "➕ Stronger"
SUBTLER_BUTTON = "➖ Subtler"
KEEP_COLOURS_BUTTON = "🎨 Keep colours"
STYLE_COLOURS_BUTTON = "🎨 Painting's colours"
ANOTHER_STYLE_BUTTON = "🖼 Another style…"
ANOTHER_STYLE_PROMPT = "Pick another style for this photo 🎨"
VARIATION_NOT_YOURS = (
    "These buttons are for {name}, who asked for this picture. "
    "Send your own photo with /style to get yours 🙂"
)
VARIATION_PHOTO_GONE = (
    "The photo of this picture has been cleaned up, so I can't paint it again — "
    "send it once more with /style."
)
VARIATION_DONE = "That one is painted already — it's above. 🙂"
VARIATION_TOO_MANY = "I've tried that one a few times already — send the photo again with /style."
STRONGEST = "That's as strong as it goes (strength {strength:g})."
SUBTLEST = "That's as subtle as it goes (strength {strength:g})."
NOTE_STRONGER = "➕ Stronger: strength {strength:g}"
NOTE_SUBTLER = "➖ Subtler: strength {strength:g}"
NOTE_KEEP_COLOURS = "🎨 Keeping your photo's colours"
NOTE_STYLE_COLOURS = "🎨 With the painting's colours"
NOTE_ANOTHER_STYLE = "🖼 Now as {style}"
OWN_STYLE_NAME = "your painting"

ERROR_GENERIC = "Oops, something went wrong on my side. Please try again."
DATABASE_AWAY = (
    "Sorry, I can't reach my list of pictures right now, so I couldn't take that. "
    "Please send it again in a few minutes."
)


def escape(text: str) -> str:
    """Escape text for an HTML caption."""
    return html.escape(text, quote=False)


def format_duration(seconds: float | None) -> str:
    """`42s`, `1m 12s`, `1h 3m` — short and rounded."""
    if seconds is None:
        return "?"
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


def format_eta(seconds: float | None) -> str:
    """A rough human ETA: `a few seconds`, `1 min`, `3 min`, `1 h 20 min`."""
    if seconds is None:
        return "?"
    if seconds < 45:
        return "a few seconds" if seconds < 15 else "less than a minute"
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} B"


def progress_bar(fraction: float, width: int = 10) -> str:
    fraction = min(1.0, max(0.0, fraction))
    filled = int(round(fraction * width))
    return "▰" * filled + "▱" * (width - filled)
