"""Bearer-token authentication and a small per-token RBAC table.

Owns who a token is and what it may do. Unknown or missing tokens get 401 ``Unauthorized``;
a known token without a matching rule gets 403 ``Forbidden`` with kube-apiserver's exact message
shape (``pods is forbidden: User "..." cannot list resource "pods" in API group "" in the
namespace "ns"``), which clients and ``kubectl auth can-i`` rely on.
"""

from __future__ import annotations

import dataclasses
import secrets

from sim.kubeapi import resources, status

ANY = "*"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """A PolicyRule: verbs x apiGroups x resources (``pods/log`` for subresources)."""

    verbs: frozenset[str]
    groups: frozenset[str] = frozenset({ANY})
    resources: frozenset[str] = frozenset({ANY})
    namespaces: frozenset[str] = frozenset({ANY})  # a RoleBinding's namespaces; "*" = cluster

    def allows(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        return ((ANY in self.verbs or verb in self.verbs)
                and (ANY in self.groups or group in self.groups)
                and (ANY in self.resources or resource in self.resources)
                and (ANY in self.namespaces or (namespace != "" and namespace in self.namespaces)))


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated user with its groups and rules."""

    user: str
    groups: tuple[str, ...]
    rules: tuple[Rule, ...]

    def allowed(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        if resource == "selfsubjectaccessreviews":
            return True  # system:basic-user grants this to every authenticated user
        return any(r.allows(verb, group, resource, namespace) for r in self.rules)


ADMIN_RULES = (Rule(frozenset({ANY})),)
READ_ONLY_RULES = (Rule(frozenset(resources.READ_VERBS)),)


@dataclasses.dataclass(frozen=True, slots=True)
class Tokens:
    """The three tokens every server starts with."""

    admin: str
    read_only: str
    no_rights: str


class AccessTable:
    """Token -> Identity, plus the 401/403 decisions."""

    def __init__(self) -> None:
        self._by_token: dict[str, Identity] = {}

    def add(self, token: str, identity: Identity) -> None:
        if not token:
            raise ValueError("token must be non-empty")
        self._by_token[token] = identity

    def add_defaults(self) -> Tokens:
        tokens = Tokens(*(secrets.token_urlsafe(24) for _ in range(3)))
        self.add(tokens.admin, Identity("kestrel-admin", ("system:masters",
                                                          "system:authenticated"), ADMIN_RULES))
        self.add(tokens.read_only, Identity(
            "system:serviceaccount:kestrel-system:kestrel-operator",
            ("system:serviceaccounts", "system:authenticated"), READ_ONLY_RULES))
        self.add(tokens.no_rights, Identity(
            "system:serviceaccount:default:nobody",
            ("system:serviceaccounts", "system:authenticated"), ()))
        return tokens

    def authenticate(self, authorization: str | None) -> Identity:
        scheme, _, token = (authorization or "").partition(" ")
        identity = self._by_token.get(token.strip()) if scheme.lower() == "bearer" else None
        if identity is None:
            raise status.ApiError(401, "Unauthorized")
        return identity

    @staticmethod
    def authorize(identity: Identity, verb: str, group: str, resource: str, namespace: str,
                  name: str = "") -> None:
        if identity.allowed(verb, group, resource, namespace):
            return
        subject = resource.split("/")[0]
        what = f'{subject} "{name}"' if name else subject
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        details: dict[str, str] = {"kind": subject}
        if group:
            details["group"] = group
        if name:
            details["name"] = name
        raise status.ApiError(
            403, f'{what} is forbidden: User "{identity.user}" cannot {verb} resource '
                 f'"{resource}" in API group "{group}" {where}',
            details=details)
