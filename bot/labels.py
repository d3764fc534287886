"""How jobs, styles and people are named in messages (plain text; callers escape for HTML)."""

from __future__ import annotations

from telegram import User

from bot import texts
from bot.i18n import Tr, tr_for
from jobs import Job, StyleRef


def display_name(user: User) -> str:
    return f"@{user.username}" if user.username else user.full_name


def style_label(
    job_or_styles: Job | tuple[StyleRef, ...], *, as_typed: bool = False, tr: Tr | None = None
) -> str:
    """'The Starry Night', 'The Water-Lily Pond 70% + Udnie 30%', 'your painting', in `tr`'s
    language (default English); as_typed: the preset names as a user types them in /style
    ('monet 70% + udnie 30%')."""
    tr = tr or tr_for(None)
    styles = job_or_styles.styles if isinstance(job_or_styles, Job) else job_or_styles
    names = [_name(ref, as_typed, tr) for ref in styles]
    if len(styles) > 1:
        total = sum(ref.weight for ref in styles) or 1.0
        return " + ".join(
            f"{name} {round(100 * ref.weight / total)}%"
            for name, ref in zip(names, styles, strict=True)
        )
    return names[0] if names else "?"


def _name(ref: StyleRef, as_typed: bool, tr: Tr) -> str:
    if ref.preset is None:
        return tr(texts.OWN_STYLE_NAME)
    return ref.preset if as_typed else tr.painting(ref.preset)


def options_label(job: Job, tr: Tr) -> str:
    """The options that set this picture apart: 'strength 1.5 · your colours' ('' for none)."""
    parts = []
    if job.options.strength is not None:
        parts.append(tr(texts.OPTION_STRENGTH, strength=float(job.options.strength)))
    if job.options.preserve_colors:
        parts.append(tr(texts.OPTION_YOUR_COLOURS))
    return " · ".join(parts)
