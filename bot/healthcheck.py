"""`python -m bot.healthcheck`: ask the running bot's /healthz (for Docker's HEALTHCHECK).

Exits 0 when the bot answers 200, 1 otherwise, printing its reasons. Needs no curl in the
image and reads METRICS_PORT like the bot does (environment or `.env`).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from bot.settings import BotSettings

TIMEOUT = 5.0


def main() -> int:
    settings = BotSettings()
    if settings.metrics_port is None:
        print("METRICS_PORT is not set: the bot serves no /healthz", file=sys.stderr)
        return 1
    listen = settings.metrics_listen
    host = "127.0.0.1" if listen in ("", "0.0.0.0", "::") else listen
    url = f"http://{host}:{settings.metrics_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            print(answer.read().decode(errors="replace").strip())
            return 0
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {exc.read().decode(errors='replace').strip()}", file=sys.stderr)
    except OSError as exc:
        print(f"no answer from {url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
