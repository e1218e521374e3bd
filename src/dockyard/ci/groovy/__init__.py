"""A sandboxed subset of Groovy for `script { }`, `when { expression { } }`, environment values and
`${...}` in strings. Dockyard parses and interprets it itself (never a JVM, never host code): the
parser refuses everything outside the subset with file:line:column before a build starts, and the
interpreter is bounded (statements, loop iterations, sizes, depth) and reaches the build only
through pipeline steps."""
