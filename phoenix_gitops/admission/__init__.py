"""Admission rules at pull-request time: the CEL rules of CRDs and the repository's ValidatingAdmissionPolicies.

- `cel`: the CEL runtime (cel-expr-python) with Kubernetes' libraries and a cost limit;
- `crd_rules`: the `x-kubernetes-validations` of the bundled CRDs, evaluated on rendered resources;
- `policies`: the `admission/` folder of a config repository (ValidatingAdmissionPolicy, bindings, params),
  loaded, checked and evaluated against one environment's rendered resources.

The rule catalogue entries and the checks the pipeline runs are in `phoenix_gitops/rules/admission.py`.

Usage:
    from phoenix_gitops.admission import cel, crd_rules, policies
    cel.compile_expression("self.size() > 0", ("self",)).run({"self": [1]})    # True
"""
