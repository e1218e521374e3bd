"""Schema of the credential store: metadata in clear, the secret payload sealed."""

from dockyard.store import Migration

MIGRATIONS = [
    Migration(
        "credentials.0001",
        (
            """CREATE TABLE credentials (
                id VARCHAR(128) PRIMARY KEY,
                kind VARCHAR(32) NOT NULL,
                description VARCHAR(1000) NOT NULL DEFAULT '',
                public_json TEXT NOT NULL DEFAULT '{}',
                sealed TEXT NOT NULL,
                key_fingerprint VARCHAR(32) NOT NULL,
                created_by VARCHAR(64) NOT NULL DEFAULT '',
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
        ),
    ),
]
