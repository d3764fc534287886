"""Every string a user can see, in English: the msgids of the bot's gettext catalogues.

Every string a user (or an admin) can see from the bot lives here, so wording is reviewed in
one place and `python -m bot.i18n extract` finds all of it for the translators
(bot/locales/messages.pot; the languages: bot/locales/<locale>/LC_MESSAGES/messages.po).
Code never shows these constants as they are: it translates them for the person a message is
for (`bot.i18n.Tr`). Strings are plain text (no parse mode) unless their name ends in `_HTML`.
Placeholders are `{name}` fields, filled in after translation; `Plural` pairs are chosen by
their `{count}`-like number with each language's plural rules; `PAINTINGS` are the paintings'
names (translated with the context "painting").
"""

from __future__ import annotations

import html
from typing import NamedTuple

from jobs import failures as _failures
from media import messages as _media


class Plural(NamedTuple):
    """A message with singular and plural forms (gettext's ngettext)."""

    singular: str
    plural: str


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
EXPECT_PIXELS = "a whole number of pixels"
EXPECT_STRENGTH = "a number above 0 and at most {max}"
EXPECT_COLORS = "keep or style"
EXPECT_SEED = "a whole number ≥ 0"
EXPECT_POSITIVE = "a whole number above 0"
BAD_WEIGHT = "A style weight should be a number above 0, like monet:0.7 (got “{token}”)."
TOO_MANY_STYLES = "That's a lot of paintings — blend at most {max} styles at once."
SIZE_CLAMPED = "Size {asked} is above the limit, painting at {size} px instead."
ITERATIONS_CLAMPED = "Iterations capped at {iterations}."
SIZE_TOO_SMALL = "Size should be at least {min} px."

# --- intake ---------------------------------------------------------------------------------

