"""The bot's update handlers, one module per flow; each exposes `register(app)`."""

from __future__ import annotations

from telegram.ext import Application

from bot.handlers import admin, cancel, gallery, queue, start_help, style, user_settings

# The style flow first: its filters are narrow, and in a group the first match wins.
FLOWS = (style, start_help, gallery, queue, cancel, user_settings, admin)


def register_all(app: Application) -> None:
    for flow in FLOWS:
        flow.register(app)
