# Dockyard's own image: the server (`dockyard up`, as uid 65532 with /data), the build pod's agent
# container and the Kaniko stand-in (`/kaniko/executor`, `/busybox/*` as in Kaniko's debug image).
# `dockyard image self` builds it with Dockyard's builder (no daemon): BASE is a Debian made with
# mmdebstrap (python3, git, ca-certificates, busybox-static), wheels/ a `pip wheel` of this tree;
# nothing in a RUN needs the network.
ARG BASE
FROM ${BASE}

RUN --mount=type=bind,source=wheels,target=/wheels \
    set -e; python3 -m venv --without-pip /opt/dockyard; \
    set -- /wheels/pip-*.whl; \
    /opt/dockyard/bin/python "$1/pip" install --quiet --no-index --find-links /wheels \
      --no-cache-dir --disable-pip-version-check --root-user-action=ignore dockyard

COPY --chmod=0755 <<'EOF_EXECUTOR' /kaniko/executor
#!/bin/sh
# Kaniko's entry point: Dockyard's Kaniko-compatible executor. DOCKYARD_RUN_MODE=pod lets RUN
# chroot inside this container when the sandbox cannot start here (the pod is the sandbox).
DOCKYARD_RUN_MODE=pod exec /opt/dockyard/bin/dockyard executor "$@"
EOF_EXECUTOR

RUN set -e; mkdir -p /kaniko/.docker /busybox /workspace /data /usr/lib/dockyard; \
    for applet in $(busybox --list); do ln -s /usr/bin/busybox "/busybox/$applet"; done; \
    echo "Dockyard's image: /kaniko/executor may run RUN chrooted (DOCKYARD_RUN_MODE=pod)" \
      > /usr/lib/dockyard/pod-executor; \
    echo 'dockyard:x:65532:65532:dockyard:/data:/usr/sbin/nologin' >> /etc/passwd; \
    echo 'dockyard:x:65532:' >> /etc/group; \
    chown 65532:65532 /data; chmod 0700 /data; \
    /opt/dockyard/bin/dockyard --version

ENV PATH=/opt/dockyard/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/kaniko:/busybox \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /workspace
EXPOSE 8080
CMD ["dockyard", "up", "--data-dir", "/data", "--host", "0.0.0.0", "--port", "8080"]
