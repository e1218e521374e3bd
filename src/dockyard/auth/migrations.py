"""Schema of users, API tokens and namespace memberships."""

from dockyard.store import Migration

MIGRATIONS = [
    Migration(
        "auth.0001",
        (
            """CREATE TABLE users (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                username VARCHAR(64) NOT NULL UNIQUE,
                email VARCHAR(255) NOT NULL DEFAULT '',
                full_name VARCHAR(255) NOT NULL DEFAULT '',
                password_hash VARCHAR(255) NOT NULL,
                is_admin BOOLEAN NOT NULL DEFAULT 0,
                created_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name VARCHAR(255) NOT NULL,
                token_hash VARCHAR(64) NOT NULL UNIQUE,
                last_eight VARCHAR(8) NOT NULL,
                scopes VARCHAR(1000) NOT NULL DEFAULT 'all',
                created_at VARCHAR(40) NOT NULL,
                last_used_at VARCHAR(40),
                UNIQUE (user_id, name)
            )""",
            """CREATE TABLE memberships (
                namespace VARCHAR(255) NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                role INTEGER NOT NULL,
                PRIMARY KEY (namespace, user_id)
            )""",
        ),
    ),
]

# The one namespace of users, orgs and stand-alone registry projects (dockyard.auth.namespaces);
# git and the registry add their existing orgs and projects in their own migrations.
# password_epoch counts password changes: a registry refresh token from a password login
# carries the epoch it was issued in and stops working when the password changes.
MIGRATIONS.append(
    Migration(
        "auth.0002",
        (
            """CREATE TABLE auth_namespaces (
                name VARCHAR(255) NOT NULL,
                lower_name VARCHAR(255) NOT NULL PRIMARY KEY,
                kind VARCHAR(16) NOT NULL,
                created_at VARCHAR(40) NOT NULL
            )""",
            "INSERT INTO auth_namespaces (name, lower_name, kind, created_at)"
            " SELECT username, lower(username), 'user', created_at FROM users",
            "ALTER TABLE users ADD COLUMN password_epoch INTEGER NOT NULL DEFAULT 0",
        ),
    )
)

# A disabled user keeps their repositories, projects and memberships but can no longer sign in,
# push, pull or use tokens (AuthService.set_disabled); an administrator can enable them again.
MIGRATIONS.append(
    Migration("auth.0003", ("ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT 0",))
)
