"""Check a running Dockyard and the cluster its builds run on for the tutorial's pitfalls: RBAC
of the build namespace, a server-side dry-run of a job's real build pod (Pod Security,
ValidatingAdmissionPolicy, Kyverno, Gatekeeper), the registry secret and its `items` ->
`config.json`, the registry and git server as a pod sees them, the Jenkins crumb setup. Each
finding prints OK or the problem with the command that fixes it; the exit status is 1 when
something would break a build (2 for a usage error)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dockyard.cli.remote import RemoteError, add_remote_arguments, remote_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_remote_arguments(parser)
    job = parser.add_argument_group("what to check")
    job.add_argument("--job", metavar="NAME",
                     help="check this job's build pod (its Jenkinsfile's pod template)")
    job.add_argument("--jenkinsfile", type=Path, metavar="PATH",
                     help="check the pod template of a local pipeline file instead of a job's")
    kube = parser.add_argument_group("cluster")
    kube.add_argument("--kubeconfig", type=Path, metavar="PATH",
                      help="kubeconfig of the build cluster (default: $DOCKYARD_K8S_KUBECONFIG, $KUBECONFIG,"
                           " ~/.kube/config, or the pod's service account)")
    kube.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    kube.add_argument("--namespace", "-n", metavar="NS",
                      help="build namespace (default: $DOCKYARD_K8S_NAMESPACE, else the context's namespace)")
    kube.add_argument("--no-cluster", action="store_true", help="server-only checks")
    kube.add_argument("--probe-image", metavar="IMAGE",
                      help="run a short pod from this busybox image to check that pods reach the registry")
    kube.add_argument("--agent-image", metavar="IMAGE",
                      help="the agent container's image the executor adds (default:"
                           " $DOCKYARD_K8S_AGENT_IMAGE, else Dockyard's image in its registry)")
    kube.add_argument("--executor-image", metavar="IMAGE",
                      help="the image Kaniko containers run as (default: $DOCKYARD_K8S_EXECUTOR_IMAGE,"
                           " else the agent image)")
    parser.add_argument("--registry", action="append", default=[], metavar="HOST:PORT",
                        help="another address of this Dockyard's registry (images there are resolved)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="timeout of each request to the server, registry and API server (default 10)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def run(args: argparse.Namespace) -> int:
    from dockyard.config import Settings
    from dockyard.doctor import DoctorOptions, PodSettings, Server, render_json, render_text, run_doctor

    if args.job and args.jenkinsfile:
        print("dockyard doctor: pass --job or --jenkinsfile, not both", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("dockyard doctor: --timeout must be positive", file=sys.stderr)
        return 2
    try:
        remote = remote_from(args)
        settings = Settings.from_environ()  # the executor's DOCKYARD_K8S_* settings, as `dockyard up`
    except (RemoteError, ValueError) as e:
        print(f"dockyard doctor: {e}", file=sys.stderr)
        return 2
    options = DoctorOptions(
        server=Server(remote.url, remote.user, remote.password, remote.token, timeout=args.timeout),
        job=args.job,
        jenkinsfile=args.jenkinsfile,
        cluster=not args.no_cluster,
        kubeconfig=args.kubeconfig or (Path(settings.k8s_kubeconfig) if settings.k8s_kubeconfig else None),
        context=args.context,
        namespace=args.namespace or settings.k8s_namespace or None,
        probe_image=args.probe_image,
        registries=list(args.registry),
        pod=PodSettings(agent_image=args.agent_image or settings.k8s_agent_image,
                        executor_image=args.executor_image or settings.k8s_executor_image,
                        kaniko_images=tuple(settings.kaniko_images),
                        pull_credential=settings.k8s_pull_credential),
        timeout=args.timeout,
    )
    report = run_doctor(options)
    sys.stdout.write(render_json(report) if args.json else render_text(report))
    return report.exit_code

