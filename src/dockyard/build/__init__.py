"""The image builder: Dockerfile -> layers -> image, without a daemon."""
