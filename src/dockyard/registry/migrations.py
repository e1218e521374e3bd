"""Registry metadata schema: projects, repositories, manifests, tags and repository blob links."""

from dockyard.store import Migration

MIGRATIONS = [
    Migration(
        "registry.0001",
        (
            """CREATE TABLE registry_projects (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name VARCHAR(255) NOT NULL UNIQUE,
                public BOOLEAN NOT NULL DEFAULT 0,
                owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE registry_repositories (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                project_id INTEGER NOT NULL REFERENCES registry_projects(id) ON DELETE CASCADE,
                name VARCHAR(255) NOT NULL UNIQUE,
                description TEXT NOT NULL DEFAULT '',
                pull_count INTEGER NOT NULL DEFAULT 0,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE registry_manifests (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                repository_id INTEGER NOT NULL
                    REFERENCES registry_repositories(id) ON DELETE CASCADE,
                digest VARCHAR(100) NOT NULL,
                media_type VARCHAR(255) NOT NULL,
                size INTEGER NOT NULL,
                artifact_type VARCHAR(255) NOT NULL DEFAULT '',
                subject VARCHAR(100),
                annotations TEXT NOT NULL DEFAULT '{}',
                total_size INTEGER NOT NULL DEFAULT 0,
                pushed_at VARCHAR(40) NOT NULL,
                pulled_at VARCHAR(40),
                UNIQUE (repository_id, digest)
            )""",
            "CREATE INDEX registry_manifests_subject ON registry_manifests (repository_id, subject)",
            """CREATE TABLE registry_manifest_refs (
                manifest_id INTEGER NOT NULL REFERENCES registry_manifests(id) ON DELETE CASCADE,
                digest VARCHAR(100) NOT NULL,
                kind VARCHAR(16) NOT NULL,
                PRIMARY KEY (manifest_id, digest, kind)
            )""",
            "CREATE INDEX registry_manifest_refs_digest ON registry_manifest_refs (digest)",
            """CREATE TABLE registry_tags (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                repository_id INTEGER NOT NULL
                    REFERENCES registry_repositories(id) ON DELETE CASCADE,
                name VARCHAR(128) NOT NULL,
                manifest_id INTEGER NOT NULL REFERENCES registry_manifests(id) ON DELETE CASCADE,
                pushed_at VARCHAR(40) NOT NULL,
                pulled_at VARCHAR(40),
                UNIQUE (repository_id, name)
            )""",
            """CREATE TABLE registry_repo_blobs (
                repository_id INTEGER NOT NULL
                    REFERENCES registry_repositories(id) ON DELETE CASCADE,
                digest VARCHAR(100) NOT NULL,
                size INTEGER NOT NULL,
                created_at VARCHAR(40) NOT NULL,
                PRIMARY KEY (repository_id, digest)
            )""",
            "CREATE INDEX registry_repo_blobs_digest ON registry_repo_blobs (digest)",
        ),
    ),
]

# The one namespace (dockyard.auth.namespaces): projects that are not a user's claim their names
# (git's migration then hands the names of existing orgs to the orgs).
MIGRATIONS.append(
    Migration(
        "registry.0002-namespaces",
        (
            "INSERT INTO auth_namespaces (name, lower_name, kind, created_at)"
            " SELECT name, lower(name), 'project', created_at FROM registry_projects"
            " WHERE lower(name) NOT IN (SELECT lower_name FROM auth_namespaces)",
        ),
    )
)

# Harbor's robot accounts (dockyard.registry.harbor_robots): a project robot goes with its
# project; a grant names its project by id, so a project deleted and created again under the same
# name by someone else is not reached by an old robot. project_id NULL in a grant: every project.
MIGRATIONS.append(
    Migration(
        "registry.0003-robots",
        (
            """CREATE TABLE registry_robots (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name VARCHAR(300) NOT NULL UNIQUE,
                level VARCHAR(16) NOT NULL,
                project_id INTEGER REFERENCES registry_projects(id) ON DELETE CASCADE,
                description TEXT NOT NULL DEFAULT '',
                secret_hash VARCHAR(255) NOT NULL,
                secret_epoch INTEGER NOT NULL DEFAULT 0,
                duration INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                disabled BOOLEAN NOT NULL DEFAULT 0,
                creator_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE registry_robot_access (
                robot_id INTEGER NOT NULL REFERENCES registry_robots(id) ON DELETE CASCADE,
                project_id INTEGER REFERENCES registry_projects(id) ON DELETE CASCADE,
                resource VARCHAR(64) NOT NULL,
                action VARCHAR(32) NOT NULL
            )""",
            "CREATE INDEX registry_robot_access_robot ON registry_robot_access (robot_id)",
        ),
    )
)

# Harbor's role id of a project member (maintainer vs developer, limitedGuest vs guest); the
# permission itself is auth's membership (dockyard.registry.harbor_members).
MIGRATIONS.append(
    Migration(
        "registry.0004-member-roles",
        (
            """CREATE TABLE registry_member_roles (
                namespace VARCHAR(255) NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                role_id INTEGER NOT NULL,
                PRIMARY KEY (namespace, user_id)
            )""",
        ),
    )
)

# Harbor's immutable tag rules (dockyard.registry.harbor_immutable_store); selectors as JSON
# lists of [decoration, pattern].
MIGRATIONS.append(
    Migration(
        "registry.0005-immutable-rules",
        (
            """CREATE TABLE registry_immutable_rules (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                project_id INTEGER NOT NULL REFERENCES registry_projects(id) ON DELETE CASCADE,
                priority INTEGER NOT NULL DEFAULT 0,
                disabled BOOLEAN NOT NULL DEFAULT 0,
                tag_selectors TEXT NOT NULL,
                scope_selectors TEXT NOT NULL,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
        ),
    )
)

# Harbor's tag retention (dockyard.registry.harbor_retention_store): one policy per project (the
# policy as Harbor shapes it, JSON), and its runs.
MIGRATIONS.append(
    Migration(
        "registry.0006-retention",
        (
            """CREATE TABLE registry_retention_policies (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                project_id INTEGER NOT NULL UNIQUE REFERENCES registry_projects(id) ON DELETE CASCADE,
                policy TEXT NOT NULL,
                created_at VARCHAR(40) NOT NULL,
                updated_at VARCHAR(40) NOT NULL
            )""",
            """CREATE TABLE registry_retention_executions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                policy_id INTEGER NOT NULL REFERENCES registry_retention_policies(id) ON DELETE CASCADE,
                start_time VARCHAR(40) NOT NULL,
                end_time VARCHAR(40),
                status VARCHAR(16) NOT NULL,
                trigger_kind VARCHAR(16) NOT NULL,
                dry_run BOOLEAN NOT NULL DEFAULT 0,
                retained INTEGER NOT NULL DEFAULT 0,
                deleted INTEGER NOT NULL DEFAULT 0,
                log TEXT NOT NULL DEFAULT ''
            )""",
        ),
    )
)
