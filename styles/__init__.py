"""Style presets: the catalogue of public-domain paintings and a verified fetcher.

Torch-free and telegram-free, so the bot, the engine and the CLI can all import it.
"""

from styles.catalogue import (
    Catalogue,
    CatalogueError,
    Preset,
    UnknownStyleError,
    defaults_for,
    load_catalogue,
)
from styles.fetch import FetchReport, StyleFetchError, fetch_styles, verify

__all__ = [
    "Catalogue",
    "CatalogueError",
    "FetchReport",
    "Preset",
    "StyleFetchError",
    "UnknownStyleError",
    "defaults_for",
    "fetch_styles",
    "load_catalogue",
    "verify",
]
