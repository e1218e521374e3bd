"""Gitea-compatible `/api/v1` endpoints, one module per resource."""
