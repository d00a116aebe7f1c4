"""phoenix_gitops: render, check, diff and edit a GitOps config repository of Phoenix apps.

The package never prints and never imports invoke: it returns values or raises `errors.GitopsError`
subclasses that carry their exit code. `tasks.py` is the command line. One module per concern.

Usage:
    from pathlib import Path
    from phoenix_gitops import kustomize, layout, render
    repo = layout.Repo(Path("."))
    result = render.render(repo, repo.select_envs("prod"), kustomize.find_kustomize())
"""
__version__ = "0.1.0"
