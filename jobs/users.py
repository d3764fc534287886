"""Users (saved settings, bans) and the admin's control switches (pause)."""

from __future__ import annotations

from typing import Any

from jobs.backends.database import QUEUE
from jobs.base import StoreBase
from jobs.models import USER_SETTING_NAMES, UserSettings


class UsersAndControl(StoreBase):
    async def get_user_settings(self, user_id: int) -> UserSettings:
        row = await self._db.one(
            "SELECT size, strength, preserve_colors, language FROM users WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return UserSettings()
        colors = row["preserve_colors"]
        return UserSettings(
            size=row["size"],
            strength=row["strength"],
            preserve_colors=None if colors is None else bool(colors),
            language=row["language"],
        )

    async def set_user_settings(self, user_id: int, **changes: Any) -> UserSettings:
        """Change some settings (None resets one to the engine default); returns all of them."""
        unknown = set(changes) - USER_SETTING_NAMES
        if unknown:
            raise TypeError(f"unknown user settings: {sorted(unknown)}")
        if changes:
            columns = sorted(changes)
            values = [_to_sql(changes[c]) for c in columns]
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
            await self._db.run(
                f"""
                INSERT INTO users (user_id, {", ".join(columns)}, updated_at)
                VALUES (?, {", ".join("?" * len(columns))}, ?)
                ON CONFLICT (user_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at
                """,
                (user_id, *values, self._now()),
            )
        return await self.get_user_settings(user_id)

    async def set_banned(self, user_id: int, banned: bool) -> None:
        await self._db.run(
            """
            INSERT INTO users (user_id, banned, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET banned = excluded.banned,
                                                updated_at = excluded.updated_at
            """,
            (user_id, int(banned), self._now()),
        )

    async def is_banned(self, user_id: int) -> bool:
        row = await self._db.one("SELECT banned FROM users WHERE user_id = ?", (user_id,))
        return bool(row and row["banned"])

    async def set_paused(self, paused: bool) -> None:
        """While paused, claim() returns None: running jobs finish, nothing new starts."""
        await self._db.run(
            "INSERT INTO control (key, value) VALUES ('paused', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            ("1" if paused else "0",),
        )
        if not paused:
            await self._db.notify(QUEUE)

    async def is_paused(self) -> bool:
        row = await self._db.one("SELECT value FROM control WHERE key = 'paused'")
        return bool(row and row["value"] == "1")


def _to_sql(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value
