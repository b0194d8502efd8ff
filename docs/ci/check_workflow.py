#!/usr/bin/env python3
"""Checks docs/ci/github-actions.yml: valid YAML with what a GitHub Actions
runner needs, and wired to the shell recipe it documents.

    check_workflow.py WORKFLOW.yml

Every job has `runs-on` and a list of `steps`, each step exactly one of
`run` or `uses`; the workflow has a trigger (`on`); every job runs the
recipe (conform.sh) and then publishes its output folder with
actions/upload-artifact under `if: always()`. Exit status: 0 valid, 1 not.
"""

import sys

import yaml


def problems_of(doc):
    problems = []
    if not isinstance(doc, dict):
        return ["the document is not a mapping"]
    # YAML 1.1 reads the key `on` as the boolean true.
    if "on" not in doc and True not in doc:
        problems.append("no trigger (`on`)")
    if not isinstance(doc.get("name"), str):
        problems.append("no `name`")
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return problems + ["no `jobs`"]
    for job_name, job in jobs.items():
        where = "job %r" % job_name
        if not isinstance(job, dict):
            problems.append("%s is not a mapping" % where)
            continue
        if not isinstance(job.get("runs-on"), (str, list)):
            problems.append("%s has no `runs-on`" % where)
        steps = job.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append("%s has no `steps`" % where)
            continue
        runs_recipe = False
        out_dirs = set()
        published = False
        for index, step in enumerate(steps):
            here = "%s step %d" % (where, index + 1)
            if not isinstance(step, dict):
                problems.append("%s is not a mapping" % here)
                continue
            if ("run" in step) == ("uses" in step):
                problems.append("%s needs exactly one of `run` and `uses`" % here)
            if "conform.sh" in str(step.get("run", "")):
                runs_recipe = True
                out_dirs.add(str(step.get("env", {}).get("PJX_OUT", "pjx-conformance")))
            if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
                path = str(step.get("with", {}).get("path", "")).rstrip("/")
                if step.get("if") != "always()":
                    problems.append("%s publishes only on success: add `if: always()`" % here)
                if path not in out_dirs:
                    problems.append("%s publishes %r, not the recipe's folder (%s)"
                                    % (here, path, ", ".join(sorted(out_dirs)) or "none yet"))
                published = True
        if not runs_recipe:
            problems.append("%s never runs conform.sh" % where)
        if not published:
            problems.append("%s publishes no artifact" % where)
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        try:
            doc = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            print("check_workflow: %s is not valid YAML: %s" % (sys.argv[1], exc))
            return 1
    problems = problems_of(doc)
    for problem in problems:
        print("check_workflow: %s: %s" % (sys.argv[1], problem))
    if not problems:
        print("check_workflow: %s: %d jobs, valid" % (sys.argv[1], len(doc["jobs"])))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
