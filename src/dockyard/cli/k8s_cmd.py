"""`dockyard k8s manifests`: print Dockyard's Kubernetes install (the kustomize base of
deploy/kubernetes) with chosen values, ready for `kubectl apply -f -`."""

from __future__ import annotations

import argparse
import re
import sys

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")


def _name(value: str) -> str:
    if not NAME.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Kubernetes name (lower-case letters,"
                                         " digits and '-', at most 63)")
    return value


def _quantity(value: str) -> str:
    if not QUANTITY.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a storage size (e.g. 10Gi)")
    return value


def _node_port(value: str) -> int:
    port = int(value) if value.isdigit() else -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (NodePorts are usually 30000-32767)")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    manifests = sub.add_parser("manifests", help="print the install manifests with chosen values",
                               description=__doc__)
    manifests.add_argument("--namespace", type=_name, default="dockyard",
                           help="namespace of the server (default: dockyard)")
    manifests.add_argument("--image", help="Dockyard's image (built with `dockyard image self`)")
    manifests.add_argument("--storage-size", type=_quantity, help="data volume size (default 10Gi)")
    manifests.add_argument("--storage-class", type=_name, help="StorageClass of the data volume")
    manifests.add_argument("--node-port", type=_node_port,
                           help="also expose the server on this NodePort")
    manifests.add_argument("--build-namespace", type=_name,
                           help="where builds run as pods (its Role and RoleBinding go there; "
                                "default: the server's namespace)")
    manifests.add_argument("--image-pull-secret", type=_name,
                           help="a docker-registry Secret to pull the image with")
    manifests.add_argument("--public-url", help="the URL clients and build pods use to reach the"
                                                " server; $(POD_IP) is the pod's address")
    manifests.add_argument("--env", action="append", default=[], type=_setting, metavar="KEY=VALUE",
                           help="a server setting, e.g. DOCKYARD_CI_EXECUTOR=kubernetes (repeatable)")


def _setting(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
        raise argparse.ArgumentTypeError(f"{value!r} is not KEY=VALUE")
    return key, rest


def run(args: argparse.Namespace) -> int:
    from dockyard import deploy

    values = deploy.Values(namespace=args.namespace, image=args.image,
                           storage_size=args.storage_size, storage_class=args.storage_class,
                           node_port=args.node_port, build_namespace=args.build_namespace,
                           image_pull_secret=args.image_pull_secret, public_url=args.public_url,
                           env=dict(args.env))
    sys.stdout.write(deploy.to_yaml(deploy.render(values)))
    return 0
