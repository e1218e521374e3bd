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

# Owner and scope (issue 10): '' is the system (administrators); otherwise a user or org name.
# Existing credentials become system credentials. Grants let an administrator (or the owner)
# make one credential available to one more job.
MIGRATIONS.append(
    Migration(
        "credentials.0002",
        (
            "ALTER TABLE credentials ADD COLUMN owner VARCHAR(64) NOT NULL DEFAULT ''",
            """CREATE TABLE credential_grants (
                credential_id VARCHAR(128) NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                job VARCHAR(200) NOT NULL,
                granted_by VARCHAR(64) NOT NULL DEFAULT '',
                granted_at VARCHAR(40) NOT NULL,
                PRIMARY KEY (credential_id, job)
            )""",
        ),
    )
)
