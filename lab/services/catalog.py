"""The catalog's services in one place: organizations, users, nodes, datasets, indicators
(指标库), samples (样本库) and algorithms (算法库).

Each 库 has its own module (lab.services.organizations, .datasets, .indicators, .samples,
.algorithms); this module re-exports them so ``from lab.services import catalog`` keeps
working. Only metadata enters or leaves: schemas, counts, definitions. Data locations at a
party and password hashes stay on the table models and never appear in a returned object.
"""

from __future__ import annotations

from lab.services.algorithms import (
    PARAM_TYPES,
    backends_for,
    create_algorithm,
    get_algorithm_row,
    list_algorithms,
    validate_params,
)
from lab.services.datasets import (
    get_dataset,
    get_dataset_row,
    list_datasets,
    register_dataset,
    register_record_folder,
)
from lab.services.indicators import (
    create_indicator,
    get_indicators,
    search_indicators,
)
from lab.services.organizations import (
    SIGN_IN_REFUSED,
    authenticate,
    bootstrap_admin,
    create_organization,
    create_user,
    get_org,
    get_user,
    list_nodes,
    list_organizations,
    list_users,
    node_for_org,
    principal_for,
    register_node,
    worker_principal,
)
from lab.services.samples import (
    create_sample,
    edit_sample,
    get_sample,
    list_samples,
)

__all__ = [
    "PARAM_TYPES",
    "SIGN_IN_REFUSED",
    "authenticate",
    "backends_for",
    "bootstrap_admin",
    "create_algorithm",
    "create_indicator",
    "create_organization",
    "create_sample",
    "create_user",
    "edit_sample",
    "get_algorithm_row",
    "get_dataset",
    "get_dataset_row",
    "get_indicators",
    "get_org",
    "get_sample",
    "get_user",
    "list_algorithms",
    "list_datasets",
    "list_nodes",
    "list_organizations",
    "list_samples",
    "list_users",
    "node_for_org",
    "principal_for",
    "register_dataset",
    "register_record_folder",
    "register_node",
    "search_indicators",
    "validate_params",
    "worker_principal",
]
