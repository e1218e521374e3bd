"""Schema of the git server: organisations, repositories, webhooks, deliveries, commit statuses."""

from dockyard.store import Migration

MIGRATIONS = [
    Migration(
        "git.0001",
        (
            """CREATE TABLE git_orgs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name VARCHAR(64) NOT NULL,
                lower_name VARCHAR(64) NOT NULL UNIQUE,
                full_name VARCHAR(255) NOT NULL DEFAULT '',
                email VARCHAR(255) NOT NULL DEFAULT '',
                description TEXT NOT NULL DEFAULT '',
                website VARCHAR(255) NOT NULL DEFAULT '',
                location VARCHAR(255) NOT NULL DEFAULT '',
                visibility VARCHAR(16) NOT NULL DEFAULT 'public',
                created_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE git_repos (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                owner VARCHAR(64) NOT NULL,
                lower_owner VARCHAR(64) NOT NULL,
                name VARCHAR(100) NOT NULL,
                lower_name VARCHAR(100) NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                website VARCHAR(255) NOT NULL DEFAULT '',
                private BOOLEAN NOT NULL DEFAULT 0,
                default_branch VARCHAR(255) NOT NULL DEFAULT 'main',
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL,
                UNIQUE (lower_owner, lower_name)
            )""",
            """CREATE TABLE git_hooks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                repo_id INTEGER NOT NULL REFERENCES git_repos(id) ON DELETE CASCADE,
                type VARCHAR(32) NOT NULL,
                url TEXT NOT NULL,
                http_method VARCHAR(8) NOT NULL DEFAULT 'POST',
                content_type VARCHAR(16) NOT NULL DEFAULT 'json',
                secret TEXT NOT NULL DEFAULT '',
                events TEXT NOT NULL DEFAULT '["push"]',
                branch_filter TEXT NOT NULL DEFAULT '',
                authorization_header TEXT NOT NULL DEFAULT '',
                active BOOLEAN NOT NULL DEFAULT 0,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE git_hook_deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                hook_id INTEGER NOT NULL REFERENCES git_hooks(id) ON DELETE CASCADE,
                uuid VARCHAR(36) NOT NULL,
                event VARCHAR(32) NOT NULL,
                attempt INTEGER NOT NULL,
                url TEXT NOT NULL,
                request_headers TEXT NOT NULL,
                payload TEXT NOT NULL,
                status_code INTEGER,
                success BOOLEAN NOT NULL DEFAULT 0,
                duration_ms REAL NOT NULL DEFAULT 0,
                response_headers TEXT NOT NULL DEFAULT '{}',
                response_body TEXT NOT NULL DEFAULT '',
                error TEXT NOT NULL DEFAULT '',
                delivered_at VARCHAR(40) NOT NULL
            )""",
            "CREATE INDEX git_hook_deliveries_hook ON git_hook_deliveries (hook_id, id)",
            """CREATE TABLE git_statuses (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                repo_id INTEGER NOT NULL REFERENCES git_repos(id) ON DELETE CASCADE,
                sha VARCHAR(64) NOT NULL,
                state VARCHAR(16) NOT NULL,
                target_url TEXT NOT NULL DEFAULT '',
                description TEXT NOT NULL DEFAULT '',
                context VARCHAR(255) NOT NULL DEFAULT 'default',
                creator VARCHAR(64) NOT NULL DEFAULT '',
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
            "CREATE INDEX git_statuses_sha ON git_statuses (repo_id, sha, id)",
        ),
    ),
]

MIGRATIONS.append(
    Migration(
        "git.0002",
        (
            """CREATE TABLE git_branch_protections (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                repo_id INTEGER NOT NULL REFERENCES git_repos(id) ON DELETE CASCADE,
                rule_name VARCHAR(255) NOT NULL,
                enable_push BOOLEAN NOT NULL DEFAULT 0,
                enable_push_whitelist BOOLEAN NOT NULL DEFAULT 0,
                push_whitelist_usernames TEXT NOT NULL DEFAULT '[]',
                enable_force_push BOOLEAN NOT NULL DEFAULT 0,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL,
                UNIQUE (repo_id, rule_name)
            )""",
        ),
    )
)

MIGRATIONS.append(
    Migration(
        "git.0003",
        (
            """CREATE TABLE git_hook_queue (
                uuid VARCHAR(36) PRIMARY KEY,
                hook_id INTEGER NOT NULL REFERENCES git_hooks(id) ON DELETE CASCADE,
                event VARCHAR(32) NOT NULL,
                body TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_at REAL NOT NULL
            )""",
        ),
    )
)

# The one namespace (dockyard.auth.namespaces): existing orgs claim their names; a name that the
# registry claimed as a stand-alone project but is an org's becomes the org's.
MIGRATIONS.append(
    Migration(
        "git.0004-namespaces",
        (
            "UPDATE auth_namespaces SET kind = 'org' WHERE kind = 'project'"
            " AND lower_name IN (SELECT lower_name FROM git_orgs)",
            "INSERT INTO auth_namespaces (name, lower_name, kind, created_at)"
            " SELECT name, lower_name, 'org', created_at FROM git_orgs"
            " WHERE lower_name NOT IN (SELECT lower_name FROM auth_namespaces)",
        ),
    )
)

# SSH public keys of users (Gitea's `public_key`): git over SSH authenticates with them
# (dockyard.git.sshkeys); a key's fingerprint identifies it across all users.
MIGRATIONS.append(
    Migration(
        "git.0005-public-keys",
        (
            """CREATE TABLE git_public_keys (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                title VARCHAR(255) NOT NULL,
                content TEXT NOT NULL,
                fingerprint VARCHAR(100) NOT NULL UNIQUE,
                created_at VARCHAR(40) NOT NULL,
                last_used_at VARCHAR(40),
                UNIQUE (user_id, title)
            )""",
        ),
    )
)
