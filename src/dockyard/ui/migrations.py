"""Schema of browser sessions (server-side: a cookie holds only an opaque id)."""

from dockyard.store import Migration

MIGRATIONS = [
    Migration(
        "ui.0001",
        (
            """CREATE TABLE ui_sessions (
                id_hash VARCHAR(64) NOT NULL PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                csrf VARCHAR(64) NOT NULL,
                password_epoch INTEGER NOT NULL,
                created_at FLOAT NOT NULL,
                expires_at FLOAT NOT NULL
            )""",
            "CREATE INDEX ui_sessions_user ON ui_sessions (user_id)",
        ),
    ),
]

# Recent pushes for the home page, recorded from the event bus (git.push), newest kept.
MIGRATIONS.append(
    Migration(
        "ui.0002",
        (
            """CREATE TABLE ui_pushes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                repo_id INTEGER NOT NULL,
                full_name VARCHAR(255) NOT NULL,
                ref VARCHAR(255) NOT NULL,
                after VARCHAR(64) NOT NULL,
                pusher VARCHAR(64) NOT NULL,
                pushed_at VARCHAR(40) NOT NULL
            )""",
        ),
    )
)
