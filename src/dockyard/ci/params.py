"""Which build parameter names may reach a step's environment.

A parameter becomes an environment variable of every step. Names that a shell, the dynamic loader,
git or a language runtime interprets turn a parameter value into code (`PS4=+$(id)` under `sh -x`,
`LD_PRELOAD`, `BASH_ENV`, `GIT_SSH_COMMAND`...), so they are refused whatever a job declares; the
build's own variables (`WORKSPACE`, `BUILD_NUMBER`...) are Dockyard's to set. This is the one list:
job XML, pipeline parsers and triggers all ask `forbidden_env_name`.
"""

from __future__ import annotations

import re

__all__ = ["forbidden_env_name", "check_parameter_name", "forbidden_env_value"]

_VALID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# C0 controls and DEL, except tab, newline and carriage return (a browser sends a text
# parameter's lines as CRLF): NUL cannot be in an environment at all (execve refuses the step,
# "exit code 125"), the others rewrite a console or a terminal that shows the value.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Exact names a shell, the loader or a common tool interprets.
_EXACT = {
    # shells (POSIX sh, bash, dash, zsh, ksh)
    "PS1": "the shell's prompt",
    "PS2": "the shell's prompt",
    "PS3": "the shell's prompt",
    "PS4": "the shell's trace prompt, expanded by `sh -x`",
    "ENV": "a file sourced by interactive and POSIX shells",
    "BASH_ENV": "a file bash sources before every script",
    "IFS": "the shell's field separators",
    "PATH": "where commands are looked up",
    "CDPATH": "the shell's cd search path",
    "SHELL": "the user's shell",
    "SHELLOPTS": "bash options set at start",
    "BASHOPTS": "bash options set at start",
    "PROMPT_COMMAND": "a command bash runs",
    "HOME": "the home directory tools read configuration from",
    "ZDOTDIR": "where zsh reads its start-up files",
    "TMPDIR": "where tools write temporary files",
    # runtimes and tools that load code or configuration from the environment
    "PYTHONPATH": "Python's module path",
    "PYTHONSTARTUP": "a file Python runs",
    "PYTHONHOME": "Python's installation",
    "PYTHONINSPECT": "Python's interactive mode",
    "PERL5LIB": "Perl's module path",
    "PERL5OPT": "options Perl applies",
    "PERLLIB": "Perl's module path",
    "RUBYOPT": "options Ruby applies",
    "RUBYLIB": "Ruby's module path",
    "NODE_OPTIONS": "options Node.js applies",
    "NODE_PATH": "Node.js' module path",
    "JAVA_TOOL_OPTIONS": "options every JVM applies",
    "_JAVA_OPTIONS": "options every JVM applies",
    "JDK_JAVA_OPTIONS": "options the java launcher applies",
    "EDITOR": "a command tools run",
    "VISUAL": "a command tools run",
    "PAGER": "a command tools run",
    "SSH_ASKPASS": "a command ssh runs",
    "SUDO_ASKPASS": "a command sudo runs",
    "HOSTALIASES": "the resolver's host aliases file",
    "RESOLV_HOST_CONF": "the resolver's configuration",
    "LOCALDOMAIN": "the resolver's search domains",
    "GCONV_PATH": "glibc's charset conversion modules",
    "MALLOC_CHECK_": "glibc's allocator",
    "NLSPATH": "message catalogs",
    "LOCPATH": "locale definitions",
    "DOCKER_CONFIG": "the registry credentials the builder pushes with",
    "KUBECONFIG": "the cluster credentials tools use",
    "GLOBIGNORE": "the shell's globbing",
    "FPATH": "where the shell loads functions",
    "INPUTRC": "readline's configuration",
    "OPENSSL_CONF": "OpenSSL's configuration, which loads engines",
    "OPENSSL_ENGINES": "where OpenSSL loads engines",
    "SSL_CERT_FILE": "the certificates TLS clients trust",
    "SSL_CERT_DIR": "the certificates TLS clients trust",
    "CURL_CA_BUNDLE": "the certificates curl trusts",
    "REQUESTS_CA_BUNDLE": "the certificates Python's requests trusts",
    "MAVEN_OPTS": "options of the JVM Maven starts",
    "GRADLE_OPTS": "options of the JVM Gradle starts",
    "LESSOPEN": "a command less runs",
    "LESSCLOSE": "a command less runs",
    "MANPAGER": "a command man runs",
    "BROWSER": "a command tools run",
    "REGISTRY_AUTH_FILE": "the registry credentials podman and skopeo use",
    "CLASSPATH": "where the JVM loads classes",
    "GOFLAGS": "flags every go command applies (-toolexec runs a command)",
    "RUSTC_WRAPPER": "a command cargo runs instead of rustc",
}
_EXACT.update(
    dict.fromkeys(
        (
            "WORKSPACE",
            "BUILD_NUMBER",
            "BUILD_ID",
            "BUILD_TAG",
            "BUILD_URL",
            "JOB_NAME",
            "JOB_BASE_NAME",
            "JOB_URL",
            "JENKINS_URL",
            "NODE_NAME",
            "EXECUTOR_NUMBER",
        ),
        "a variable Dockyard sets for every build",
    )
)

