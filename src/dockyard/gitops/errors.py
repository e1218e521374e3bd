"""Errors of the gitops package; every message says what to change."""


class GitOpsError(Exception):
    """set-image could not do what was asked; the message says why and what to change."""


class ImageNotFound(GitOpsError):
    """A NAME matched no image under the path; the message lists the images that are there."""
