"""What every handler needs, stored once in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import Application, ContextTypes

from bot.settings import BotSettings
from jobs import JobStore
from styles import Catalogue

_KEY = "deps"


@dataclass
class BotDeps:
    settings: BotSettings
    store: JobStore
    catalogue: Catalogue

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids


def install(application: Application, deps: BotDeps) -> None:
    application.bot_data[_KEY] = deps


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.application.bot_data[_KEY]