# Prefixes: whole families a tool interprets.
_PREFIXES = {
    "LD_": "read by the dynamic loader (LD_PRELOAD, LD_LIBRARY_PATH, ...)",
    "DYLD_": "read by the dynamic loader",
    "GIT_": "read by git (GIT_SSH_COMMAND, GIT_CONFIG_*, GIT_DIR, ...)",
    "BASH_FUNC_": "a function bash imports",
    "SSH_": "read by ssh",
    "GLIBC_": "read by glibc",
    "DOCKYARD_": "reserved for Dockyard's own settings",
    "BASH_": "read by bash (BASH_ENV, BASH_XTRACEFD, BASH_LOADABLES_PATH, ...)",
    "PYTHON": "read by Python (PYTHONPATH, PYTHONSTARTUP, PYTHONWARNINGS, ...)",
    "PERL5": "read by Perl (PERL5LIB, PERL5OPT, PERL5DB, ...)",
    "NODE_": "read by Node.js (NODE_OPTIONS, NODE_PATH, ...)",
    "YARN_": "yarn's configuration (plugins, registries)",
    "LUA_INIT": "Lua code every interpreter runs first",
    "PIP_": "pip's configuration (index URLs)",
    "MALLOC_": "read by glibc's allocator",
    "XDG_": "where tools read their configuration",
}
# proxies: read in either case by curl, git, pip and most HTTP clients
_PROXIES = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY", "NO_PROXY"}
# prefixes read in any case: npm documents `npm_config_*` in lower case (script-shell, registry)
_ANY_CASE_PREFIXES = {"NPM_CONFIG_": "npm's configuration (script-shell, registries), read in any case"}


def forbidden_env_name(name: str) -> str | None:
    """Why `name` may not be a build parameter (an environment variable of every step), or None.

    Case-sensitive, as the shell and the loader are: `env` is a fine parameter, `ENV` is not
    (except the proxy variables and npm's, which their readers take in lower case too)."""
    if not _VALID.match(name):
        return (
            f"parameter name {name!r} is not a valid environment variable name"
            " (letters, digits and '_', not starting with a digit, at most 128 characters)"
        )
    why = _EXACT.get(name)
    if why is None and name.upper() in _PROXIES:
        why = "the proxy every HTTP client of the step goes through"
    if why is None:
        why = next((w for p, w in _PREFIXES.items() if name.startswith(p)), None)
    if why is None:
        why = next((w for p, w in _ANY_CASE_PREFIXES.items() if name.upper().startswith(p)), None)
    if why is None:
        return None
    return (
        f"parameter name {name!r} is not allowed: {name} is {why}, so a parameter value could"
        " change what a step runs; rename the parameter"
    )


def forbidden_env_value(name: str, value: str) -> str | None:
    """Why `value` may not be the value of parameter `name` (an environment value), or None."""
    bad = _CONTROL.search(value)
    if bad is None:
        return None
    return (
        f"parameter {name!r} contains the control character U+{ord(bad.group()):04X} at offset"
        f" {bad.start()}: a parameter value may hold no control characters other than tab,"
        " newline and carriage return (an environment variable cannot hold a NUL byte); remove it"
    )


def check_parameter_name(name: str) -> None:
    """Raise ValueError with `forbidden_env_name`'s reason when the name is refused."""
    why = forbidden_env_name(name)
    if why:
        raise ValueError(why)