FILE_SIZE_OVER = "over {size}"
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
# Refusals of untrusted media by reason (media/messages.py is their one English source; the
# painter writes the same sentences in its job errors).
CLIP_REFUSED = _media.CLIP_MESSAGES
IMAGE_REFUSED = _media.IMAGE_MESSAGES
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
USER_LIMIT = Plural(
    "You already have {count} picture in the works (the limit is {limit}). "
    "I'll take more once one is done — /cancel drops one.",
    "You already have {count} pictures in the works (the limit is {limit}). "
    "I'll take more once one is done — /cancel drops one.",
)
CHAT_LIMIT = Plural(
    "This chat already has {count} picture in the works (the limit is {limit}). "
    "Try again when one is done.",
    "This chat already has {count} pictures in the works (the limit is {limit}). "
    "Try again when one is done.",
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
WAITING_NOTE = Plural("You have {count} picture waiting.", "You have {count} pictures waiting.")

KEYBOARD_PROMPT = "Pick a style for this photo 🎨"
KEYBOARD_PROMPT_GROUP = "Pick a style for this photo 🎨 (/styles describes them)"
KEYBOARD_GONE = "I can't find that photo any more — send it again."
KEYBOARD_NOT_YOURS = "This menu belongs to someone else's photo."

ALBUM_OWN_STYLE_NEEDS_TWO = (
    "For your own style send exactly two photos in one album captioned /style: "
    "first your photo, then the painting."
)
ALBUM_TOO_MANY = Plural(
    "I'll paint the first {count} photo of that album.",
    "I'll paint the first {count} photos of that album.",
)

ETA_SECONDS = "a few seconds"
ETA_UNDER_MINUTE = "less than a minute"
UNKNOWN_TIME = "?"

# --- progress & results ---------------------------------------------------------------------

PROGRESS = "🖌 Painting… {bar} {percent}%\nStep {iteration}/{total} · {elapsed} elapsed{eta}"
PROGRESS_ETA = " · about {eta} left"
PROGRESS_STARTING = "🖌 Painting… getting the brushes ready."
DONE = "✅ Done in {duration}."
CLIP_PROGRESS = (
    "🖌 Painting your clip… {bar} {percent}%\nFrame {iteration} of {total} · {elapsed} elapsed{eta}"
)
CLIP_SOUND_DROPPED = "🔇 The sound is dropped: the painted clip comes back silent."
CLIP_TOO_LONG = "This clip is {seconds} s long; I paint clips of at most {limit} seconds."
CLIP_AS_STYLE = "The painting to copy must be a picture, not a video."
FAILED = "😕 {error}"
FAILED_FALLBACK = "Something went wrong while painting. Please try again."
# Why the painter failed a job, by key (jobs/failures.py is their one English source; a key
# "clip.<reason>" / "image.<reason>" is one of the refusals above).
FAILURES = {
    key: Plural(*template) if isinstance(template, tuple) else template
    for key, template in _failures.MESSAGES.items()
}
CANCELLED = "Cancelled."
RESULT_CAPTION = "🎨 {style} · {width}×{height} · {duration}"
OPTION_STRENGTH = "strength {strength}"
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
STRONGEST = "That's as strong as it goes (strength {strength})."
SUBTLEST = "That's as subtle as it goes (strength {strength})."
NOTE_STRONGER = "➕ Stronger: strength {strength}"
NOTE_SUBTLER = "➖ Subtler: strength {strength}"
NOTE_KEEP_COLOURS = "🎨 Keeping your photo's colours"
NOTE_STYLE_COLOURS = "🎨 With the painting's colours"
NOTE_ANOTHER_STYLE = "🖼 Now as {style}"
OWN_STYLE_NAME = "your painting"

ERROR_GENERIC = "Oops, something went wrong on my side. Please try again."
DATABASE_AWAY = (
    "Sorry, I can't reach my list of pictures right now, so I couldn't take that. "
    "Please send it again in a few minutes."
)

# --- /start, /help and the command menu ----------------------------------------------------

START_HTML = "Hi {name}! I repaint photos in the style of famous paintings. 🎨"
START_NAMELESS = "there"
COMMANDS_HTML = """\
<b>Commands</b>
/styles — the paintings, with pictures
/queue — where your pictures are in line
/cancel — stop a picture (<code>/cancel 12</code> for a specific one)
/settings — your default size, strength, colours and language
/help — this message

<b>In groups</b> add me and use the same commands: send a photo captioned \
<code>/style monet</code>, or reply <code>/style monet</code> to anyone's photo."""
COMMAND_STYLE = "Paint a photo: /style monet (caption or reply)"
COMMAND_STYLES = "The paintings I can paint in"
COMMAND_QUEUE = "Where your pictures are in line"
COMMAND_CANCEL = "Stop your picture"
COMMAND_SETTINGS = "Your default size, strength, colours and language"
COMMAND_HELP = "How to use the bot"
# The bot's profile: the empty chat's "What can this bot do?" (512 characters at most) and the
# short description on its page and in shares (120 at most).
BOT_DESCRIPTION = (
    "I repaint your photos in the style of famous paintings: The Starry Night, The Great "
    "Wave, The Scream and more. 🎨 Send me a photo and tap a style — short videos and GIFs "
    "too. In groups: a photo captioned /style monet."
)
BOT_SHORT_DESCRIPTION = "I repaint your photos in the style of famous paintings. 🎨"

# --- /settings ------------------------------------------------------------------------------

SETTINGS_HTML = """\
⚙️ <b>Your defaults</b> for new pictures
Size: {size}
Strength: {strength}
Colours: {colors}
Language: {language}

Change them with the buttons, or type \
<code>/settings size=1024 strength=1.5 colors=keep language=en</code>. \
<code>/settings reset</code> goes back to the defaults."""
SETTINGS_DEFAULT = "default"
SETTINGS_SIZE = "{size} px"
SETTINGS_KEEP = "keep my photo's colours"
SETTINGS_STYLE = "the painting's colours"
SETTINGS_LANGUAGE_AUTO = "{language} (from your Telegram app)"
SETTINGS_SAVED = "Saved. ✅"
SETTINGS_ONLY = (
    "Settings are size, strength, colours and language, e.g. "
    "/settings size=1024 strength=1.5 colors=keep language=en (or /settings reset)."
)
SETTINGS_BAD_LANGUAGE = "I don't speak “{language}” yet. Languages: {languages}."
SETTINGS_NOT_YOURS = "These are someone else's settings — send /settings for yours."
SETTINGS_BAD_BUTTON = "That button is out of date — send /settings again."
SETTINGS_ANSWER = "Saved: {what}"
SETTINGS_ANSWER_SIZE = "size {size} px"
SETTINGS_ANSWER_STRENGTH = "strength ×{strength}"
SETTINGS_ANSWER_DEFAULTS = "defaults"
SETTINGS_KEEP_BUTTON = "Keep my colours"
SETTINGS_STYLE_BUTTON = "Painting's colours"
SETTINGS_RESET_BUTTON = "Reset to defaults"
SETTINGS_AUTO_BUTTON = "🌐 Telegram's language"

# --- /queue ---------------------------------------------------------------------------------

QUEUE_EMPTY_HTML = (
    "You have no pictures in the works. Send a photo captioned <code>/style monet</code> "
    "to start one."
)
QUEUE_HEADER = "Your pictures:"
QUEUE_RUNNING = "🖌 painting now{progress}{eta}"
QUEUE_RUNNING_STEP = ", step {iteration}/{total}"
QUEUE_RUNNING_ETA = ", about {eta} left"
QUEUE_STOPPING = " (stopping)"
QUEUE_QUEUED = "⏳ #{pos} in line{eta}"
QUEUE_QUEUED_ETA = ", done in about {eta}"
QUEUE_GROUP = Plural(
    "This group has {count} picture in the works; {total} in line overall.",
    "This group has {count} pictures in the works; {total} in line overall.",
)
QUEUE_TOTAL = "{total} in line overall."
QUEUE_PAUSED = "⏸ Painting is paused by an admin right now; your place in line is kept."
QUEUE_OTHER_CHAT = " · from another chat"

# --- /cancel --------------------------------------------------------------------------------

CANCEL_NOTHING = "You have nothing to cancel."
CANCEL_USAGE_HTML = "Use <code>/cancel</code>, or <code>/cancel 12</code> for job #12."
CANCEL_NOT_FOUND = "I can't find an active picture #{id} of yours."
CANCEL_DONE = "Cancelled #{id}."
CANCEL_DONE_ALL = "Cancelled them all."
CANCEL_STOPPING = "Stopping #{id} — it ends at the next painting step."
CANCEL_GONE = "#{id} already finished."
CANCEL_PICK = Plural(
    "You have {count} picture in the works. Which one should I cancel?",
    "You have {count} pictures in the works. Which one should I cancel?",
)
CANCEL_ALL = "Cancel all"
CANCEL_NOT_YOURS = "These buttons belong to someone else."
CANCEL_STATE_PAINTING = "painting"
CANCEL_STATE_QUEUED = "queued"

# --- /styles --------------------------------------------------------------------------------

GALLERY_INTRO_HTML = (
    "Tap a painting to read about it. To use one, send a photo captioned "
    "<code>/style name</code>; blend them with <code>/style monet:0.7 udnie:0.3</code>."
)
GALLERY_CAPTION_HTML = "<b>{title}</b>\n{artist}, {year}\n<code>/style {name}</code>"
CARD_NOTE_HTML = "\n<i>Right: three photos, and below them what this painting makes of them.</i>"
GALLERY_DETAIL_HTML = (
    "<b>{title}</b>\n{artist}, {year}\n<i>{blurb}</i>\n\n"
    "Use it: <code>/style {name}</code>{aliases}"
)
GALLERY_ALIASES_HTML = " (or {aliases})"
GALLERY_EMPTY = "No paintings are installed yet — ask the admin to fetch the styles."
GALLERY_UNKNOWN = "That painting isn't available any more."

# --- /admin ---------------------------------------------------------------------------------

ADMIN_REFUSAL = "Sorry, that's for admins only."
ADMIN_USAGE_HTML = """\
<b>Admin commands</b>
/admin — overview
/admin jobs — the queue
/admin cancel <i>ID</i> · /admin bump <i>ID</i>
/admin pause · /admin resume
/admin drain <i>NAME</i> · /admin undrain <i>NAME</i>
/admin ban <i>USER_ID</i> · /admin unban <i>USER_ID</i>"""
ADMIN_COMMAND_USAGE_HTML = "Usage: <code>/admin {command}</code>"
ADMIN_DRAIN_USAGE_HTML = "Usage: <code>/admin {command} NAME</code> (see /admin)"
ADMIN_TITLE_HTML = "🛠 <b>Admin</b>"
ADMIN_QUEUE_LINE = "Queue: {queued} queued, {running} running"
ADMIN_RUNNING_HTML = (
    "Running: <b>#{id}</b> {label} for {user} — {progress}, started {ago} ago{stopping}"
)
ADMIN_STOPPING = " — stopping"
ADMIN_RUNNING_NOTHING = "Running: nothing"
ADMIN_PAINTERS = "Painters ({count}):"
ADMIN_NO_PAINTERS = "Painters: ❌ none registered (no heartbeat)"
ADMIN_PAUSED_YES = "Paused: ⏸ yes — no new jobs start"
ADMIN_PAUSED_NO = "Paused: no"
ADMIN_JOB_TABLE_HTML = "Job table: {description}"
ADMIN_LAST_DAY = "Last 24 h: {done} done, {failed} failed, {cancelled} cancelled{average}"
ADMIN_AVERAGE = "; average {duration}"
ADMIN_PAINTER_HTML = (
    "{state} <code>{name}</code> on {host}, {device}{memory}; heartbeat {ago} ago; {job}; "
    "{done} done in 24 h{drain}"
)
ADMIN_PAINTER_ALIVE = "✅"
ADMIN_PAINTER_STALE = "⚠️ stale"
ADMIN_PAINTER_JOB = "job #{id}"
ADMIN_PAINTER_IDLE = "idle"
ADMIN_PAINTER_DRAINING = " — ⏏ draining"
ADMIN_PAINTER_DRAINED = " — ⏏ drained (takes no jobs)"
ADMIN_GPU_MEMORY = ", GPU memory {size}"
ADMIN_PAINTER_GPU_UNUSED = "⚠️ GPU present but unused: {why}"
ADMIN_PROGRESS_STARTING = "starting"
ADMIN_PROGRESS = "step {iteration}/{total} ({percent}%){loss}"
ADMIN_LOSS = ", loss {loss}"
ADMIN_RESUME_BUTTON = "▶️ Resume"
ADMIN_PAUSE_BUTTON = "⏸ Pause"
ADMIN_REFRESH_BUTTON = "🔄 Refresh"
ADMIN_JOBS_BUTTON = "📋 Jobs"
ADMIN_PAUSED_ANSWER = "Paused"
ADMIN_RESUMED_ANSWER = "Resumed"
ADMIN_REFRESHED_ANSWER = "Refreshed"
ADMIN_QUEUE_EMPTY = "📋 The queue is empty."
ADMIN_QUEUE_HTML = "📋 <b>Queue</b> ({running} running, {queued} queued)"
ADMIN_QUEUE_RUNNING_HTML = "🖌 <b>#{id}</b> {label} — {user} — {progress}"
ADMIN_QUEUE_QUEUED_HTML = "⏳ {place}: <b>#{id}</b> {label} — {user}{bumped}"
ADMIN_QUEUE_LIMIT = "(first {limit} only)"
ADMIN_CANCELLED = "Cancelled job #{id}."
ADMIN_STOPPING_JOB = "Asked the engine to stop job #{id}; it ends at the next progress step."
ADMIN_NOT_ACTIVE = "Job #{id} isn't active (or doesn't exist)."
ADMIN_BUMPED = "Job #{id} runs next. ⬆️"
ADMIN_NOT_QUEUED = "Job #{id} isn't queued, so it can't be bumped."
ADMIN_NO_SUCH_PAINTER_HTML = "No painter is called <code>{name}</code>. Painters: {names}."
ADMIN_NONE = "none"
ADMIN_SEVERAL_PAINTERS = " ({count} painters)"
ADMIN_UNDRAINED_HTML = "▶️ <code>{name}</code>{several} takes jobs again."
ADMIN_DRAINING_BUSY_HTML = (
    "⏏ Draining <code>{name}</code>{several}: it finishes job {jobs}, then takes no new jobs. "
    "Stop it once /admin shows it drained; <code>/admin undrain {name}</code> takes it back."
)
ADMIN_DRAINING_IDLE_HTML = (
    "⏏ Draining <code>{name}</code>{several}: it takes no new jobs. Stop it once /admin "
    "shows it drained; <code>/admin undrain {name}</code> takes it back."
)
ADMIN_CANT_BAN_ADMIN = "Admins can't be banned."
ADMIN_UNBANNED_HTML = "User <code>{id}</code> is unbanned."
ADMIN_BANNED_HTML = "User <code>{id}</code> is banned: new requests are refused."
ADMIN_BANNED_ACTIVE = Plural(
    " They still have {count} active job: /admin cancel ID drops one.",
    " They still have {count} active jobs: /admin cancel ID drops one.",
)
ADMIN_PAUSED = "⏸ Paused: the running job finishes, no new ones start. /admin resume to continue."
ADMIN_RESUMED = "▶️ Resumed: the engine takes new jobs again."

# --- painting names (context "painting"); the catalogue's slugs are what users type --------

PAINTINGS = {
    "starry-night": "The Starry Night",
    "monet": "The Water-Lily Pond",
    "udnie": "Udnie",
    "great-wave": "The Great Wave off Kanagawa",
    "scream": "The Scream",
    "composition-vii": "Composition VII",
    "shipwreck": "The Shipwreck",
    "woman-with-hat": "Woman with a Hat",
    "seurat": "A Sunday on La Grande Jatte",
    "klimt": "The Kiss",
    "cezanne": "Kettle and Fruit",
    "mondrian": "Tableau No. 2",
    "gauguin": "Three Tahitian Women",
    "cubism": "Portrait of Pablo Picasso",
}


def escape(text: str) -> str:
    """Escape text for an HTML caption."""
    return html.escape(text, quote=False)


def progress_bar(fraction: float, width: int = 10) -> str:
    fraction = min(1.0, max(0.0, fraction))
    filled = int(round(fraction * width))
    return "▰" * filled + "▱" * (width - filled)
