"""Declarative Jenkinsfile front end: tokenizer, statement parser, declarative meaning."""

from dockyard.ci.errors import JenkinsfileError
from dockyard.ci.jenkinsfile.declarative import STEPS, parse_jenkinsfile

__all__ = ["JenkinsfileError", "STEPS", "parse_jenkinsfile"]
