"""Tasks of the Phoenix GitOps config repo. `invoke --list` shows them; `invoke --help <task>` explains one.

The table of contents: each task lives in `phoenix_gitops_cli` (which parses arguments, calls the
`phoenix_gitops` package, prints and exits). The installed `phoenix-gitops` program runs the same tasks from any
folder.
"""
from __future__ import annotations

from phoenix_gitops_cli.build import check, lint, render
from phoenix_gitops_cli.develop import crd_schemas, rules_doc, test
from phoenix_gitops_cli.edits import new_app, promote, set_image
from phoenix_gitops_cli.program import namespace
from phoenix_gitops_cli.review import diff, history

ns = namespace(render, check, lint, diff, history, set_image, promote, new_app, crd_schemas, rules_doc, test)
