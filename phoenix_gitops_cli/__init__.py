"""The command line of phoenix-gitops: the invoke tasks and the `phoenix-gitops` program around them.

The only code besides the root tasks.py that imports invoke; the `phoenix_gitops` package never does. Each task
parses its arguments, calls the package, prints and exits.

    flags      the table of short flags and the Task class that applies it
    settings   the gitops.* settings, checked; where the config repository is
    executor   INVOKE_* variables that never crash
    exits      errors -> exit codes, shared by every task
    display    consoles, progress bar, spinner
    build      render, check            review   diff, history
    edits      set-image, promote, new-app
    develop    crd-schemas, rules-doc, test (the source checkout)
    program    the phoenix-gitops program

Usage:
    $ phoenix-gitops render prod          # or, in this project's folder: invoke render env=prod
"""
